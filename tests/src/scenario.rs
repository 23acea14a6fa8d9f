//! Scenarios on the example provider (`terraform-provider-tfexample`) that
//! prove the plugin protocol end to end. Each takes the Terraform to use and
//! the example binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{ProviderBin, Terraform, Workdir};

/// Source address of the example provider.
pub const EXAMPLE_SOURCE: &str = "k3strading/tfexample";

const HEADER: &str = r#"
terraform {
  required_providers {
    tfexample = { source = "k3strading/tfexample" }
  }
}

provider "tfexample" {
  label     = "e2e"
  api_token = "provider-canary-3f9a"
}
"#;

/// A work directory for the example provider with `body` after the header.
pub fn example_workdir(tf: &Terraform, bin: &Path, body: &str) -> Result<Workdir> {
    let wd = Workdir::new(
        tf,
        &[ProviderBin {
            source: EXAMPLE_SOURCE.to_owned(),
            bin: bin.to_path_buf(),
        }],
    )?;
    wd.write("main.tf", &format!("{HEADER}\n{body}"))?;
    Ok(wd)
}

fn file_config(path: &Path, content: &str, extra: &str) -> String {
    format!(
        "resource \"tfexample_file\" \"a\" {{\n  path    = \"{}\"\n  content = \"{content}\"\n{extra}}}\n",
        path.display()
    )
}

/// `terraform validate` accepts a good configuration.
pub fn validate(tf: &Terraform, bin: &Path) -> Result<()> {
    let wd = example_workdir(tf, bin, &file_config(Path::new("/tmp/x"), "hi", ""))?;
    let run = wd
        .run(&["validate", "-no-color"])?
        .expect_code(0, "validate")?;
    ensure!(
        run.stdout.contains("The configuration is valid"),
        "unexpected validate output: {}",
        run.all()
    );
    Ok(())
}

/// A validation error names the attribute and blocks the plan.
pub fn validation_error_names_attribute(tf: &Terraform, bin: &Path) -> Result<()> {
    let wd = example_workdir(
        tf,
        bin,
        &file_config(Path::new("relative/file.txt"), "hi", "  mode = \"999\"\n"),
    )?;
    let run = wd
        .run(&["validate", "-no-color"])?
        .expect_code(1, "validate of a bad config")?;
    let all = run.all();
    ensure!(
        all.contains("Invalid value for path"),
        "no error naming `path`: {all}"
    );
    ensure!(
        all.contains("must be an absolute path"),
        "no reason given: {all}"
    );
    ensure!(
        all.contains("Invalid value for mode"),
        "no error naming `mode`: {all}"
    );
    // Terraform points at the attribute in the source.
    ensure!(
        all.contains("main.tf line"),
        "diagnostic not tied to the source: {all}"
    );
    Ok(())
}

/// The full life cycle: plan → apply → empty re-plans → update in place →
/// replacement → destroy.
pub fn lifecycle(tf: &Terraform, bin: &Path) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let f1 = scratch.path().join("one.txt");
    let f2 = scratch.path().join("two.txt");
    let wd = example_workdir(tf, bin, &file_config(&f1, "v1", ""))?;

    let plan = wd
        .run(&["plan", "-detailed-exitcode", "-no-color"])?
        .expect_code(2, "first plan")?;
    ensure!(plan.stdout.contains("will be created"), "{}", plan.all());
    ensure!(
        plan.stdout.contains("size") && plan.stdout.contains("= 2"),
        "size not known at plan: {}",
        plan.stdout
    );

    wd.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "apply")?;
    ensure!(std::fs::read_to_string(&f1)? == "v1", "file not written");
    let v = wd.resource_values("tfexample_file.a")?;
    ensure!(
        v["mode"] == "0644" && v["size"] == 2 && v["id"] == f1.display().to_string(),
        "state: {v}"
    );

    wd.run(&["plan", "-detailed-exitcode", "-no-color"])?
        .expect_code(0, "re-plan with refresh")?;
    wd.run(&["plan", "-refresh=false", "-detailed-exitcode", "-no-color"])?
        .expect_code(0, "re-plan without refresh")?;

    wd.write(
        "main.tf",
        &format!(
            "{HEADER}\n{}",
            file_config(&f1, "version two", "  mode = \"0600\"\n")
        ),
    )?;
    let plan = wd
        .run(&["plan", "-detailed-exitcode", "-no-color"])?
        .expect_code(2, "update plan")?;
    ensure!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    wd.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "update apply")?;
    ensure!(
        std::fs::read_to_string(&f1)? == "version two",
        "file not updated"
    );
    ensure!(
        wd.resource_values("tfexample_file.a")?["mode"] == "0600",
        "mode not updated"
    );

    wd.write(
        "main.tf",
        &format!("{HEADER}\n{}", file_config(&f2, "moved", "")),
    )?;
    let plan = wd
        .run(&["plan", "-detailed-exitcode", "-no-color"])?
        .expect_code(2, "replace plan")?;
    ensure!(
        plan.stdout.contains("must be replaced") && plan.stdout.contains("forces replacement"),
        "{}",
        plan.stdout
    );
    wd.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "replace apply")?;
    ensure!(
        !f1.exists() && f2.exists(),
        "replacement did not move the file"
    );

    wd.run(&["destroy", "-auto-approve", "-no-color"])?
        .expect_code(0, "destroy")?;
    ensure!(!f2.exists(), "destroy left the file");
    let state = wd.state_json()?;
    ensure!(
        state["values"]["root_module"]["resources"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "state not empty: {state}"
    );
    Ok(())
}

