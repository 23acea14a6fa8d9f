//! `k3s server`: certificates, token, kubeconfig, own Node, API.

use std::sync::Arc;

use base64::Engine as _;

use crate::Error;
use crate::api::{self, AppState};
use crate::cli::Invocation;
use crate::listener;
use crate::node::{self, Registration};
use crate::objects::ObjectStore;
use crate::paths::{read_file, write_file};
use crate::pki::{self, Pki};
use crate::settings::{self, Settings};
use crate::simulation;
use crate::store::Store;
use crate::token::{self, Token};

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(inv: &Invocation) -> Result<(), Error> {
    let settings = settings::resolve(inv)?;
    let config = &settings.config;
    let kubeconfig_mode = config.kubeconfig_mode()?;
    let name = settings.node_name();
    let ip = settings.node_ip();
    let labels = node::parse_labels(&config.node_label, false)?;
    let taints = node::parse_taints(&config.node_taint)?;
    let port = config.port();

    let delay = settings::delay_from_env("K3S_STANDIN_START_DELAY_MS")?;
    if !delay.is_zero() {
        eprintln!("stand-in: delaying start by {delay:?} (K3S_STANDIN_START_DELAY_MS)");
        tokio::time::sleep(delay).await;
    }

    let pki = pki::ensure(&settings.paths.tls_dir(), &sans(&settings, &name, &ip))?;
    let secret = secret(&settings)?;
    let bind = format!(
        "{}:{port}",
        config.bind_address.as_deref().unwrap_or("0.0.0.0")
    );
    let tcp = listener::bind(&bind).await?;
    let tls = listener::server_config(&pki)?;

    let store = Arc::new(Store::open(settings.paths.nodes_db())?);
    let (cpu, memory_kib) = node::machine_resources();
    store.register(
        &Registration {
            name: name.clone(),
            internal_ip: ip.clone(),
            labels,
            taints,
            cpu,
            memory_kib,
            kernel_version: node::kernel_version(),
        },
        true,
    );

    // Files last: their presence tells waiting tools the API is up.
    let secure = Token::secure(pki.server_ca_pem.as_bytes(), &secret);
    write_file(
        &settings.paths.token(),
        format!("{secure}\n").as_bytes(),
        0o600,
    )?;
    let node_token = settings.paths.token().with_file_name("node-token");
    write_file(&node_token, format!("{secure}\n").as_bytes(), 0o600)?;
    write_file(
        &settings.paths.kubeconfig(),
        kubeconfig(&pki, port).as_bytes(),
        kubeconfig_mode,
    )?;

    let advertise = config
        .advertise_address
        .clone()
        .unwrap_or_else(|| ip.clone());
    let schemas = inv
        .schemas
        .clone()
        .or_else(|| std::env::var_os("K3S_STANDIN_SCHEMAS").map(std::path::PathBuf::from));
    let mut objects = ObjectStore::open(Some(settings.paths.objects_db()), store.clone())?;
    if let Some(dir) = &schemas {
        let official = kube_schemas::Schemas::load(dir)
            .map_err(|e| Error::Usage(format!("the schemas directory {}: {e}", dir.display())))?;
        objects = objects.with_validator(Arc::new(crate::objects::validate::Official(official)));
    }
    let objects = Arc::new(objects);
    let helm_delay = match std::env::var("K3S_STANDIN_HELM_DELAY_MS") {
        Ok(_) => settings::delay_from_env("K3S_STANDIN_HELM_DELAY_MS")?,
        Err(_) => simulation::DEFAULT_DELAY,
    };
    simulation::register_k3s_crds(&objects, schemas.as_deref())
        .map_err(|e| Error::Usage(format!("register the HelmChart CRDs: {e}")))?;
    tokio::spawn(simulation::run(simulation::Simulation {
        objects: objects.clone(),
        delay: helm_delay,
        schemas,
    }));
    let state = AppState {
        store,
        objects,
        server_ca_pem: pki.server_ca_pem.clone().into(),
        secret: secret.into(),
        advertise: format!("{advertise}:{port}").into(),
    };
    eprintln!(
        "k3s STAND-IN server (not K3s) {}: node {name} ({ip}) listening on https://{bind}",
        node::KUBELET_VERSION
    );
    tokio::select! {
        () = listener::serve(tcp, tls, api::app(state)) => Ok(()),
        () = crate::shutdown() => Ok(()),
    }
}

fn sans(settings: &Settings, name: &str, ip: &str) -> Vec<String> {
    let mut sans: Vec<String> = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
        "127.0.0.1",
        "::1",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    sans.push(name.to_string());
    sans.push(ip.to_string());
    sans.extend(settings.config.advertise_address.clone());
    sans.extend(settings.config.tls_san.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    sans.retain(|s| seen.insert(s.clone()));
    sans
}

/// The join secret: from token-file/token, else the one a previous start
/// wrote (so agents keep working across restarts), else a new random one.
fn secret(settings: &Settings) -> Result<String, Error> {
    if let Some(token) = settings.token()? {
        return Ok(token.secret);
    }
    let path = settings.paths.token();
    if path.exists() {
        return Ok(Token::parse(&read_file(&path)?)?.secret);
    }
    token::random_secret()
}

fn kubeconfig(pki: &Pki, port: u16) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://127.0.0.1:{port}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
        ca = b64(&pki.server_ca_pem),
        cert = b64(&pki.admin_cert_pem),
        key = b64(&pki.admin_key_pem),
    )
}
