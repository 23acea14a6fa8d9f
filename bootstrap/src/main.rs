//! `k3strading`: bootstrap, status, teardown, kubeconfig and tunnel for a cluster.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