/// Drift: a file deleted outside Terraform is planned for creation again.
pub fn drift_recreates(tf: &Terraform, bin: &Path) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let f = scratch.path().join("drift.txt");
    let wd = example_workdir(tf, bin, &file_config(&f, "x", ""))?;
    wd.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "apply")?;
    std::fs::remove_file(&f)?;
    let plan = wd
        .run(&["plan", "-detailed-exitcode", "-no-color"])?
        .expect_code(2, "plan after drift")?;
    ensure!(plan.stdout.contains("will be created"), "{}", plan.stdout);
    Ok(())
}

/// `terraform import` rebuilds the same state that apply produced.
pub fn import_verify(tf: &Terraform, bin: &Path) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let f = scratch.path().join("imported.txt");
    let wd = example_workdir(
        tf,
        bin,
        &file_config(&f, "imported content", "  mode = \"0640\"\n"),
    )?;
    wd.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "apply")?;
    let created = wd.resource_values("tfexample_file.a")?;
    wd.run(&["state", "rm", "tfexample_file.a"])?
        .expect_code(0, "state rm")?;
    let id = f.display().to_string();
    wd.run(&["import", "-no-color", "tfexample_file.a", &id])?
        .expect_code(0, "import")?;
    let imported = wd.resource_values("tfexample_file.a")?;
    ensure!(
        created == imported,
        "import differs from apply:\ncreated  {created}\nimported {imported}"
    );
    wd.run(&["plan", "-detailed-exitcode", "-no-color"])?
        .expect_code(0, "plan after import")?;
    let bad = wd.run(&["import", "-no-color", "tfexample_file.b", "relative"])?;
    ensure!(bad.code != 0, "import of a bad ID succeeded");
    Ok(())
}

/// An unknown value from one resource flows into another's plan, and is
/// known after apply.
pub fn unknown_flows_between_resources(tf: &Terraform, bin: &Path) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let f = scratch.path().join("src.txt");
    let body = format!(
        "{}\nresource \"tfexample_echo\" \"b\" {{\n  input = tfexample_file.a.id\n}}\n",
        file_config(&f, "x", "")
    );
    let wd = example_workdir(tf, bin, &body)?;
    let plan = wd.run(&["plan", "-no-color"])?.expect_code(0, "plan")?;
    let echo_part = plan
        .stdout
        .split("tfexample_echo.b will be created")
        .nth(1)
        .context("echo not planned")?;
    ensure!(
        echo_part.contains("input  = (known after apply)"),
        "{}",
        plan.stdout
    );
    ensure!(
        echo_part.contains("output = (known after apply)"),
        "{}",
        plan.stdout
    );
    wd.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "apply")?;
    let echo = wd.resource_values("tfexample_echo.b")?;
    ensure!(
        echo["output"] == f.display().to_string(),
        "echo output: {echo}"
    );
    Ok(())
}

