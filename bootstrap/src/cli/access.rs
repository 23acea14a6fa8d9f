//! What every command needs: the Hetzner client (from the environment, as
//! the provider reads it), the login for the servers, and an SSH session to
//! the control plane with its host key pinned from its server label.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k3strading_cluster::k3s::{self, Auth, Secret, Session};
use k3strading_cluster::k3s_node::ControlPlane;
use k3strading_cluster::{Hetzner, hcloud, names};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Login;

/// The Hetzner API, as HCLOUD_TOKEN and HCLOUD_ENDPOINT say.
pub fn hetzner_client() -> anyhow::Result<hcloud::Client> {
    let token = std::env::var("HCLOUD_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .context("HCLOUD_TOKEN is not set: export a Hetzner Cloud API token (read & write)")?;
    let endpoint = std::env::var("HCLOUD_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://api.hetzner.cloud/v1".to_owned());
    let checked = hcloud::Endpoint::parse(&endpoint).context("HCLOUD_ENDPOINT")?;
    hcloud::Client::new(hcloud::Config::new(
        checked.as_str(),
        hcloud::Token::new(token),
    ))
    .context("could not set up the Hetzner client")
}

/// The login: `--ssh-key FILE|-`, else K3STRADING_SSH_PRIVATE_KEY, else the SSH agent.
pub fn auth(login: &Login) -> anyhow::Result<Auth> {
    if let Some(path) = &login.ssh_key {
        return Ok(Auth::PrivateKey(read_key(path)?));
    }
    if let Some(key) = std::env::var("K3STRADING_SSH_PRIVATE_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        return Ok(Auth::PrivateKey(Secret::new(key)));
    }
    Auth::agent_from_env().map_err(|_| {
        anyhow::anyhow!(
            "no login key: pass --ssh-key FILE (or - for stdin), set K3STRADING_SSH_PRIVATE_KEY, or run an SSH agent (SSH_AUTH_SOCK)"
        )
    })
}

fn read_key(path: &Path) -> anyhow::Result<Secret> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read the SSH key from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read the SSH key {}", path.display()))?;
    }
    if !text.contains("PRIVATE KEY") {
        bail!(
            "--ssh-key: {} is not an OpenSSH private key",
            path.display()
        );
    }
    // `ssh -i` wants the final newline; so does our parser's round trip.
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(Secret::new(text))
}

/// A cluster's control plane, found by name, and an SSH session to it.
pub struct Reached {
    /// What Hetzner says about it.
    pub control_plane: ControlPlane,
    /// Logged in as root, host key pinned.
    pub session: Session,
}

/// Finds `cluster`'s control plane and logs in (retrying for up to `wait` while it boots).
pub async fn reach(
    api: &hcloud::Client,
    cluster: &str,
    login: &Login,
    wait: Duration,
) -> anyhow::Result<Reached> {
    let auth = auth(login)?;
    let cancel = CancellationToken::new();
    let hz = Hetzner::new(api, &cancel);
    let control_plane = ControlPlane::find(&hz, cluster).await?.with_context(|| {
        format!(
            "cluster {cluster} has no control plane (no server named {})",
            names::control_plane(cluster)
        )
    })?;
    let session = control_plane.connect(&auth, Instant::now() + wait).await?;
    Ok(Reached {
        control_plane,
        session,
    })
}

/// The Kubernetes API of a reached cluster.
pub async fn cluster_api(reached: &Reached) -> anyhow::Result<k3s::ClusterApi> {
    k3s::ClusterApi::open(&reached.session)
        .await
        .with_context(|| {
            format!(
                "could not reach the Kubernetes API of {}",
                reached.control_plane.name
            )
        })
}
