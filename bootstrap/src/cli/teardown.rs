//! `k3strading teardown`: stateless removal by label. The Primary IPs stay.

use std::io::{BufRead as _, Write as _};
use std::time::Duration;

use anyhow::bail;
use comfy_table::{Table, presets::ASCII_FULL};
use k3strading_cluster::Hetzner;
use k3strading_cluster::inventory::Inventory;
use k3strading_cluster::teardown::{Scope, teardown};
use tokio_util::sync::CancellationToken;

use super::access::hetzner_client;

/// What the teardown removes and keeps, one row per object.
pub fn plan_table(inv: &Inventory) -> Table {
    let mut t = Table::new();
    t.load_preset(ASCII_FULL);
    t.set_header(["KIND", "NAME", "ID", "ACTION"]);
    for s in &inv.servers {
        t.add_row([
            "server".to_owned(),
            s.name.clone(),
            s.id.to_string(),
            "delete".to_owned(),
        ]);
    }
    if let Some(n) = &inv.network {
        t.add_row([
            "network".to_owned(),
            n.name.clone(),
            n.id.to_string(),
            "delete".to_owned(),
        ]);
    }
    if let Some(f) = &inv.firewall {
        t.add_row([
            "firewall".to_owned(),
            f.name.clone(),
            f.id.to_string(),
            "delete".to_owned(),
        ]);
    }
    for p in &inv.placement_groups {
        t.add_row([
            "placement group".to_owned(),
            p.name.clone(),
            p.id.to_string(),
            "delete".to_owned(),
        ]);
    }
    if let Some(k) = &inv.ssh_key {
        t.add_row([
            "ssh key".to_owned(),
            k.name.clone(),
            k.id.to_string(),
            "delete".to_owned(),
        ]);
    }
    for ip in &inv.primary_ips {
        t.add_row([
            "primary ip".to_owned(),
            format!("{} ({})", ip.name, ip.ip),
            ip.id.to_string(),
            "keep".to_owned(),
        ]);
    }
    t
}

/// Lists, confirms and removes.
pub async fn run(cluster: &str, yes: bool, dry_run: bool, timeout: Duration) -> anyhow::Result<()> {
    let api = hetzner_client()?;
    let cancel = CancellationToken::new();
    let hz = Hetzner::new(&api, &cancel);
    let inv = Inventory::read(&hz, cluster).await?;
    if inv.only_primary_ips() {
        println!(
            "cluster {cluster}: nothing to remove (only its Primary IPs exist, and they stay)"
        );
        return Ok(());
    }
    println!("{}", plan_table(&inv));
    if dry_run {
        println!("dry run: nothing removed");
        return Ok(());
    }
    if !yes {
        print!("Type the cluster name ({cluster}) to remove it: ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != cluster {
            bail!("not confirmed: nothing removed");
        }
    }
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    teardown(&hz, cluster, Scope::Everything, timeout).await?;
    let after = Inventory::read(&hz, cluster).await?;
    println!(
        "cluster {cluster} removed; kept {} Primary IP(s): {}",
        after.primary_ips.len(),
        after
            .primary_ips
            .iter()
            .map(|ip| format!("{} {}", ip.name, ip.ip))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
