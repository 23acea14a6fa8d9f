//! The plugin side of go-plugin, checked the way Terraform's client talks to
//! it: handshake line, mutual TLS with a P-521 client certificate pinned from
//! `PLUGIN_CLIENT_CERT`, StopProvider and Shutdown.

// Test code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k3strading_e2e::plugin::{ClientIdentity, Plugin};
use tfplug::proto::{plugin as gp, tfplugin6 as pb};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-tfexample");

fn start() -> (Plugin, ClientIdentity) {
    let id = ClientIdentity::generate().unwrap();
    (Plugin::start(Path::new(BIN), &id).unwrap(), id)
}

#[tokio::test]
async fn schema_is_served_over_mutual_tls_with_the_announced_p521_certificate() {
    let (plugin, id) = start();
    assert!(
        plugin.line.starts_with("1|6|tcp|127.0.0.1:"),
        "{}",
        plugin.line
    );
    let mut client = plugin.connect(Some(&id)).await.unwrap();
    let schema = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    let caps = schema.server_capabilities.unwrap();
    assert!(caps.plan_destroy && caps.get_provider_schema_optional);
    assert!(schema.provider.is_some());
    let file = &schema.resource_schemas["tfexample_file"];
    let block = file.block.as_ref().unwrap();
    let wo = block
        .attributes
        .iter()
        .find(|a| a.name == "secret_wo")
        .unwrap();
    assert!(wo.write_only);
    let token = block.attributes.iter().find(|a| a.name == "token").unwrap();
    assert!(token.sensitive);
}

#[tokio::test]
async fn a_client_with_another_certificate_or_none_is_refused() {
    let (plugin, _id) = start();
    let stranger = ClientIdentity::generate().unwrap();
    // With TLS 1.3 the client learns of the refusal on its first request.
    for id in [Some(&stranger), None] {
        let outcome = async {
            let mut c = plugin.connect(id).await?;
            c.get_provider_schema(pb::get_provider_schema::Request {})
                .await?;
            anyhow::Ok(())
        }
        .await;
        assert!(
            outcome.is_err(),
            "connection with {:?} accepted",
            id.map(|_| "stranger")
        );
    }
}

#[tokio::test]
async fn the_announced_certificate_signed_with_another_key_is_refused() {
    let (plugin, announced) = start();
    let impostor = announced.with_key_of(&ClientIdentity::generate().unwrap());
    assert_eq!(impostor.cert_der(), announced.cert_der());

    // Positive control, same code path: the announced certificate with its own key.
    let mut c = plugin.connect(Some(&announced)).await.unwrap();
    c.get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap();

    // With TLS 1.3 the client learns of the refusal on its first request.
    let outcome = async {
        let mut c = plugin.connect(Some(&impostor)).await?;
        c.get_provider_schema(pb::get_provider_schema::Request {})
            .await?;
        anyhow::Ok(())
    }
    .await;
    assert!(
        outcome.is_err(),
        "a handshake signed with another key was accepted"
    );
    // The refusal comes from the signature check: the server's alert is
    // decrypt_error, and the same probe with the right key gets an answer.
    let alert = plugin.tls_answer(Some(&impostor)).await.unwrap_err();
    assert!(alert.to_string().contains("DecryptError"), "{alert:#}");
    plugin.tls_answer(Some(&announced)).await.unwrap();
}

#[tokio::test]
async fn every_start_announces_a_new_certificate_with_a_new_key_and_serves_it() {
    // The key comes from the process's random number generator, which the
    // operating system seeds anew in every process: two starts never share it.
    let id = ClientIdentity::generate().unwrap();
    let a = Plugin::start(Path::new(BIN), &id).unwrap();
    let b = Plugin::start(Path::new(BIN), &id).unwrap();
    assert_ne!(a.server_cert, b.server_cert);
    assert_ne!(
        p256_public_key(&a.server_cert),
        p256_public_key(&b.server_cert)
    );
    // Each serves the certificate it announced (the client pins it).
    for plugin in [&a, &b] {
        plugin.tls_answer(Some(&id)).await.unwrap();
    }
}

/// The public key (uncompressed point) in a P-256 certificate.
fn p256_public_key(cert: &[u8]) -> &[u8] {
    // SubjectPublicKeyInfo up to its key: SEQUENCE { SEQUENCE { id-ecPublicKey,
    // prime256v1 }, BIT STRING of 66 bytes with no unused bits }.
    const SPKI: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let at = cert
        .windows(SPKI.len())
        .position(|w| w == SPKI)
        .expect("the server certificate holds a P-256 key")
        + SPKI.len();
    &cert[at..at + 65]
}

#[tokio::test]
async fn stop_provider_cancels_but_keeps_the_server_running() {
    let (mut plugin, id) = start();
    let mut client = plugin.connect(Some(&id)).await.unwrap();
    let resp = client
        .stop_provider(pb::stop_provider::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.error, "");
    client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap();
    assert!(
        plugin.child.try_wait().unwrap().is_none(),
        "provider exited after StopProvider"
    );
}

#[tokio::test]
async fn controller_shutdown_makes_the_process_exit_promptly() {
    let (mut plugin, id) = start();
    let mut ctl = plugin.controller(&id).await.unwrap();
    let asked = Instant::now();
    let _ = ctl.shutdown(gp::Empty {}).await;
    loop {
        if let Some(status) = plugin.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "still running 2 s after Shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn running_by_hand_explains_and_exits_1_with_nothing_on_stdout() {
    let out = Command::new(BIN)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("This binary is a Terraform plugin"), "{err}");
}

#[test]
fn unsupported_protocol_versions_are_refused_with_a_message() {
    let out = Command::new(BIN)
        .env("TF_PLUGIN_MAGIC_COOKIE", tfplug::server::MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs version 6"));
}
