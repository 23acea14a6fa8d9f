//! End-to-end harness: runs real Terraform against providers built from this
//! workspace, with no `terraform init` and no network.
//!
//! Every scenario runs against each available Terraform: the two CLIs that
//! `scripts/setup.sh` installs (1.15.5 and 1.13.5, always expected)
//! and a `terraform` found on `PATH`, when there is one. Each run gets its own
//! temporary directory and CLI configuration whose `dev_overrides` point the
//! provider source addresses at the binaries under test.

// Indexing here is on serde_json values, whose `Index` yields Null for a
// missing key instead of panicking.
#![allow(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

pub mod plugin;
pub mod process;
pub mod scenario;

pub use process::Running;

/// The Terraform versions installed by `scripts/setup.sh`.
pub const PINNED_VERSIONS: [&str; 2] = ["1.15.5", "1.13.5"];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// One Terraform CLI.
#[derive(Debug, Clone)]
pub struct Terraform {
    /// How tests name it: a version such as `1.15.5`, or `path`.
    pub label: String,
    /// The executable.
    pub bin: PathBuf,
}

impl Terraform {
    /// The pinned Terraform `version` installed by the setup script. Missing
    /// installs are an error that says how to fix it.
    pub fn pinned(version: &str) -> Result<Terraform> {
        let dir = std::env::var_os("K3STRADING_TERRAFORM_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin"));
        let bin = dir.join(format!("terraform-{version}"));
        if !bin.is_file() {
            bail!("{} is missing: run scripts/setup.sh first", bin.display());
        }
        Ok(Terraform {
            label: version.to_owned(),
            bin,
        })
    }

    /// A `terraform` on `PATH`, if any.
    pub fn on_path() -> Option<Terraform> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join("terraform"))
            .find(|p| p.is_file())
            .map(|bin| Terraform {
                label: "path".to_owned(),
                bin,
            })
    }

    /// The version this CLI reports.
    pub fn version(&self) -> Result<String> {
        let out = Command::new(&self.bin)
            .arg("version")
            .arg("-json")
            .env("CHECKPOINT_DISABLE", "1")
            .output()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("`{} version -json` printed no JSON", self.bin.display()))?;
        Ok(v["terraform_version"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

/// A provider binary under test and the source address it overrides.
#[derive(Debug, Clone)]
pub struct ProviderBin {
    /// e.g. `k3strading/tfexample` (registry.terraform.io is implied).
    pub source: String,
    /// The built executable.
    pub bin: PathBuf,
}

/// The result of one Terraform command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    fn from_output(out: Output, elapsed: Duration) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed,
        }
    }

    /// Both streams, for assertions and failure messages.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails unless the exit code is `code`.
    pub fn expect_code(self, code: i32, what: &str) -> Result<Run> {
        if self.code != code {
            bail!(
                "{what}: exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
                self.code,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }
}

/// A temporary Terraform working directory wired to the providers under test.
#[derive(Debug)]
pub struct Workdir {
    dir: tempfile::TempDir,
    tf: Terraform,
    env: Vec<(String, String)>,
    unset: Vec<String>,
}

impl Workdir {
    /// A fresh directory for `tf` whose CLI configuration overrides each
    /// provider's source address with its binary.
    pub fn new(tf: &Terraform, providers: &[ProviderBin]) -> Result<Workdir> {
        let dir = tempfile::Builder::new().prefix("k3s-e2e-").tempdir()?;
        let plugins = dir.path().join(".plugins");
        std::fs::create_dir_all(&plugins)?;
        let mut overrides = String::new();
        for p in providers {
            let name = p
                .bin
                .file_name()
                .context("provider binary has no file name")?;
            std::os::unix::fs::symlink(&p.bin, plugins.join(name))?;
            overrides.push_str(&format!(
                "    \"registry.terraform.io/{}\" = \"{}\"\n",
                p.source,
                plugins.display()
            ));
        }
        let cli_config = dir.path().join(".terraformrc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n{overrides}  }}\n  direct {{}}\n}}\n"
            ),
        )?;
        let env = vec![
            (
                "TF_CLI_CONFIG_FILE".to_owned(),
                cli_config.display().to_string(),
            ),
            ("CHECKPOINT_DISABLE".to_owned(), "1".to_owned()),
            ("TF_IN_AUTOMATION".to_owned(), "1".to_owned()),
            ("TF_INPUT".to_owned(), "0".to_owned()),
        ];
        Ok(Workdir {
            dir,
            tf: tf.clone(),
            env,
            unset: Vec::new(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds an environment variable for every later command.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// The environment variables set for every command (e.g. the CLI
    /// configuration with the provider overrides), for other programs that
    /// run Terraform in this directory.
    pub fn env_vars(&self) -> &[(String, String)] {
        &self.env
    }

    /// The Terraform CLI this directory uses.
    pub fn terraform(&self) -> &Terraform {
        &self.tf
    }

    /// Removes an environment variable from every later command, whether
    /// set here or inherited.
    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
        self.unset.push(key.to_owned());
    }

    /// Writes `name` (e.g. `main.tf`) with `content`.
    pub fn write(&self, name: &str, content: &str) -> Result<()> {
        std::fs::write(self.dir.path().join(name), content)?;
        Ok(())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.tf.bin);
        c.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        // Tests decide about logging themselves.
        c.env_remove("TF_LOG").env_remove("TF_LOG_PROVIDER");
        for k in &self.unset {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs `terraform args...` to completion.
    pub fn run(&self, args: &[&str]) -> Result<Run> {
        self.run_env(args, &[])
    }

    /// Runs with extra environment variables for this command only.
    pub fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Result<Run> {
        let start = Instant::now();
        let mut c = self.command(args);
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c
            .output()
            .with_context(|| format!("running {} {args:?}", self.tf.bin.display()))?;
        Ok(Run::from_output(out, start.elapsed()))
    }

    /// Starts `terraform args...` with piped output, for signal tests.
    pub fn spawn(&self, args: &[&str]) -> Result<Child> {
        Ok(self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?)
    }

    /// Starts `terraform args...` in the background (extra environment for
    /// this command only), for tests that act while it runs.
    pub fn start(&self, args: &[&str], extra: &[(&str, &str)]) -> Result<Running> {
        let started = Instant::now();
        let mut c = self.command(args);
        for (k, v) in extra {
            c.env(k, v);
        }
        let child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} {args:?}", self.tf.bin.display()))?;
        Ok(Running::new(child, started))
    }

    /// `terraform show -json` of the current state.
    pub fn state_json(&self) -> Result<serde_json::Value> {
        let run = self.run(&["show", "-json"])?.expect_code(0, "show -json")?;
        Ok(serde_json::from_str(&run.stdout)?)
    }

    /// The `values` of resource `address` in the current state.
    pub fn resource_values(&self, address: &str) -> Result<serde_json::Value> {
        let state = self.state_json()?;
        let resources = state["values"]["root_module"]["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        resources
            .into_iter()
            .find(|r| r["address"] == address)
            .map(|r| r["values"].clone())
            .with_context(|| format!("{address} not in state"))
    }
}

/// Builds the list of Terraform CLIs a scenario must run on: `label` is a
/// pinned version or `path`. `Ok(None)` means "skip": only for `path` when no
/// terraform is on PATH.
pub fn terraform_for(label: &str) -> Result<Option<Terraform>> {
    if label == "path" {
        Ok(Terraform::on_path())
    } else {
        Terraform::pinned(label).map(Some)
    }
}
