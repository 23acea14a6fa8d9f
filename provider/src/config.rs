//! The provider block: Hetzner API credentials and client behaviour.

use k3strading_cluster::hcloud;

use std::time::Duration;

use tfplug::{Attribute, Diagnostic, Diagnostics, Schema, Value, validators};

/// Hetzner's public API.
pub const DEFAULT_ENDPOINT: &str = "https://api.hetzner.cloud/v1";

/// The provider block's schema.
pub fn schema() -> Schema {
    Schema::new(0)
        .description("Ephemeral K3s clusters for trading workloads on Hetzner Cloud.")
        .attribute(
            Attribute::string("token")
                .optional()
                .sensitive()
                .validate(validators::length_between(1, 256))
                .describe("Hetzner Cloud API token (read & write). Defaults to the `HCLOUD_TOKEN` environment variable."),
        )
        .attribute(
            Attribute::string("endpoint")
                .optional()
                .validate(|v| match v.as_str() {
                    Some(s) => hcloud::Endpoint::parse(s).map(|_| ()).map_err(|e| e.to_string()),
                    None => Ok(()),
                })
                .describe(
                    "Hetzner Cloud API URL. Defaults to `HCLOUD_ENDPOINT`, then to `https://api.hetzner.cloud/v1`. \
                     Must be `https://`, except on loopback (`127.0.0.0/8`, `localhost`, `[::1]`), so the token never crosses a network in clear. \
                     Point it at `k3strading-cloud` to work without a Hetzner account.",
                ),
        )
        .attribute(
            Attribute::string("ssh_private_key")
                .optional()
                .sensitive()
                .describe("Your SSH private key (OpenSSH format) for logging in to the servers, instead of one the provider generates; then no private key is kept in state. Defaults to `K3STRADING_SSH_PRIVATE_KEY`."),
        )
        .attribute(
            Attribute::string("ssh_public_key")
                .optional()
                .describe("The public key (OpenSSH one-line format) of a key held by your SSH agent (`SSH_AUTH_SOCK`), used instead of a generated key; no private key is kept in state. Defaults to `K3STRADING_SSH_PUBLIC_KEY`."),
        )
        .attribute(
            Attribute::number("poll_interval_ms")
                .optional()
                .validate(validators::int_between(50, 60_000))
                .describe("First interval between action status polls, in milliseconds; it then doubles up to 1 s (or to this value, if longer). One poll asks for every action of the run at once. Default 500."),
        )
        .attribute(
            Attribute::number("max_retries")
                .optional()
                .validate(validators::int_between(0, 10))
                .describe("Retries for transient API errors (rate limit, conflict, 502/504, timeouts). Default 5."),
        )
}

/// How the provider logs in to the servers.
#[derive(Debug, Clone)]
pub enum Login {
    /// The provider generates a key per cluster and keeps it in state.
    Generated,
    /// The user's private key (never in state).
    PrivateKey {
        /// The key text.
        private: k3strading_cluster::secrets::Secret,
        /// Its public half.
        public: String,
    },
    /// A key in the user's SSH agent, given by its public half.
    Agent {
        /// The public key.
        public: String,
    },
}

/// Settings resolved from the provider block and the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How the provider logs in to the servers.
    pub login: Login,
    /// API token; its `Debug` is redacted.
    pub token: hcloud::Token,
    /// API base URL, already checked (https, or http on loopback).
    pub endpoint: hcloud::Endpoint,
    /// First action poll interval.
    pub poll_interval: Duration,
    /// Retry budget for transient errors.
    pub max_retries: u32,
}

