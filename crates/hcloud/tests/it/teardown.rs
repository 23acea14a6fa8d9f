//! Calls that teardown and node maintenance need: stopping servers, and
//! unassigning and deleting Primary IPs, with Hetzner's ordering rules.

use hcloud::models::{Id, Labels, ServerStatus};
use hcloud::{Action, Client, CreatePublicNet, CreateServer, ErrorCode};
use tokio_util::sync::CancellationToken;

use crate::common::{ACTION_DEADLINE, cloud};

async fn wait(c: &Client, a: &Action) {
    c.wait_action(a, ACTION_DEADLINE, &CancellationToken::new())
        .await
        .unwrap();
}

/// A running server, optionally holding Primary IP `ipv4`.
async fn running_server(c: &Client, name: &str, ipv4: Option<Id>) -> Id {
    let created = c
        .create_server(&CreateServer {
            name: name.into(),
            server_type: "cpx22".into(),
            image: "ubuntu-24.04".into(),
            location: "fsn1".into(),
            start_after_create: true,
            public_net: CreatePublicNet {
                enable_ipv4: ipv4.is_some(),
                enable_ipv6: false,
                ipv4,
            },
            ..CreateServer::default()
        })
        .await
        .unwrap();
    let mut all = vec![created.action];
    all.extend(created.next_actions);
    c.wait_actions(&all, ACTION_DEADLINE, &CancellationToken::new())
        .await
        .unwrap();
    let id = created.server.id;
    assert_eq!(c.server(id).await.unwrap().status, ServerStatus::Running);
    id
}

#[tokio::test]
async fn shutdown_and_poweroff_stop_a_server_and_their_actions_can_be_fetched() {
    let (_emu, c) = cloud().await;
    let id = running_server(&c, "power", None).await;

    let a = c.shutdown(id).await.unwrap();
    assert_eq!(a.command, "shutdown_server");
    wait(&c, &a).await;
    assert_eq!(c.server(id).await.unwrap().status, ServerStatus::Off);
    let fetched = c.action(a.id).await.unwrap();
    assert_eq!(
        (fetched.id, fetched.command.as_str()),
        (a.id, "shutdown_server")
    );

    wait(&c, &c.poweron(id).await.unwrap()).await;
    assert_eq!(c.server(id).await.unwrap().status, ServerStatus::Running);

    let a = c.poweroff(id).await.unwrap();
    assert_eq!(a.command, "stop_server");
    wait(&c, &a).await;
    assert_eq!(c.server(id).await.unwrap().status, ServerStatus::Off);
}

#[tokio::test]
async fn a_primary_ip_is_unassigned_from_a_stopped_server_then_deleted() {
    let (_emu, c) = cloud().await;
    let ip = c
        .create_primary_ip("keep-0", "fsn1", false, &Labels::new())
        .await
        .unwrap();
    let server = running_server(&c, "holder", Some(ip.id)).await;
    assert_eq!(c.primary_ip(ip.id).await.unwrap().assignee_id, Some(server));

    let err = c.delete_primary_ip(ip.id).await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::MustBeUnassigned), "{err}");
    let err = c.unassign_primary_ip(ip.id).await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::ServerNotStopped), "{err}");

    wait(&c, &c.poweroff(server).await.unwrap()).await;
    let a = c.unassign_primary_ip(ip.id).await.unwrap();
    assert_eq!(a.command, "unassign_primary_ip");
    wait(&c, &a).await;
    assert_eq!(c.primary_ip(ip.id).await.unwrap().assignee_id, None);

    c.delete_primary_ip(ip.id).await.unwrap();
    assert!(c.primary_ip(ip.id).await.unwrap_err().is_not_found());
    assert!(
        c.primary_ips(None, Some("keep-0"))
            .await
            .unwrap()
            .is_empty()
    );
}
