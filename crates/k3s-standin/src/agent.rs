//! `k3s agent`: pin the cluster CA through the token, join, heartbeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::Error;
use crate::cli::Invocation;
use crate::join;
use crate::listener::certs;
use crate::node::{self, Registration};
use crate::paths::write_file;
use crate::settings;
use crate::token;

/// How often the node reports in; well inside the server's grace period.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Deadline of one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(inv: &Invocation) -> Result<(), Error> {
    let settings = settings::resolve(inv)?;
    let config = &settings.config;
    // Checked before any contact, as the kubelet refuses to start.
    let labels = node::parse_labels(&config.node_label, true)?;
    let taints = node::parse_taints(&config.node_taint)?;
    let server = config.server.clone().ok_or_else(|| {
        Error::Usage("an agent needs the server URL (K3S_URL or server: in config.yaml)".into())
    })?;
    let server = server.trim_end_matches('/').to_string();
    let token = settings.token()?.ok_or_else(|| {
        Error::Usage("an agent needs a token (K3S_TOKEN, token or token-file)".into())
    })?;
    let (cpu, memory_kib) = node::machine_resources();
    let reg = Registration {
        name: settings.node_name(),
        internal_ip: settings.node_ip(),
        labels,
        taints,
        cpu,
        memory_kib,
        kernel_version: node::kernel_version(),
    };

    let delay = settings::delay_from_env("K3S_STANDIN_JOIN_DELAY_MS")?;
    if !delay.is_zero() {
        eprintln!("stand-in: delaying join by {delay:?} (K3S_STANDIN_JOIN_DELAY_MS)");
        tokio::time::sleep(delay).await;
    }
    let timeout = match std::env::var("K3S_STANDIN_JOIN_TIMEOUT_S") {
        Ok(text) => text.trim().parse().map_err(|_| Error::Setting {
            key: "K3S_STANDIN_JOIN_TIMEOUT_S",
            message: format!("{text:?} is not a number of seconds"),
        })?,
        Err(_) => 120,
    };
    let deadline = Instant::now() + Duration::from_secs(timeout);

    // 1. Fetch the CA without trusting the server yet.
    let insecure = client(insecure_tls()?)?;
    let cacerts = retry(deadline, "fetch /cacerts", || async {
        let response = insecure.get(format!("{server}/cacerts")).send().await?;
        let response = response.error_for_status()?;
        response.text().await
    })
    .await?;
    // 2. Compare with the token's pin; a short token trusts what it got.
    let actual = token::ca_hash(cacerts.as_bytes());
    if let Some(expected) = &token.ca_hash
        && *expected != actual
    {
        return Err(Error::CaHashMismatch {
            expected: expected.clone(),
            actual,
        });
    }
    write_file(&settings.paths.agent_ca(), cacerts.as_bytes(), 0o644)?;

    // 3. From here on, the server must prove itself with that CA.
    let verified = client(verified_tls(&cacerts)?)?;
    let auth = join::authorization(&token.username, &token.secret);
    let url = format!("{server}{}nodes/{}", join::PREFIX, reg.name);
    let body = serde_json::to_vec(&reg).map_err(|e| Error::Join {
        context: "encode the registration".into(),
        message: e.to_string(),
    })?;
    let status = retry(deadline, "register the node", || async {
        let response = verified
            .put(&url)
            .header(reqwest::header::AUTHORIZATION, &auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await?;
        Ok(response.status())
    })
    .await?;
    if !status.is_success() {
        let why = if status == StatusCode::UNAUTHORIZED {
            "the server rejected the token".to_string()
        } else {
            format!("the server answered {status}")
        };
        return Err(Error::Join {
            context: format!("join {server} as node {}", reg.name),
            message: why,
        });
    }
    eprintln!(
        "k3s STAND-IN agent (not K3s): node {} ({}) joined {server}",
        reg.name, reg.internal_ip
    );

    let beat = async {
        let mut gone_reported = false;
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            let sent = verified
                .post(format!("{url}/heartbeat"))
                .header(reqwest::header::AUTHORIZATION, &auth)
                .send()
                .await;
            match sent.map(|r| r.status()) {
                Ok(s) if s == StatusCode::NOT_FOUND && !gone_reported => {
                    // A real kubelet does not re-register until restarted either.
                    eprintln!(
                        "node {} was deleted; restart the agent to register again",
                        reg.name
                    );
                    gone_reported = true;
                }
                Ok(_) => {}
                Err(e) => eprintln!("heartbeat: {}", e.without_url()),
            }
        }
    };
    tokio::select! {
        () = beat => Ok(()),
        () = crate::shutdown() => Ok(()),
    }
}

/// Retries transient failures (connection refused, timeouts, 5xx) until
/// `deadline`, with capped exponential backoff.
async fn retry<T, F, Fut>(deadline: Instant, what: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, reqwest::Error>>,
{
    let mut wait = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e)
                if Instant::now() + wait < deadline
                    && e.status().is_none_or(|s| s.is_server_error()) =>
            {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(Error::Join {
                    context: what.to_string(),
                    // The URL carries no secret, but the chain may mention
                    // TLS details worth seeing.
                    message: error_chain(&e),
                });
            }
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn client(tls: rustls::ClientConfig) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| Error::Join {
            context: "build the HTTP client".into(),
            message: error_chain(&e),
        })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn verified_tls(ca_pem: &str) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(ca_pem)? {
        roots.add(cert)?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn insecure_tls() -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let verifier = Arc::new(crate::trust::AcceptAnyServer(provider.clone()));
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}
