resource "k3strading_cluster" "prod" {
  name               = "k3s-trading-prod"
  location           = "fsn1"
  network_cidr       = "10.0.1.0/24"
  control_plane_type = "cpx22"
  control_plane_ip   = "10.0.1.10"

  # Persistent public IPv4s, created once and reused by name ever after.
  primary_ips              = ["control", "kafka"]
  control_plane_primary_ip = "control"

  ssh_allowed_cidrs   = ["203.0.113.0/24"]
  kafka_allowed_cidrs = ["198.51.100.0/24"]

  labels = {
    env = "prod"
  }
}