/// Resolves settings from configuration, falling back to `env` (a lookup
/// such as `std::env::var`).
pub fn resolve(
    config: &Value,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, Diagnostics> {
    let mut diags = Diagnostics::new();
    let unknown = |name: &str| config.get(name).is_some_and(Value::is_unknown);
    for name in ["token", "endpoint"] {
        if unknown(name) {
            diags.push(
                Diagnostic::error(
                    format!("Provider {name} is not known yet"),
                    "The provider configuration depends on values known only after apply; set it from a variable or the environment.",
                )
                .at_attr(name),
            );
        }
    }
    let token = config
        .get_str("token")
        .map(str::to_owned)
        .or_else(|| env("HCLOUD_TOKEN"))
        .unwrap_or_default();
    if token.is_empty() && !unknown("token") {
        diags.push(
            Diagnostic::error(
                "Missing Hetzner Cloud API token",
                "Set `token` in the provider block or the HCLOUD_TOKEN environment variable.",
            )
            .at_attr("token"),
        );
    }
    let (endpoint_text, source) = match config.get_str("endpoint") {
        Some(e) => (e.to_owned(), "the provider block"),
        None => match env("HCLOUD_ENDPOINT").filter(|e| !e.is_empty()) {
            Some(e) => (e, "HCLOUD_ENDPOINT"),
            None => (DEFAULT_ENDPOINT.to_owned(), "the default"),
        },
    };
    let endpoint = hcloud::Endpoint::parse(&endpoint_text).map_err(|e| {
        Diagnostic::error(
            "Invalid Hetzner Cloud endpoint",
            format!("{e} (from {source}). Nothing was sent to it."),
        )
        .at_attr("endpoint")
    });
    let poll = config.get_i64("poll_interval_ms").unwrap_or(500);
    let retries = config.get_i64("max_retries").unwrap_or(5);
    let endpoint = match endpoint {
        Ok(e) => e,
        Err(d) => {
            diags.push(d);
            return Err(diags);
        }
    };
    diags.into_result()?;
    let pick = |attr: &str, var: &str| {
        config
            .get_str(attr)
            .map(str::to_owned)
            .or_else(|| env(var).filter(|v| !v.trim().is_empty()))
    };
    let login = match (
        pick("ssh_private_key", "K3STRADING_SSH_PRIVATE_KEY"),
        pick("ssh_public_key", "K3STRADING_SSH_PUBLIC_KEY"),
    ) {
        (Some(text), _) => {
            let private = k3strading_cluster::secrets::Secret::new(text);
            match k3strading_cluster::secrets::public_of(&private) {
                Ok(public) => Login::PrivateKey { private, public },
                Err(e) => {
                    return Err(Diagnostic::error(
                        "Unusable ssh_private_key",
                        format!("{} (from the provider block or K3STRADING_SSH_PRIVATE_KEY); an unencrypted OpenSSH private key is needed", e.detail()),
                    )
                    .at_attr("ssh_private_key")
                    .into());
                }
            }
        }
        (None, Some(public)) => match k3strading_cluster::ssh_key::fingerprint(&public) {
            Ok(_) => Login::Agent { public },
            Err(e) => {
                return Err(Diagnostic::error(
                    "Unusable ssh_public_key",
                    format!(
                        "{} (from the provider block or K3STRADING_SSH_PUBLIC_KEY)",
                        e.detail()
                    ),
                )
                .at_attr("ssh_public_key")
                .into());
            }
        },
        (None, None) => Login::Generated,
    };
    Ok(Settings {
        login,
        token: hcloud::Token::new(token),
        endpoint,
        poll_interval: Duration::from_millis(u64::try_from(poll).unwrap_or(500)),
        max_retries: u32::try_from(retries).unwrap_or(5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token: Value, endpoint: Value) -> Value {
        Value::object([
            ("token", token),
            ("endpoint", endpoint),
            ("poll_interval_ms", Value::Null),
            ("max_retries", Value::Null),
        ])
    }

    #[test]
    fn the_login_key_comes_from_the_block_or_the_environment_and_bad_keys_name_their_attribute() {
        let pair = k3strading_cluster::secrets::key_pair("me").unwrap();
        let private = pair.private_openssh().expose().to_owned();
        let env = |k: &str| match k {
            "HCLOUD_TOKEN" => Some("t".to_owned()),
            "K3STRADING_SSH_PRIVATE_KEY" => Some(private.clone()),
            _ => None,
        };
        let s = resolve(&config(Value::Null, Value::Null), env).unwrap();
        match &s.login {
            Login::PrivateKey { public, .. } => assert_eq!(
                k3strading_cluster::ssh_key::fingerprint(public).unwrap(),
                pair.fingerprint().unwrap()
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            !format!("{s:?}").contains(&private[40..80]),
            "Debug shows the key"
        );
        let agent_env = |k: &str| match k {
            "HCLOUD_TOKEN" => Some("t".to_owned()),
            "K3STRADING_SSH_PUBLIC_KEY" => Some(pair.public_openssh().to_owned()),
            _ => None,
        };
        let s = resolve(&config(Value::Null, Value::Null), agent_env).unwrap();
        assert!(matches!(s.login, Login::Agent { .. }), "{:?}", s.login);
        let s = resolve(&config("t".into(), Value::Null), no_env).unwrap();
        assert!(matches!(s.login, Login::Generated));
        let bad = |k: &str| match k {
            "HCLOUD_TOKEN" => Some("t".to_owned()),
            "K3STRADING_SSH_PRIVATE_KEY" => Some("sekrit-not-a-key".to_owned()),
            _ => None,
        };
        let err = resolve(&config(Value::Null, Value::Null), bad).unwrap_err();
        assert_eq!(
            err.0[0].path,
            Some(tfplug::AttrPath::attr("ssh_private_key"))
        );
        assert!(!err.to_string().contains("sekrit"), "{err}");
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_endpoint(url: &'static str) -> impl Fn(&str) -> Option<String> {
        move |k: &str| (k == "HCLOUD_ENDPOINT").then(|| url.to_owned())
    }

    #[test]
    fn token_falls_back_to_hcloud_token_and_endpoint_to_hetzner() {
        let env = |k: &str| (k == "HCLOUD_TOKEN").then(|| "from-env".to_owned());
        let s = resolve(&config(Value::Null, Value::Null), env).unwrap();
        assert_eq!(s.token.expose_secret(), "from-env");
        assert_eq!(s.endpoint.as_str(), DEFAULT_ENDPOINT);
        assert_eq!(s.max_retries, 5);
    }

    #[test]
    fn configuration_wins_over_environment() {
        let env = |k: &str| k.starts_with("HCLOUD_").then(|| "env".to_owned());
        let s = resolve(&config("cfg".into(), "http://127.0.0.1:9/v1/".into()), env).unwrap();
        assert_eq!(s.token.expose_secret(), "cfg");
        assert_eq!(s.endpoint.as_str(), "http://127.0.0.1:9/v1");
    }

    #[test]
    fn missing_token_names_the_attribute_and_debug_hides_the_token() {
        let err = resolve(&config(Value::Null, Value::Null), no_env).unwrap_err();
        assert_eq!(err.0[0].path, Some(tfplug::AttrPath::attr("token")));
        let s = resolve(&config("sekrit-canary".into(), Value::Null), no_env).unwrap();
        assert!(!format!("{s:?}").contains("sekrit-canary"));
    }

    #[test]
    fn bad_endpoint_from_environment_is_rejected() {
        let err = resolve(&config("t".into(), Value::Null), env_endpoint("ftp://x")).unwrap_err();
        assert!(err.to_string().contains("ftp://"), "{err}");
        assert!(err.to_string().contains("https://"), "{err}");
    }

    #[test]
    fn plain_http_off_loopback_is_refused_at_the_endpoint_attribute_naming_https() {
        let insecure = "http://api.example.invalid/v1";
        let from_env = resolve(&config("t".into(), Value::Null), env_endpoint(insecure));
        let from_block = resolve(&config("t".into(), insecure.into()), no_env);
        for (err, source) in [
            (from_env.unwrap_err(), "HCLOUD_ENDPOINT"),
            (from_block.unwrap_err(), "the provider block"),
        ] {
            assert_eq!(err.0.len(), 1, "{err}");
            let d = &err.0[0];
            assert_eq!(d.path, Some(tfplug::AttrPath::attr("endpoint")));
            let text = err.to_string();
            assert!(text.contains("must use https://"), "{text}");
            assert!(text.contains(source), "{text}");
            assert!(text.contains("http://api.example.invalid"), "{text}");
        }
        for loopback in [
            "http://127.0.0.1:8080/v1",
            "http://localhost/v1",
            "http://[::1]:1/v1",
        ] {
            let s = resolve(&config("t".into(), loopback.into()), no_env).unwrap();
            assert!(s.endpoint.is_loopback(), "{loopback}");
        }
    }

    #[test]
    fn the_endpoint_attribute_is_checked_at_validate_when_known() {
        let block = schema().block;
        let diags = tfplug::invariants::validate_config(
            &block,
            &config(Value::Null, "http://api.example.invalid/v1".into()),
        );
        assert_eq!(diags.0.len(), 1, "{diags}");
        assert_eq!(diags.0[0].path, Some(tfplug::AttrPath::attr("endpoint")));
        assert!(diags.to_string().contains("must use https://"), "{diags}");
        for fine in ["https://api.hetzner.cloud/v1", "http://127.0.0.1:9/v1"] {
            let diags =
                tfplug::invariants::validate_config(&block, &config(Value::Null, fine.into()));
            assert!(diags.0.is_empty(), "{fine}: {diags}");
        }
    }
}
