//! The command line: one module per command, sharing [`access`] for the
//! Hetzner client, the login and the SSH session to the control plane.

mod access;
mod kube_access;
mod platform;
mod teardown;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Runs and inspects k3strading clusters on Hetzner Cloud.
///
/// Reads HCLOUD_TOKEN (and HCLOUD_ENDPOINT, e.g. for the local cloud) from
/// the environment, like the Terraform provider.
#[derive(Debug, Parser)]
#[command(name = "k3strading", version)]
pub struct Cli {
    /// Log progress details to stderr (K3STRADING_LOG=debug for more).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How to log in to the servers (every command that reaches the cluster).
#[derive(Debug, Clone, Args)]
pub struct Login {
    /// OpenSSH private key file, or `-` for stdin (e.g. from
    /// `terraform output -raw ssh_private_key`). Without it:
    /// K3STRADING_SSH_PRIVATE_KEY, then the SSH agent (SSH_AUTH_SOCK).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
}

/// The cluster to work on.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Cluster name, e.g. k3s-trading-prod.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the Kubernetes side: namespaces, PriorityClasses and their
    /// admission policy, quotas, Strimzi + Kafka 4.0.0, ArgoCD and its root
    /// Application, Prometheus. Server-side apply: running it again changes
    /// nothing.
    Bootstrap {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        login: Login,
        /// Only write every object as YAML into DIR (from live facts); apply nothing.
        #[arg(long, value_name = "DIR")]
        render: Option<PathBuf>,
        /// Git repository of the ArgoCD root Application.
        #[arg(long, value_name = "URL")]
        repo: Option<String>,
        /// Directory in that repository.
        #[arg(long, value_name = "PATH")]
        repo_path: Option<String>,
        /// Branch, tag or commit.
        #[arg(long, value_name = "REV")]
        revision: Option<String>,
        /// User name for a private repository; its password or token comes
        /// from K3STRADING_REPO_PASSWORD (never an argument). ArgoCD gets
        /// both in the Secret argocd/root-repo.
        #[arg(long, value_name = "USER")]
        repo_username: Option<String>,
        /// Take over fields another field manager owns.
        #[arg(long)]
        force: bool,
        /// How long everything may take.
        #[arg(long, default_value = "20m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Nodes with roles, labels and IPs; namespaces, quotas and Kafka; and
    /// where each workload may run, from the live cluster.
    Status {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        login: Login,
    },
    /// Remove a cluster's servers, network, firewall, placement groups and
    /// SSH key, found by label; the Primary IPs stay. No state needed.
    Teardown {
        #[command(flatten)]
        target: Target,
        /// Do not ask for the cluster name.
        #[arg(long)]
        yes: bool,
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// How long the removal may take.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Print (or write) a kubeconfig for the cluster's API through
    /// `k3strading tunnel`: no public port is opened.
    Kubeconfig {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        login: Login,
        /// Local port the tunnel listens on.
        #[arg(long, default_value_t = 6443)]
        port: u16,
        /// Write to this file (mode 0600) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Forward local ports to the cluster's API (and the ArgoCD UI) over SSH
    /// through the control plane, until interrupted.
    Tunnel {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        login: Login,
        /// Local port for the Kubernetes API.
        #[arg(long, default_value_t = 6443)]
        port: u16,
        /// Local port for the ArgoCD UI (0: no UI tunnel).
        #[arg(long, default_value_t = 8443)]
        argocd_port: u16,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bootstrap {
            target,
            login,
            render,
            repo,
            repo_path,
            revision,
            repo_username,
            force,
            timeout,
        } => {
            let mut options = bootstrap::Options::default();
            if let Some(r) = repo {
                options.repo_url = r;
            }
            if let Some(p) = repo_path {
                options.path = p;
            }
            if let Some(r) = revision {
                options.target_revision = r;
            }
            if let Some(username) = repo_username {
                let password = std::env::var("K3STRADING_REPO_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--repo-username needs the password or token in K3STRADING_REPO_PASSWORD"
                        )
                    })?;
                // --render writes files: the token stays out of them.
                let password = if render.is_some() {
                    "REDACTED (K3STRADING_REPO_PASSWORD at apply time)".to_owned()
                } else {
                    password
                };
                options.repo_credentials = Some(bootstrap::options::RepoCredentials {
                    username,
                    password: k3strading_cluster::k3s::Secret::new(password),
                });
            }
            options.force = force;
            platform::bootstrap(platform::Request {
                cluster: &target.cluster,
                login: &login,
                render: render.as_deref(),
                options,
                timeout,
            })
            .await
        }
        Command::Status { target, login } => platform::status(&target.cluster, &login).await,
        Command::Teardown {
            target,
            yes,
            dry_run,
            timeout,
        } => teardown::run(&target.cluster, yes, dry_run, timeout).await,
        Command::Kubeconfig {
            target,
            login,
            port,
            output,
        } => kube_access::kubeconfig(&target.cluster, &login, port, output.as_deref()).await,
        Command::Tunnel {
            target,
            login,
            port,
            argocd_port,
        } => kube_access::tunnel(&target.cluster, &login, port, argocd_port).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `docs/cli.md`: every command's `--help`, as the binary prints it.
    fn cli_reference() -> String {
        let mut cmd = Cli::command().term_width(100);
        let mut out = String::from(
            "# The `k3strading` CLI\n\n\
             Generated from the command line's own help (`UPDATE_GOLDEN=1 cargo test -p k3strading-bootstrap cli_reference`); a test fails when it drifts.\n\n",
        );
        out.push_str("```text\n");
        out.push_str(&cmd.render_long_help().to_string());
        out.push_str("```\n");
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        for name in names {
            let Some(sub) = cmd.find_subcommand_mut(&name) else {
                continue;
            };
            let mut sub = sub.clone().bin_name(format!("k3strading {name}"));
            out.push_str(&format!("\n## `k3strading {name}`\n\n```text\n"));
            out.push_str(&sub.render_long_help().to_string());
            out.push_str("```\n");
        }
        out
    }

    #[test]
    fn cli_reference_in_docs_is_in_step_with_the_command_line() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md");
        let want = cli_reference();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/cli.md is out of step with the command line; run UPDATE_GOLDEN=1 cargo test -p k3strading-bootstrap cli_reference"
        );
    }
}
