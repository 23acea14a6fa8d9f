//! `k3strading kubeconfig` and `k3strading tunnel`: the API (and the ArgoCD
//! UI) through SSH to the control plane; no public port is opened.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use k3strading_cluster::k3s::api::KUBECONFIG_PATH;
use k3strading_cluster::k3s::install::read_secret_file;

use super::Login;
use super::access::{hetzner_client, reach};

/// How long to wait for the control plane's sshd.
const CONNECT: Duration = Duration::from_secs(60);

/// The server's kubeconfig with `server:` pointing at the local tunnel port.
pub fn rewrite_server(kubeconfig: &str, port: u16) -> String {
    kubeconfig
        .lines()
        .map(|l| {
            let trimmed = l.trim_start();
            if trimmed.starts_with("server: https://") {
                let indent = &l[..l.len() - trimmed.len()];
                format!("{indent}server: https://127.0.0.1:{port}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Reads the server's kubeconfig and prints or writes it for a local tunnel port.
pub async fn kubeconfig(
    cluster: &str,
    login: &Login,
    port: u16,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let api = hetzner_client()?;
    let reached = reach(&api, cluster, login, CONNECT).await?;
    let text = read_secret_file(&reached.session, KUBECONFIG_PATH, Duration::from_secs(30))
        .await
        .with_context(|| format!("could not read {KUBECONFIG_PATH}"))?;
    let local = rewrite_server(text.expose(), port);
    match output {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("could not write {}", path.display()))?;
            f.write_all(local.as_bytes())?;
            eprintln!(
                "wrote {} (server https://127.0.0.1:{port}); run `k3strading tunnel --cluster {cluster}` to use it",
                path.display()
            );
        }
        None => print!("{local}"),
    }
    Ok(())
}

/// Forwards the API (and ArgoCD's UI when it exists) until Ctrl-C.
pub async fn tunnel(
    cluster: &str,
    login: &Login,
    port: u16,
    argocd_port: u16,
) -> anyhow::Result<()> {
    let api = hetzner_client()?;
    let reached = reach(&api, cluster, login, CONNECT).await?;
    let forward = reached
        .session
        .forward_from(port, "127.0.0.1", 6443)
        .await
        .context("could not open the API tunnel")?;
    println!(
        "Kubernetes API of {cluster}: https://{} (use `k3strading kubeconfig --cluster {cluster} --port {port}`)",
        forward.local_addr()
    );
    let mut _ui = None;
    if argocd_port != 0 {
        match argocd_service(&reached).await {
            Ok(Some(ip)) => {
                let ui = reached
                    .session
                    .forward_from(argocd_port, &ip, 443)
                    .await
                    .context("could not open the ArgoCD tunnel")?;
                println!(
                    "ArgoCD UI: https://{} (user admin; password in Secret argocd/argocd-initial-admin-secret)",
                    ui.local_addr()
                );
                _ui = Some(ui);
            }
            Ok(None) => println!("ArgoCD UI: not installed yet (run `k3strading bootstrap`)"),
            Err(e) => println!("ArgoCD UI: unavailable ({e:#})"),
        }
    }
    println!("Ctrl-C closes the tunnel.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// The ClusterIP of Service argocd/argocd-server, if any.
async fn argocd_service(reached: &super::access::Reached) -> anyhow::Result<Option<String>> {
    use k8s_openapi::api::core::v1::Service;
    let api = super::access::cluster_api(reached).await?;
    let services: kube::Api<Service> = kube::Api::namespaced(api.client().clone(), "argocd");
    let svc = services.get_opt("argocd-server").await?;
    Ok(svc
        .and_then(|s| s.spec)
        .and_then(|s| s.cluster_ip)
        .filter(|ip| ip != "None"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_server_line_changes() {
        let text = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: QUJD\n    server: https://127.0.0.1:6443\n  name: default\n";
        let out = rewrite_server(text, 16443);
        assert_eq!(out, text.replace("127.0.0.1:6443", "127.0.0.1:16443"));
    }
}
