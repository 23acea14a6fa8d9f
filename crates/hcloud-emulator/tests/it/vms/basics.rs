//! VMs themselves: OpenSSH, cloud-init, NAT, firewalls, deletion, cleanup.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{BIN, Cloud, DEADLINE, available, ok, ours_left, sh, stdout, succeeded, unique};

#[test]
fn vms_refuse_to_start_without_root_naming_what_is_missing() {
    if !available() {
        return;
    }
    // As an unprivileged user (setpriv from util-linux drops root).
    let out = sh(
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "t",
            "--vms",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(err.contains("--vms needs root"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_are_vms_reached_with_openssh_through_firewalls_and_nat() {
    if !available() {
        return;
    }
    let (prefix, pool) = unique(0);
    let cloud = Cloud::start(&prefix, &pool);
    cloud
        .post(
            "/ssh_keys",
            json!({"name": "me", "public_key": cloud.read("client.pub")}),
        )
        .await;
    let net = cloud
        .post(
            "/networks",
            json!({"name": "net", "ip_range": "10.0.0.0/16",
                   "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"}],
                   "routes": [{"destination": "0.0.0.0/0", "gateway": "10.0.1.10"}]}),
        )
        .await["network"]["id"]
        .as_i64()
        .unwrap();
    let nat = [
        "sysctl -qw net.ipv4.ip_forward=1",
        "iptables -t nat -A POSTROUTING -s 10.0.0.0/16 -o eth0 -j MASQUERADE",
    ];
    let started = Instant::now();
    let (control, public) = cloud
        .server(
            "control",
            true,
            "10.0.1.10",
            cloud.user_data("host-a", &nat),
            net,
        )
        .await;
    let public = public.unwrap();
    let (_, none) = cloud
        .server(
            "kafka-1",
            false,
            "10.0.1.21",
            cloud.user_data("host-b", &[]),
            net,
        )
        .await;
    assert!(none.is_none());
    let key = |f: &str| {
        cloud
            .read(f)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    std::fs::write(
        cloud.path("known_hosts"),
        format!(
            "{public} {}\n10.0.1.21 {}\n",
            key("host-a.pub"),
            key("host-b.pub")
        ),
    )
    .unwrap();
    std::fs::write(
        cloud.path("wrong_hosts"),
        format!("{public} {}\n", key("impostor.pub")),
    )
    .unwrap();
    let target = format!("root@{public}");

    // Pinned host key from the user data: in, as root, named like the server.
    let out = cloud.ssh_until("known_hosts", &[], &target, "hostname", succeeded);
    eprintln!(
        "first ssh login {:?} after the create request",
        started.elapsed()
    );
    assert_eq!(stdout(&out), "control");
    let out = cloud.ssh("wrong_hosts", &["-o", "LogLevel=INFO"], &target, "true");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"),
        "{out:?}"
    );

    eprintln!("step: Through the control plane");
    // Through the control plane to the private-only VM.
    let jump = ["-J", target.as_str()];
    let out = cloud.ssh_until(
        "known_hosts",
        &jump,
        "root@10.0.1.21",
        "hostname",
        succeeded,
    );
    assert_eq!(stdout(&out), "kafka-1");

    eprintln!("step: cloud-init: write_files");
    // cloud-init: write_files with its mode, runcmd in order.
    let done = "cat /var/lib/cloud/instance/boot-finished >/dev/null && cat /root/order && stat -c %a /etc/written && cat /etc/written";
    let out = cloud.ssh_until("known_hosts", &[], &target, done, succeeded);
    assert_eq!(stdout(&out), "first\nsecond\n640\nfrom write_files");

    eprintln!("step: Egress of the private-only");
    // Egress of the private-only VM leaves through the control plane's NAT:
    // an "outside" namespace of this test, on a pool address, sees the
    // control plane's public address as the source.
    let outside = cloud.post("/primary_ips", json!({"name": "outside", "type": "ipv4", "assignee_type": "server", "location": "fsn1", "auto_delete": false})).await;
    let o_ip = outside["primary_ip"]["ip"].as_str().unwrap().to_owned();
    let (fabric, o_ns) = (format!("{prefix}-fabric"), format!("{prefix}-out"));
    ok("ip", &["netns", "add", &o_ns]);
    ok(
        "ip",
        &[
            "-n", &fabric, "link", "add", "o-out", "type", "veth", "peer", "name", "eth0", "netns",
            &o_ns,
        ],
    );
    ok(
        "ip",
        &[
            "-n",
            &fabric,
            "addr",
            "add",
            "172.31.1.1/32",
            "dev",
            "o-out",
        ],
    );
    ok("ip", &["-n", &fabric, "link", "set", "o-out", "up"]);
    ok(
        "ip",
        &[
            "-n",
            &fabric,
            "route",
            "add",
            &format!("{o_ip}/32"),
            "dev",
            "o-out",
        ],
    );
    ok(
        "ip",
        &[
            "-n",
            &o_ns,
            "addr",
            "add",
            &format!("{o_ip}/32"),
            "dev",
            "eth0",
        ],
    );
    ok("ip", &["-n", &o_ns, "link", "set", "eth0", "up"]);
    ok(
        "ip",
        &[
            "-n",
            &o_ns,
            "route",
            "add",
            "172.31.1.1",
            "dev",
            "eth0",
            "scope",
            "link",
        ],
    );
    ok(
        "ip",
        &["-n", &o_ns, "route", "add", "default", "via", "172.31.1.1"],
    );
    let mut listener = Command::new("ip")
        .args(["netns", "exec", &o_ns, "timeout", "60", "python3", "-c"])
        .arg(format!("import socket\ns=socket.socket()\ns.bind(('{o_ip}',8080))\ns.listen()\nprint('ready',flush=True)\nc,a=s.accept()\nprint(a[0],flush=True)"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = BufReader::new(listener.stdout.take().unwrap());
    let mut line = String::new();
    seen.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    eprintln!("step: connect to the outside");
    let send = format!("timeout 5 bash -c 'echo hi > /dev/tcp/{o_ip}/8080'");
    cloud.ssh_until("known_hosts", &jump, "root@10.0.1.21", &send, succeeded);
    line.clear();
    seen.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), public, "the outside saw {line:?}");
    listener.wait().unwrap();
    ok("ip", &["netns", "del", &o_ns]);

    eprintln!("step: A firewall without");
    // A firewall without a port-22 rule blocks ssh to the public address;
    // with one, ssh works again.
    let fw = cloud
        .post(
            "/firewalls",
            json!({"name": "web", "rules": [{"direction": "in", "protocol": "tcp", "port": "80", "source_ips": ["0.0.0.0/0"]}],
                   "apply_to": [{"type": "label_selector", "label_selector": {"selector": "role=control"}}]}),
        )
        .await["firewall"]["id"]
        .as_i64()
        .unwrap();
    let out = cloud.ssh_until("known_hosts", &[], &target, "true", |o| !o.status.success());
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    cloud
        .post(
            &format!("/firewalls/{fw}/actions/set_rules"),
            json!({"rules": [{"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0"]}]}),
        )
        .await;
    let out = cloud.ssh_until("known_hosts", &[], &target, "hostname", succeeded);
    assert_eq!(stdout(&out), "control");

    eprintln!("step: Delete: the address");
    // Delete: the address stops answering and the VM's namespace is gone.
    cloud
        .call(
            reqwest::Method::DELETE,
            &format!("/servers/{control}"),
            None,
        )
        .await;
    cloud.ssh_until("known_hosts", &[], &target, "true", |o| !o.status.success());
    let vm_ns = format!("{prefix}-vm{control}");
    let start = Instant::now();
    while ok("ip", &["netns", "list"])
        .lines()
        .any(|l| l.split_whitespace().next() == Some(vm_ns.as_str()))
    {
        assert!(start.elapsed() < DEADLINE, "{vm_ns} outlived its server");
        std::thread::sleep(Duration::from_millis(100));
    }

    eprintln!("step: Stop: nothing");
    // Stop: nothing of this run is left.
    let stderr = cloud.stop();
    assert_eq!(ours_left(&prefix), Vec::<String>::new(), "{stderr}");
    assert!(!Path::new(&format!("/run/{prefix}-vms")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_after_a_crash_removes_what_the_crashed_run_left() {
    if !available() {
        return;
    }
    let (prefix, pool) = unique(1);
    let mut cloud = Cloud::start(&prefix, &pool);
    cloud
        .post(
            "/ssh_keys",
            json!({"name": "me", "public_key": cloud.read("client.pub")}),
        )
        .await;
    let s = cloud
        .post("/servers", json!({"name": "lost", "server_type": "cpx22", "image": "ubuntu-24.04", "location": "fsn1", "ssh_keys": ["me"]}))
        .await;
    let id = s["server"]["id"].as_i64().unwrap();
    let vm_ns = format!("{prefix}-vm{id}");
    let start = Instant::now();
    while !ok("ip", &["netns", "list"]).contains(&vm_ns) {
        assert!(start.elapsed() < DEADLINE, "no VM came up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A crash: no cleanup runs.
    cloud.child.kill().unwrap();
    cloud.child.wait().unwrap();
    assert!(!ours_left(&prefix).is_empty());
    let again = Cloud::start(&prefix, &pool);
    let left = ok("ip", &["netns", "list"]);
    assert!(!left.contains(&vm_ns), "{left}");
    let stderr = again.stop();
    assert!(
        stderr.contains("removed namespaces an earlier run left"),
        "{stderr}"
    );
    assert_eq!(ours_left(&prefix), Vec::<String>::new());
}
