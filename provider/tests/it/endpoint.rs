//! The Hetzner endpoint must be `https://`: plain `http://` is refused at
//! validate (provider block) or configure (`HCLOUD_ENDPOINT`) before anything
//! is sent, except on loopback, where the local cloud listens.

use std::time::Duration;

use k3strading_e2e::Terraform;

use crate::common::*;

const PROVIDER: &str = r#"terraform {
  required_providers {
    k3strading = { source = "k3strading/k3strading" }
  }
}
"#;

const CLUSTER: &str = r#"
resource "k3strading_cluster" "c" {
  name        = "k3s-trading-ep"
  install_k3s = false
}
"#;

const INSECURE: &str = "http://api.example.invalid/v1";

/// Far above a refusal (a few seconds) and far below DNS and connect retries
/// against an unreachable host.
const BOUND: Duration = Duration::from_secs(60);

fn config(provider_block: &str) -> String {
    format!("{PROVIDER}{provider_block}\n{CLUSTER}")
}

/// Runs `plan` and checks it was refused quickly, naming https and `shows`
/// (where the value came from), with nothing sent.
fn refused(
    tf: &Terraform,
    cloud: &Cloud,
    provider_block: &str,
    env: &[(&str, &str)],
    how: &str,
    shows: &str,
) {
    let wd = workdir(tf, cloud, Some(&config(provider_block)));
    let before = cloud.emu.request_log().len();
    let run = wd
        .run_env(&["plan", "-no-color", "-input=false"], env)
        .unwrap();
    let out = run.all();
    // Terraform wraps long lines.
    let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(run.code, 1, "{how}: not refused\n{out}");
    assert!(
        text.contains("must use https://"),
        "{how}: https not named\n{out}"
    );
    assert!(text.contains(shows), "{how}: {shows:?} missing\n{out}");
    assert!(
        run.elapsed < BOUND,
        "{how}: took {:?}; a refusal must not wait on the network",
        run.elapsed
    );
    assert!(!out.contains(TOKEN), "{how}: token in output");
    assert_eq!(
        cloud.emu.request_log().len(),
        before,
        "{how}: a request was sent"
    );
}

fn only_https_or_loopback(tf: &Terraform) {
    let cloud = Cloud::start(|_| {});

    // Positive control: plain http to the local cloud on 127.0.0.1 works.
    let wd = workdir(tf, &cloud, Some(&config("provider \"k3strading\" {}")));
    let run = ok(
        wd.run_env(
            &["plan", "-no-color", "-input=false"],
            &[("TF_LOG_PROVIDER", "INFO")],
        ),
        "plan against the local cloud over loopback http",
    );
    assert!(run.stdout.contains("1 to add"), "{}", run.all());
    // The log shows scheme, host and port of the endpoint, not its path.
    let origin = cloud.url.trim_end_matches("/v1");
    let configured = run
        .stderr
        .lines()
        .find(|l| l.contains("provider configured"))
        .unwrap_or_else(|| panic!("no \"provider configured\" log line\n{}", run.stderr));
    assert!(
        configured.contains(&format!("endpoint={origin}")) && !configured.contains(&cloud.url),
        "{configured}"
    );
    assert!(
        !cloud.emu.request_log().is_empty(),
        "the plan never reached the local cloud"
    );

    refused(
        tf,
        &cloud,
        "provider \"k3strading\" {}",
        &[("HCLOUD_ENDPOINT", INSECURE)],
        "HCLOUD_ENDPOINT",
        "(from HCLOUD_ENDPOINT)",
    );
    let block = format!("provider \"k3strading\" {{\n  endpoint = \"{INSECURE}\"\n}}");
    // Terraform quotes the offending line, so the diagnostic is at the attribute.
    refused(
        tf,
        &cloud,
        &block,
        &[],
        "endpoint attribute",
        &format!("endpoint = \"{INSECURE}\""),
    );
    cloud.assert_spec_clean();
}

#[test]
fn plain_http_endpoints_are_refused_and_loopback_works_on_terraform_1_15_5() {
    only_https_or_loopback(&terraforms()[0]);
}

#[test]
fn plain_http_endpoints_are_refused_and_loopback_works_on_terraform_1_13_5() {
    only_https_or_loopback(&terraforms()[1]);
}
