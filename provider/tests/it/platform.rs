//! The Kubernetes side on the local cloud's VMs: `terraform/` applied through
//! real Terraform, then the real `k3strading` binary bootstraps, renders,
//! reports and tears down; real kubectl (through `ssh -L`) and real OpenSSH
//! check the result. K3s is the labelled stand-in, with its simulated Helm
//! controller and operators.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::*;
use crate::vms::{cluster_attr, kubectl};

/// The `k3strading` binary, built beside the provider by `cargo test --workspace`.
fn k3strading_bin() -> PathBuf {
    let bin = Path::new(BIN).parent().unwrap().join("k3strading");
    assert!(
        bin.exists(),
        "{} is needed: cargo build --workspace --bins",
        bin.display()
    );
    bin
}

fn run(cloud: &Cloud, args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new("timeout")
        .arg("600")
        .arg(k3strading_bin())
        .args(args)
        .env("HCLOUD_ENDPOINT", &cloud.url)
        .env("HCLOUD_TOKEN", TOKEN)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// resourceVersion of every object kubectl lists for `kinds`.
fn versions(get: &dyn Fn(&[&str]) -> Output, kinds: &str) -> Vec<(String, String)> {
    let out = get(&["get", kinds, "-A", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut v: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["metadata"]["namespace"].as_str().unwrap_or_default(),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                ),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn bootstrap_render_status_and_teardown_on_vms() {
    if vms_skipped() {
        return;
    }
    let tf = &terraforms()[0];
    let cloud = Cloud::start_vms("pbs", "100.64.215.0/24");
    let wd = workdir(tf, &cloud, None);
    let dir = wd.path().to_path_buf();
    ok(wd.run(&APPLY), "apply on VMs");
    let key = ok(
        wd.run(&["output", "-raw", "ssh_private_key"]),
        "the key output",
    )
    .stdout;
    assert!(key.contains("OPENSSH PRIVATE KEY"), "no key in the output");
    let cluster = "k3s-trading-dev";

    // Render first: objects from live facts, nothing applied, all valid.
    let rendered = dir.join("rendered");
    let out = run(
        &cloud,
        &[
            "bootstrap",
            "--cluster",
            cluster,
            "--ssh-key",
            "-",
            "--render",
        ],
        &key,
    );
    assert!(!out.status.success(), "--render without DIR was accepted");
    let out = run(
        &cloud,
        &[
            "bootstrap",
            "--cluster",
            cluster,
            "--ssh-key",
            "-",
            "--render",
            rendered.to_str().unwrap(),
        ],
        &key,
    );
    assert!(out.status.success(), "{}", text(&out));
    let objects = crate::platform::documents(&rendered);
    assert!(
        objects.len() >= 20,
        "only {} objects rendered",
        objects.len()
    );
    let kafka = objects
        .iter()
        .find(|o| o["kind"] == "Kafka")
        .expect("no Kafka rendered");
    let kafka_ip = cloud
        .emu
        .world()
        .primary_ips
        .values()
        .find(|p| p.name == format!("{cluster}-kafka"))
        .unwrap()
        .ip
        .clone();
    assert!(
        kafka.to_string().contains(&kafka_ip),
        "the Kafka listener does not advertise Primary IP #2 ({kafka_ip})"
    );
    match kube_schemas::Schemas::find_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap())
        .unwrap()
    {
        Some(schemas) => {
            let schemas = kube_schemas::Schemas::load(&schemas).unwrap();
            for o in &objects {
                if o["kind"] == "KafkaUser" {
                    continue; // the schemas directory has no KafkaUser CRD
                }
                if let Err(e) = schemas.validate(o) {
                    panic!("rendered object is invalid: {e:?}");
                }
            }
        }
        None => eprintln!("SKIP schema validation: no schemas directory"),
    }

    // The control plane, pinned from state, for kubectl.
    let crate::vms::Reach {
        config,
        cp,
        kubeconfig,
    } = crate::vms::reach(&wd);
    let key_file = dir.join("id_provider");
    let get = |args: &[&str]| kubectl(&config, &cp, &dir, &kubeconfig, args);
    // Nothing was applied by --render.
    let ns = get(&["get", "namespaces", "-o", "name"]);
    assert!(
        !String::from_utf8_lossy(&ns.stdout).contains("namespace/ingestion"),
        "--render applied something"
    );

    // Bootstrap for real, with the key file this time.
    let out = run(
        &cloud,
        &[
            "bootstrap",
            "--cluster",
            cluster,
            "--ssh-key",
            key_file.to_str().unwrap(),
            "--timeout",
            "5m",
        ],
        "",
    );
    assert!(out.status.success(), "bootstrap: {}", text(&out));
    let said = text(&out);
    eprintln!("first bootstrap:\n{}", String::from_utf8_lossy(&out.stdout));
    for phase in ["namespaces and policy", "Kafka ready", "ArgoCD available"] {
        assert!(said.contains(phase), "no {phase} in:\n{said}");
    }
    // Real kubectl lists what was applied.
    for (args, want) in [
        (
            vec!["get", "namespaces", "-o", "name"],
            vec![
                "namespace/kafka",
                "namespace/ingestion",
                "namespace/strategies",
                "namespace/monitoring",
                "namespace/argocd",
            ],
        ),
        (
            vec!["get", "priorityclasses", "-o", "name"],
            vec!["trading-high", "trading-medium", "trading-low"],
        ),
        (
            vec!["get", "resourcequotas", "-A", "-o", "name"],
            vec!["resourcequota/"],
        ),
        (
            vec!["get", "kafkas", "-A", "-o", "json"],
            vec!["\"Ready\"", "4.0.0"],
        ),
        (
            vec!["get", "kafkanodepools", "-A", "-o", "name"],
            vec!["kafkanodepool"],
        ),
        (
            vec!["get", "applications", "-n", "argocd", "-o", "name"],
            vec!["root"],
        ),
    ] {
        let out = get(&args);
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
        for w in want {
            assert!(listed.contains(w), "kubectl {args:?} lacks {w}:\n{listed}");
        }
    }
    // Running it again changes nothing: every object keeps its resourceVersion.
    let kinds = "namespaces,priorityclasses,resourcequotas,limitranges,helmcharts,kafkas,kafkanodepools,applications";
    let before = versions(&get, kinds);
    let again = run(
        &cloud,
        &["bootstrap", "--cluster", cluster, "--ssh-key", "-"],
        &key,
    );
    assert!(again.status.success(), "second bootstrap: {}", text(&again));
    assert_eq!(
        versions(&get, kinds),
        before,
        "the second bootstrap changed objects"
    );

    // Quotas follow the app nodes: a second app node, bootstrap again, and
    // ingestion's quota is recomputed from both.
    let quota = |get: &dyn Fn(&[&str]) -> Output| -> (String, String) {
        let out = get(&["get", "resourcequota", "-n", "ingestion", "-o", "json"]);
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        let hard = &list["items"][0]["spec"]["hard"];
        (
            hard["requests.cpu"].as_str().unwrap().to_owned(),
            hard["requests.memory"].as_str().unwrap().to_owned(),
        )
    };
    let one = quota(&get);
    ok(
        wd.run(&[
            "apply",
            "-auto-approve",
            "-no-color",
            "-var",
            "env=dev",
            "-var",
            "app_count=2",
        ]),
        "apply with app_count=2",
    );
    let grown = run(
        &cloud,
        &["bootstrap", "--cluster", cluster, "--ssh-key", "-"],
        &key,
    );
    assert!(
        grown.status.success(),
        "bootstrap after scaling: {}",
        text(&grown)
    );
    let two = quota(&get);
    let millis = |q: &str| -> u64 {
        q.strip_suffix('m')
            .map(|m| m.parse().unwrap())
            .unwrap_or_else(|| q.parse::<u64>().unwrap() * 1000)
    };
    let (c1, c2) = (millis(&one.0), millis(&two.0));
    assert!(
        c2 >= 2 * c1 - 1 && c2 <= 2 * c1 + 1,
        "ingestion's CPU quota did not follow the second app node: {one:?} -> {two:?}"
    );
    assert_ne!(one.1, two.1, "the memory quota did not change");

    // Status: nodes with roles and labels, from the live cluster.
    let status = run(
        &cloud,
        &["status", "--cluster", cluster, "--ssh-key", "-"],
        &key,
    );
    assert!(status.status.success(), "status: {}", text(&status));
    let table = String::from_utf8_lossy(&status.stdout).into_owned();
    for want in [
        "k3s-trading-dev-control",
        "k3s-trading-dev-kafka-2",
        "k3s-trading-dev-app-0",
        "10.0.1.21",
        "ingestion",
        "trading-high",
    ] {
        assert!(table.contains(want), "status lacks {want}:\n{table}");
    }

    // kubeconfig + tunnel: the API on a local port, no public port opened.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let kc = dir.join("k3strading.kubeconfig");
    let out = run(
        &cloud,
        &[
            "kubeconfig",
            "--cluster",
            cluster,
            "--ssh-key",
            "-",
            "--port",
            &port,
            "-o",
            kc.to_str().unwrap(),
        ],
        &key,
    );
    assert!(out.status.success(), "kubeconfig: {}", text(&out));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&kc).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the kubeconfig is not 0600");
    assert!(
        std::fs::read_to_string(&kc)
            .unwrap()
            .contains(&format!("server: https://127.0.0.1:{port}"))
    );
    let mut tunnel = Command::new(k3strading_bin())
        .args([
            "tunnel",
            "--cluster",
            cluster,
            "--ssh-key",
            key_file.to_str().unwrap(),
            "--port",
            &port,
            "--argocd-port",
            "0",
        ])
        .env("HCLOUD_ENDPOINT", &cloud.url)
        .env("HCLOUD_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kubectl_bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/kubectl/bin/kubectl");
    let started = std::time::Instant::now();
    let nodes = loop {
        let out = Command::new(&kubectl_bin)
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["get", "nodes", "-o", "name", "--request-timeout=10s"])
            .output()
            .unwrap();
        if out.status.success() || started.elapsed() > std::time::Duration::from_secs(60) {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let _ = tunnel.kill();
    let _ = tunnel.wait();
    assert!(
        nodes.status.success(),
        "kubectl through k3strading tunnel: {}",
        text(&nodes)
    );
    assert_eq!(String::from_utf8_lossy(&nodes.stdout).lines().count(), 6);

    // Teardown without state: only the two Primary IPs remain.
    let gone = run(&cloud, &["teardown", "--cluster", cluster, "--yes"], "");
    assert!(gone.status.success(), "teardown: {}", text(&gone));
    let after = cloud.inventory();
    assert!(after.servers.is_empty(), "{after:?}");
    assert_eq!(
        (
            after.networks,
            after.firewalls,
            after.placement_groups,
            after.ssh_keys
        ),
        (0, 0, 0, 0)
    );
    assert!(
        after.primary_ips.len() == 2
            && after
                .primary_ips
                .iter()
                .all(|(_, _, assigned, protected)| !*assigned && *protected),
        "{after:?}"
    );
}

/// Every YAML document in `dir`'s files, in file order.
pub fn documents(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !v.is_null() {
                out.push(v);
            }
        }
    }
    out
}

