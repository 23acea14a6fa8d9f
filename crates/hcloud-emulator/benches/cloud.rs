//! Figures for the local cloud and the client: emulator requests per second
//! on this machine, and how many API requests the client spends to create a
//! server, attach it to a network with a fixed IP, power it on and wait.
//!
//! Run: `cargo bench -p hcloud-emulator`

use std::time::{Duration, Instant};

use hcloud::models::Labels;
use hcloud::{Client, Config, CreatePublicNet, CreateServer, PollPolicy, Token};
use hcloud_emulator::world::Latency;
use hcloud_emulator::{Options, Shared, app};
use tokio_util::sync::CancellationToken;

async fn start(latency: Latency) -> anyhow::Result<String> {
    let mut opts = Options::new("bench");
    opts.latency = latency;
    opts.rate_limit = 10_000_000;
    opts.refill_per_sec = 1_000_000.0;
    let emu = Shared::new(opts).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app(emu)).await });
    Ok(format!("http://{addr}/v1"))
}

async fn throughput(url: &str, workers: usize, window: Duration) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (http, url) = (http.clone(), format!("{url}/servers"));
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < window {
                let ok = http
                    .get(&url)
                    .bearer_auth("bench")
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                n += u64::from(ok);
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

async fn server_flow(latency: Latency, label: &str) -> anyhow::Result<()> {
    let url = start(latency).await?;
    let mut cfg = Config::new(&url, Token::new("bench"));
    cfg.poll = PollPolicy {
        initial: Duration::from_millis(500),
        cap: Duration::from_secs(10),
    };
    let c = Client::new(cfg)?;
    let net = c
        .create_network(
            "bench",
            "10.0.0.0/16",
            "10.0.1.0/24",
            "eu-central",
            &Labels::new(),
        )
        .await?;
    let before = c.request_counts();
    let t = Instant::now();
    let cancel = CancellationToken::new();
    let created = c
        .create_server(&CreateServer {
            name: "bench-0".into(),
            server_type: "cpx22".into(),
            image: "ubuntu-24.04".into(),
            location: "fsn1".into(),
            start_after_create: false,
            public_net: CreatePublicNet {
                enable_ipv4: false,
                enable_ipv6: false,
                ipv4: None,
            },
            ..CreateServer::default()
        })
        .await?;
    c.wait_action(&created.action, Duration::from_secs(120), &cancel)
        .await?;
    let attach = c
        .attach_to_network(created.server.id, net.id, Some("10.0.1.30"))
        .await?;
    c.wait_action(&attach, Duration::from_secs(120), &cancel)
        .await?;
    let on = c.poweron(created.server.id).await?;
    c.wait_action(&on, Duration::from_secs(120), &cancel)
        .await?;
    let elapsed = t.elapsed();
    let after = c.request_counts();
    let mut spent: Vec<(String, u64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    spent.sort();
    let total: u64 = spent.iter().map(|(_, v)| v).sum();
    println!("create+attach+poweron+wait ({label}): {total} requests in {elapsed:.2?}");
    for (k, v) in spent {
        println!("    {v:>3}  {k}");
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let url = start(Latency::Instant).await?;
    for workers in [1, 4] {
        let rps = throughput(&url, workers, Duration::from_secs(3)).await?;
        println!("emulator GET /servers, {workers} client(s): {rps:.0} requests/s");
    }
    server_flow(Latency::Instant, "instant profile").await?;
    server_flow(
        Latency::Realistic { scale: 0.1 },
        "realistic profile, time scale 0.1",
    )
    .await?;
    Ok(())
}
