# kafka-0 holds the "kafka" Primary IP; the other nodes are private-only and
# reach the internet through the control plane.
resource "k3strading_node" "kafka" {
  count      = 3
  cluster    = k3strading_cluster.prod.name
  name       = "k3s-trading-prod-kafka-${count.index}"
  role       = "kafka"
  private_ip = "10.0.1.${20 + count.index}"
  primary_ip = count.index == 0 ? "kafka" : null
}

resource "k3strading_node" "app" {
  cluster    = k3strading_cluster.prod.name
  name       = "k3s-trading-prod-app-0"
  role       = "app"
  private_ip = "10.0.1.30"
  taints     = ["dedicated=strategies:NoSchedule"]
}
