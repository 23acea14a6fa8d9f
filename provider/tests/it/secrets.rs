//! Secrets stay secret: the Hetzner token (from HCLOUD_TOKEN or from a
//! sensitive variable through the provider's `token` attribute), and the
//! generated `ssh_private_key` and `k3s_token`, never show in Terraform's
//! output at TF_LOG=TRACE, in plans, in the local cloud's request log, or
//! (for the token) in state and the cloud's world, also when the API fails.

use k3strading_e2e::{Run, Terraform, Workdir};
use serde_json::{Value, json};

use crate::common::*;

/// A token the cloud refuses.
const WRONG_TOKEN: &str = "canary-wrong-0d5e8b21-hetzner-token";
const PLAN: [&str; 5] = ["plan", "-no-color", "-input=false", "-var", "env=dev"];
const TRACE: [(&str, &str); 1] = [("TF_LOG", "TRACE")];

/// `terraform/` with the token passed through the provider's `token`
/// attribute from a sensitive variable.
fn module_with_token_variable() -> String {
    let module = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/main.tf"),
    )
    .unwrap();
    assert!(
        !module.contains("provider \"k3strading\""),
        "terraform/ configures the provider itself now: adapt this test"
    );
    format!(
        "{module}\nvariable \"hcloud_token\" {{\n  type      = string\n  sensitive = true\n}}\n\n\
         provider \"k3strading\" {{\n  token = var.hcloud_token\n}}\n"
    )
}

#[derive(Debug, Clone, Copy)]
enum Route {
    /// HCLOUD_TOKEN in the environment.
    Environment,
    /// TF_VAR_hcloud_token into `provider { token = var.hcloud_token }`.
    Attribute,
}

fn workdir_with(tf: &Terraform, cloud: &Cloud, route: Route, token: &str) -> Workdir {
    match route {
        Route::Environment => {
            let mut wd = workdir(tf, cloud, None);
            wd.set_env("HCLOUD_TOKEN", token);
            wd
        }
        Route::Attribute => {
            let mut wd = workdir(tf, cloud, Some(&module_with_token_variable()));
            wd.remove_env("HCLOUD_TOKEN");
            wd.set_env("TF_VAR_hcloud_token", token);
            wd
        }
    }
}

/// Runs at TF_LOG=TRACE and checks the provider's own logs are in there,
/// so a scan of the output covers them.
fn traced(wd: &Workdir, args: &[&str], code: i32) -> Run {
    let run = wd.run_env(args, &TRACE).unwrap();
    assert_eq!(
        run.code,
        code,
        "{args:?}\n{}",
        run.stderr
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        run.stderr
            .contains("provider.terraform-provider-k3strading"),
        "{args:?}: provider logs missing from TF_LOG=TRACE"
    );
    run
}

/// Fails when `secret` (called `name`) shows in any of `texts`.
fn assert_absent(name: &str, secret: &str, texts: &[(String, String)]) {
    assert!(secret.len() >= 16, "{name} is too short to search for");
    for (what, text) in texts {
        assert!(!text.contains(secret), "{name} leaked into {what}");
    }
}

fn request_log(cloud: &Cloud) -> String {
    serde_json::to_string(&cloud.emu.request_log()).unwrap()
}

/// The sensitive attributes `name` of the cluster in the state file.
fn state_secret(wd: &Workdir, name: &str) -> String {
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(wd.path().join("terraform.tfstate")).unwrap(),
    )
    .unwrap();
    let cluster = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "k3strading_cluster")
        .unwrap();
    cluster["instances"][0]["attributes"][name]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The daily loop at TF_LOG=TRACE: the token nowhere; the generated secrets
/// in state only.
fn happy_path(route: Route) {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|_| {});
    let wd = workdir_with(tf, &cloud, route, TOKEN);
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut later: Vec<(String, String)> = Vec::new();
    seen.push(("apply".into(), traced(&wd, &APPLY, 0).all()));
    let secrets = ["ssh_private_key", "k3s_token"].map(|n| (n, state_secret(&wd, n)));
    for (what, args) in [
        ("plan", &PLAN[..]),
        ("apply without changes", &APPLY[..]),
        ("destroy", &DESTROY[..]),
    ] {
        let all = traced(&wd, args, 0).all();
        seen.push((what.into(), all.clone()));
        later.push((what.into(), all));
    }
    // Plan output as a user sees it, without logs.
    let plain = wd.run(&PLAN).unwrap();
    later.push(("plan output".into(), plain.all()));
    seen.push((
        "show -json".into(),
        wd.run(&["show", "-json"]).unwrap().all(),
    ));
    for file in ["terraform.tfstate", "terraform.tfstate.backup"] {
        seen.push((
            file.into(),
            std::fs::read_to_string(wd.path().join(file)).unwrap_or_default(),
        ));
    }
    seen.push((
        "the cloud's world".into(),
        serde_json::to_string(&*cloud.emu.world()).unwrap(),
    ));
    seen.push(("the request log".into(), request_log(&cloud)));
    later.push(("the request log".into(), request_log(&cloud)));
    assert_absent("the Hetzner token", TOKEN, &seen);
    for (name, secret) in &secrets {
        assert_absent(name, secret, &later);
    }
}

#[test]
fn the_token_from_the_environment_never_appears_in_state_plans_logs_or_the_cloud() {
    happy_path(Route::Environment);
}

#[test]
fn the_token_from_a_sensitive_variable_never_appears_and_neither_do_generated_secrets() {
    happy_path(Route::Attribute);
}

/// API errors at TF_LOG=TRACE: a refused token (401) on both routes, and
/// 500, 502 and 503 answers on reads and creates.
#[test]
fn failed_api_calls_never_show_the_token() {
    let tf = &terraforms()[0];
    let mut seen: Vec<(String, String)> = Vec::new();
    for route in [Route::Environment, Route::Attribute] {
        let cloud = Cloud::start(|_| {});
        let wd = workdir_with(tf, &cloud, route, WRONG_TOKEN);
        let run = traced(&wd, &PLAN, 1);
        assert!(
            run.all().contains("unauthorized"),
            "{route:?}: the 401 is not reported\n{}",
            run.stdout
        );
        assert!(
            cloud.emu.request_log().iter().any(|e| e.status == 401),
            "{route:?}: no request was refused"
        );
        seen.push((format!("401 via {route:?}"), run.all()));
        seen.push((
            format!("request log, 401 via {route:?}"),
            request_log(&cloud),
        ));
    }
    let faults = [
        (
            "plan",
            json!({ "method": "GET", "path": "/locations", "status": 500, "code": "server_error", "times": 20 }),
            500,
        ),
        (
            "apply",
            json!({ "method": "POST", "path": "/networks", "status": 503, "times": 20 }),
            503,
        ),
        (
            "apply",
            json!({ "method": "POST", "path": "/servers", "status": 502, "times": 20 }),
            502,
        ),
    ];
    for (command, fault, status) in faults {
        let cloud = Cloud::start(|_| {});
        cloud.fault(fault.clone());
        let wd = workdir_with(tf, &cloud, Route::Attribute, TOKEN);
        let args: &[&str] = if command == "plan" { &PLAN } else { &APPLY };
        let run = traced(&wd, args, 1);
        assert!(
            cloud.emu.request_log().iter().any(|e| e.status == status),
            "{fault}: never answered"
        );
        seen.push((format!("{command} under {fault}"), run.all()));
        seen.push((format!("request log under {fault}"), request_log(&cloud)));
    }
    assert_absent("the Hetzner token", TOKEN, &seen);
    assert_absent("the refused token", WRONG_TOKEN, &seen);
}