/// `scripts/deploy.sh`, as the GitHub workflow runs it, against the local
/// cloud's VMs: create (terraform apply, bootstrap, status, a job summary),
/// then the stateless destroy.
#[test]
fn the_deploy_script_creates_and_destroys_on_vms() {
    if vms_skipped() {
        return;
    }
    let tf = &terraforms()[0];
    let cloud = Cloud::start_vms("pds", "100.64.216.0/24");
    let wd = workdir(tf, &cloud, None);
    let dir = wd.path().to_path_buf();
    let summary = dir.join("summary.md");
    let deploy = |action: &str| -> Output {
        deploy_script(&wd, action, "dev", 900)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap()
    };
    let created = deploy("create");
    assert!(
        created.status.success(),
        "deploy.sh create: {}",
        text(&created)
    );
    let said = text(&created);
    assert!(said.contains("k3s-trading-dev is up"), "{said}");
    let md = std::fs::read_to_string(&summary).unwrap();
    let kafka_ip = cloud
        .emu
        .world()
        .primary_ips
        .values()
        .find(|p| p.name == "k3s-trading-dev-kafka")
        .unwrap()
        .ip
        .clone();
    for want in [
        "## `k3s-trading-dev` created",
        "### Phases of terraform apply",
        "control-plane server",
        "install the agent",
        kafka_ip.as_str(),
        "Kafka ready",
        "k3s-trading-dev-kafka-1",
        "trading-high",
    ] {
        assert!(md.contains(want), "the summary lacks {want}:\n{md}");
    }
    // The login key went through a pipe: it is in neither output nor summary.
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("terraform.tfstate")).unwrap())
            .unwrap();
    let key = cluster_attr(&state, "ssh_private_key");
    let body: String = key.lines().filter(|l| !l.contains("OPENSSH")).collect();
    let probe: String = body.chars().skip(216).take(40).collect();
    assert!(probe.len() == 40 && !said.contains(&probe) && !md.contains(&probe));

    let destroyed = deploy("destroy");
    assert!(
        destroyed.status.success(),
        "deploy.sh destroy: {}",
        text(&destroyed)
    );
    let after = cloud.inventory();
    assert!(after.servers.is_empty(), "{after:?}");
    assert_eq!(
        (
            after.networks,
            after.firewalls,
            after.placement_groups,
            after.ssh_keys
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(after.primary_ips.len(), 2, "{after:?}");
}

/// Stops the detached local cloud `make run` left, if the test ends early.
struct DetachedCloud(PathBuf);

impl DetachedCloud {
    fn pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.0.join("cloud.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        alive(pid).then_some(pid)
    }
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

impl Drop for DetachedCloud {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            for _ in 0..600 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// `make run` and `make destroy`, the demo a newcomer runs: the cloud starts
/// with VMs in the background, the dev cluster is created and bootstrapped
/// through the daily deploy script, the cluster table and phase timings are
/// printed, and the cloud outlives `make run` so that `make destroy` can
/// take it all down again, keeping only the two Primary IPs.
#[test]
fn make_run_shows_the_cluster_and_make_destroy_removes_it() {
    if vms_skipped() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let work = tempfile::tempdir().unwrap();
    let detached = DetachedCloud(work.path().to_path_buf());
    let target = Path::new(BIN).parent().unwrap().parent().unwrap();
    let make = |goal: &str| -> Output {
        Command::new("timeout")
            .args(["900", "make", "-s", "-C"])
            .arg(root)
            .arg(goal)
            .env("K3STRADING_LOCAL_DIR", work.path())
            .env("K3STRADING_NO_BUILD", "1")
            .env("CARGO_TARGET_DIR", target)
            .env("TERRAFORM", &terraforms()[0].bin)
            .env(
                "LOCAL_CLOUD_ARGS",
                "--vms-prefix prl --ipv4-pool 100.64.217.0/24",
            )
            .env_remove("K3STRADING_SSH_PRIVATE_KEY")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("TF_LOG")
            .env_remove("MAKEFLAGS")
            .output()
            .unwrap()
    };
    let ran = make("run");
    let said = text(&ran);
    assert!(ran.status.success(), "make run: {said}");

    // The cluster table: every node with its roles, labels and private IP.
    for (node, roles, kafka, app, ip) in [
        ("control", "control-plane", "no", "no", "10.0.1.10"),
        ("kafka-0", "kafka", "yes", "no", "10.0.1.20"),
        ("kafka-1", "kafka", "yes", "no", "10.0.1.21"),
        ("kafka-2", "kafka", "yes", "no", "10.0.1.22"),
        ("app-0", "app", "no", "yes", "10.0.1.30"),
    ] {
        let row = said
            .lines()
            .find(|l| l.starts_with(&format!("| k3s-trading-dev-{node} ")))
            .unwrap_or_else(|| panic!("no row for {node} in:\n{said}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(&cells[2..7], [roles, kafka, app, ip, "yes"], "{row}");
    }
    // The two Primary IPs, as the cloud assigned them.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("cloud-state.json")).unwrap(),
    )
    .unwrap();
    let ip_of = |name: &str| -> String {
        state["primary_ips"]
            .as_object()
            .unwrap()
            .values()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no Primary IP {name}"))["ip"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (control, kafka) = (
        ip_of("k3s-trading-dev-control"),
        ip_of("k3s-trading-dev-kafka"),
    );
    assert!(
        said.contains(&format!(
            "k3s-trading-dev is up: control plane {control}, Kafka {kafka}"
        )),
        "{said}"
    );
    // Phase timings: the cluster's steps, then each node's.
    let timings = &said[said.find("Phase timings").expect("no phase timings")..];
    for step in ["Primary IPs", "network", "control-plane server"] {
        assert!(timings.contains(step), "no {step} in:\n{timings}");
    }
    for step in ["server", "install the agent", "Node Ready"] {
        let n = timings
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .contains(&format!("{step} "))
            })
            .count();
        assert!(
            n >= 4,
            "{step} is listed {n} times, not once per node:\n{timings}"
        );
    }
    assert!(said.contains("make destroy"), "{said}");

    // The cloud outlives `make run`, and `env` points at it.
    let pid = detached
        .pid()
        .expect("the local cloud stopped with make run");
    let env = Command::new("bash")
        .arg(root.join("scripts/run-local.sh"))
        .arg("env")
        .env("K3STRADING_LOCAL_DIR", work.path())
        .output()
        .unwrap();
    assert!(env.status.success(), "{}", text(&env));
    let url = std::fs::read_to_string(work.path().join("cloud.out")).unwrap();
    let url = url.trim().trim_start_matches("listening on ");
    assert!(
        text(&env).contains(&format!("HCLOUD_ENDPOINT={url} ")),
        "{}",
        text(&env)
    );

    let destroyed = make("destroy");
    assert!(
        destroyed.status.success(),
        "make destroy: {}",
        text(&destroyed)
    );
    assert!(
        !alive(pid),
        "the local cloud is still running after make destroy"
    );
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains("prl"),
        "VM namespaces are left: {}",
        String::from_utf8_lossy(&netns.stdout)
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("cloud-state.json")).unwrap(),
    )
    .unwrap();
    let count = |k: &str| state[k].as_object().map_or(0, |o| o.len());
    assert_eq!(
        [
            "servers",
            "networks",
            "firewalls",
            "placement_groups",
            "ssh_keys",
            "primary_ips"
        ]
        .map(count),
        [0, 0, 0, 0, 0, 2],
        "{state}"
    );
}