/// Provider logs show under `TF_LOG_PROVIDER=DEBUG` and not without it.
pub fn provider_logs_visible(tf: &Terraform, bin: &Path) -> Result<()> {
    let wd = example_workdir(
        tf,
        bin,
        &file_config(Path::new("/tmp/never-written"), "x", ""),
    )?;
    let run = wd
        .run_env(&["plan", "-no-color"], &[("TF_LOG_PROVIDER", "DEBUG")])?
        .expect_code(0, "plan with logs")?;
    ensure!(
        run.stderr.contains("tfexample provider configured"),
        "no provider log line: {}",
        run.stderr
    );
    ensure!(
        run.stderr.contains("PlanResourceChange"),
        "no debug line: {}",
        run.stderr
    );
    ensure!(
        !run.stderr.contains("provider-canary-3f9a"),
        "sensitive provider setting logged"
    );
    let quiet = wd
        .run(&["plan", "-no-color"])?
        .expect_code(0, "plan without logs")?;
    ensure!(
        !quiet.stderr.contains("tfexample provider configured"),
        "logs shown without TF_LOG"
    );
    Ok(())
}

/// Sensitive values are hidden in plan output; write-only values never reach
/// state yet do reach the provider.
pub fn sensitive_and_write_only(tf: &Terraform, bin: &Path) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let f = scratch.path().join("secret.txt");
    let extra = "  token     = \"sens-canary-81c2\"\n  secret_wo = \"wo-canary-5d7e\"\n";
    let wd = example_workdir(tf, bin, &file_config(&f, "x", extra))?;
    let plan = wd.run(&["plan", "-no-color"])?.expect_code(0, "plan")?;
    ensure!(plan.stdout.contains("(sensitive value)"), "{}", plan.stdout);
    ensure!(
        !plan.all().contains("sens-canary-81c2"),
        "sensitive value shown: {}",
        plan.all()
    );
    ensure!(
        !plan.all().contains("provider-canary-3f9a"),
        "sensitive provider value shown"
    );
    wd.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "apply")?;
    let state = std::fs::read_to_string(wd.path().join("terraform.tfstate"))?;
    ensure!(
        !state.contains("wo-canary-5d7e"),
        "write-only value stored in state"
    );
    ensure!(
        state.contains("\"secret_wo\": null"),
        "write-only attribute not null in state"
    );
    let wo = std::fs::read_to_string(format!("{}.wo", f.display()))?;
    ensure!(
        wo == "wo-canary-5d7e",
        "provider did not receive the write-only value"
    );
    Ok(())
}

/// Ctrl-C during a slow apply: Terraform sends StopProvider, the provider
/// cancels the in-flight create, and Terraform exits cleanly and promptly.
/// Returns how long Terraform took to exit after the interrupt.
pub fn interrupt_stops_slow_apply(tf: &Terraform, bin: &Path) -> Result<Duration> {
    let scratch = tempfile::tempdir()?;
    let f = scratch.path().join("slow.txt");
    let mut wd = example_workdir(tf, bin, &file_config(&f, "x", "  delay_ms = 120000\n"))?;
    wd.set_env("TF_LOG_PROVIDER", "INFO");
    let mut child = wd.spawn(&["apply", "-auto-approve", "-no-color"])?;
    let stderr = child.stderr.take().context("no stderr")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    let readers = [
        std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        }),
        std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx2.send(l)))
        }),
    ];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|l: &String| l.contains("artificial delay")) {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_default();
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => {
                let _ = child.kill();
                bail!("slow create never started:\n{}", seen.join("\n"));
            }
        }
    }
    let pid = i32::try_from(child.id())?;
    let sent = Instant::now();
    // SAFETY-free: plain kill(2) through the command-line tool.
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            bail!("terraform still running 30 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    for r in readers {
        let _ = r.join();
    }
    seen.extend(rx.try_iter());
    let all = seen.join("\n");
    ensure!(
        status.code().is_some(),
        "terraform died from a signal: {status:?}\n{all}"
    );
    ensure!(
        all.contains("Interrupt received"),
        "terraform did not notice the interrupt:\n{all}"
    );
    ensure!(
        all.contains("StopProvider"),
        "provider never got StopProvider:\n{all}"
    );
    ensure!(
        all.contains("Operation cancelled"),
        "create was not cancelled:\n{all}"
    );
    ensure!(
        took < Duration::from_secs(10),
        "terraform took {took:?} to exit after SIGINT"
    );
    ensure!(!f.exists(), "cancelled create still wrote the file");
    // The state lock is released and the configuration is usable again.
    wd.run(&["plan", "-no-color", "-lock-timeout=5s"])?
        .expect_code(0, "plan after interrupt")?;
    Ok(took)
}
