//! `tracing` output in the JSON line format of HashiCorp's hclog, written to
//! stderr, so Terraform shows provider logs under `TF_LOG` and
//! `TF_LOG_PROVIDER` at the right level.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The level Terraform asks for: `TF_LOG_PROVIDER`, else `TF_LOG`; off when
/// neither is set (Terraform then discards provider logs anyway).
pub fn level_from_env() -> LevelFilter {
    let raw = std::env::var("TF_LOG_PROVIDER")
        .or_else(|_| std::env::var("TF_LOG"))
        .unwrap_or_default();
    match raw.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" => LevelFilter::WARN,
        "ERROR" => LevelFilter::ERROR,
        "" | "OFF" => LevelFilter::OFF,
        // Terraform treats unknown values as TRACE.
        _ => LevelFilter::TRACE,
    }
}

/// Installs the hclog layer as the global subscriber (no-op if one exists).
pub fn init(module: &str) {
    let layer = HclogLayer {
        module: module.to_owned(),
    }
    .with_filter(level_from_env());
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

/// Formats events as hclog JSON lines on stderr.
#[derive(Debug)]
pub struct HclogLayer {
    module: String,
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_event(event, &self.module, SystemTime::now());
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
    }
}

/// `2006-01-02T15:04:05.000000Z07:00` in UTC: six fractional digits, `Z`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

struct Fields {
    message: String,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.extra.insert(field.name().to_owned(), value.into());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.extra.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.extra.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.extra.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.extra
                .insert(field.name().to_owned(), format!("{value:?}").into());
        }
    }
}

fn format_event(event: &Event<'_>, module: &str, now: SystemTime) -> String {
    let mut f = Fields {
        message: String::new(),
        extra: serde_json::Map::new(),
    };
    event.record(&mut f);
    let mut obj = f.extra;
    obj.insert("@level".into(), level_name(event.metadata().level()).into());
    obj.insert("@message".into(), f.message.into());
    obj.insert("@module".into(), module.into());
    obj.insert("@timestamp".into(), timestamp(now).into());
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamp_has_exactly_six_fractional_digits_and_utc_zone() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123456Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    }

    struct Capture(Arc<Mutex<Vec<String>>>);
    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            self.0
                .lock()
                .unwrap()
                .push(format_event(event, "provider.test", UNIX_EPOCH));
        }
    }

    #[test]
    fn events_become_hclog_json_lines_with_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::debug!(type_name = "x_file", count = 3, "planning");
        });
        let lines = lines.lock().unwrap();
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["@level"], "debug");
        assert_eq!(v["@message"], "planning");
        assert_eq!(v["@module"], "provider.test");
        assert_eq!(v["type_name"], "x_file");
        assert_eq!(v["count"], 3);
        assert!(lines[0].ends_with('\n'));
    }
}
