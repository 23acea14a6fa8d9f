//! Readiness predicates on live objects (pure) and bounded polling.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::error::Error;

const FIRST_POLL: Duration = Duration::from_millis(500);
const MAX_POLL: Duration = Duration::from_secs(5);

/// True when `status.conditions` has `type` with status `True`.
pub fn condition_true(object: &Value, type_: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(type_)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// A Deployment is available when its Available condition is True and the controller has
/// seen its latest spec.
pub fn deployment_available(deployment: &Value) -> bool {
    let generation = deployment
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = deployment
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    condition_true(deployment, "Available") && observed >= generation
}

/// A Strimzi resource is ready when Ready is True for its current generation.
pub fn strimzi_ready(object: &Value) -> bool {
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    condition_true(object, "Ready") && observed >= generation
}

/// A one-line summary of an object's conditions, for timeout messages.
pub fn conditions_summary(object: &Value) -> String {
    let Some(cs) = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
    else {
        return "no conditions".into();
    };
    cs.iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?");
            format!("{}={}", s("type"), s("status"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Polls `check` with backoff and jitter until it is done or the deadline passes. `check`
/// returns `Ok(Ok(value))` when done, `Ok(Err(state))` to go on, `Err` to give up.
pub(crate) async fn poll<T, F, Fut>(what: &str, deadline: Instant, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>, Error>>,
{
    let started = Instant::now();
    let mut delay = FIRST_POLL;
    loop {
        let last = match check().await? {
            Ok(done) => return Ok(done),
            Err(last) => last,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: now - started,
                last,
            });
        }
        // Jitter keeps parallel waits from polling in step.
        let jitter = Duration::from_millis(fastrand::u64(0..=delay.as_millis() as u64 / 4));
        tokio::time::sleep_until((now + delay + jitter).min(deadline)).await;
        delay = (delay * 2).min(MAX_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_is_available_only_for_its_current_generation() {
        let mut d = json!({
            "metadata": {"generation": 2},
            "status": {"observedGeneration": 2, "conditions": [
                {"type": "Progressing", "status": "True"},
                {"type": "Available", "status": "True"}
            ]}
        });
        assert!(deployment_available(&d));
        d["status"]["observedGeneration"] = json!(1);
        assert!(!deployment_available(&d));
        d["status"]["observedGeneration"] = json!(2);
        d["status"]["conditions"][1]["status"] = json!("False");
        assert!(!deployment_available(&d));
        assert!(!deployment_available(
            &json!({"metadata": {"generation": 1}})
        ));
    }

    #[test]
    fn kafka_is_ready_on_ready_true() {
        let k = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
            "conditions": [{"type": "Warning", "status": "True"}, {"type": "Ready", "status": "True"}]}});
        assert!(strimzi_ready(&k));
        let not = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
            "conditions": [{"type": "NotReady", "status": "True"}]}});
        assert!(!strimzi_ready(&not));
        assert_eq!(conditions_summary(&not), "NotReady=True");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_stops_at_its_deadline_with_the_last_state() {
        let deadline = Instant::now() + Duration::from_secs(20);
        let err = poll::<(), _, _>("x", deadline, || async { Ok(Err("pending".to_owned())) })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Timeout { last, .. } if last == "pending"),
            "{err}"
        );
        assert!(Instant::now() >= deadline && Instant::now() < deadline + Duration::from_secs(1));
    }
}
