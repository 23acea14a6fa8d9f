# The trading cluster: `terraform apply -var env=prod`.
#
# Needs only HCLOUD_TOKEN in the environment (and HCLOUD_ENDPOINT for the
# local cloud). Two Primary IPv4s are created on the first run and reused by
# name ever after; `terraform destroy` removes the servers and the per-run
# objects and keeps those IPs, unassigned and delete-protected.

terraform {
  required_version = ">= 1.11"
  required_providers {
    k3strading = {
      source = "k3strading/k3strading"
    }
  }
}

# No provider block: the provider reads HCLOUD_TOKEN itself, and this
# directory also works as a module (examples/local).

variable "env" {
  description = "Environment name; the cluster is k3s-trading-<env>."
  type        = string
  default     = "dev"
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$", var.env))
    error_message = "env must be lowercase letters, digits and '-' (e.g. dev, prod)."
  }
}

variable "location" {
  description = "Hetzner location."
  type        = string
  default     = "fsn1"
}

variable "server_type" {
  description = "Server type of every node (cpx22: 2 vCPU, 4 GB)."
  type        = string
  default     = "cpx22"
}

variable "app_count" {
  description = "Number of app VMs (10.0.1.30 upwards)."
  type        = number
  default     = 1
  validation {
    condition     = var.app_count >= 0 && var.app_count <= 200 && floor(var.app_count) == var.app_count
    error_message = "app_count must be a whole number from 0 to 200 (app VMs take 10.0.1.30 to 10.0.1.229)."
  }
}

variable "ssh_allowed_cidrs" {
  description = "Who may reach SSH on the public addresses."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "kafka_allowed_cidrs" {
  description = "Who may reach the Kafka NodePorts on kafka-0's Primary IP (TLS + SCRAM). Default: nobody; list your clients' addresses."
  type        = list(string)
  default     = []
}

variable "app_taints" {
  description = "Kubernetes taints of the app nodes, e.g. [\"dedicated=trading:NoSchedule\"]."
  type        = list(string)
  default     = null
}

variable "install_k3s" {
  description = "Install K3s (server, agents, role labels). false gives bare servers."
  type        = bool
  default     = true
}

variable "k3s_version" {
  description = "Pinned K3s release."
  type        = string
  default     = "v1.34.1+k3s1"
}

locals {
  cluster = "k3s-trading-${var.env}"
}

resource "k3strading_cluster" "this" {
  name                = local.cluster
  location            = var.location
  network_cidr        = "10.0.1.0/24"
  control_plane_type  = var.server_type
  control_plane_ip    = "10.0.1.10"
  primary_ips         = ["control", "kafka"]
  ssh_allowed_cidrs   = var.ssh_allowed_cidrs
  kafka_allowed_cidrs = var.kafka_allowed_cidrs
  install_k3s         = var.install_k3s
  k3s_version         = var.k3s_version
  labels = {
    env = var.env
  }
}

resource "k3strading_node" "kafka" {
  count       = 3
  cluster     = k3strading_cluster.this.name
  name        = "${local.cluster}-kafka-${count.index}"
  role        = "kafka"
  location    = var.location
  server_type = var.server_type
  private_ip  = "10.0.1.${20 + count.index}"
  # kafka-0 holds Primary IP #2 for the Kafka NodePort; the others are private-only.
  primary_ip = count.index == 0 ? "kafka" : null
  # The K3s steps log in with the cluster's key (null when the provider block has one).
  ssh_private_key = k3strading_cluster.this.ssh_private_key
  install_k3s     = var.install_k3s
  labels = {
    env = var.env
  }
}

resource "k3strading_node" "app" {
  count           = var.app_count
  cluster         = k3strading_cluster.this.name
  name            = "${local.cluster}-app-${count.index}"
  role            = "app"
  location        = var.location
  server_type     = var.server_type
  private_ip      = "10.0.1.${30 + count.index}"
  taints          = var.app_taints
  ssh_private_key = k3strading_cluster.this.ssh_private_key
  install_k3s     = var.install_k3s
  labels = {
    env = var.env
  }
}

output "control_plane_ipv4" {
  description = "Primary IP #1: SSH, ArgoCD."
  value       = k3strading_cluster.this.control_plane_ipv4
}

output "kafka_ip" {
  description = "Primary IP #2: Kafka NodePorts on kafka-0."
  value       = k3strading_cluster.this.primary_ip_addresses["kafka"]
}

output "servers" {
  description = "Server name -> private address."
  value = merge(
    { "${local.cluster}-control" = k3strading_cluster.this.control_plane_ip },
    { for n in concat(k3strading_node.kafka, k3strading_node.app) : n.name => n.private_ip },
  )
}

output "known_hosts" {
  description = "known_hosts lines pinning every server's SSH host key: public addresses and private ones (for jumps through the control plane). Servers whose key is not in state (e.g. after an import) are left out."
  value = join("\n", [
    for h in concat(
      [
        { addr = k3strading_cluster.this.control_plane_ipv4, key = k3strading_cluster.this.host_public_key },
        { addr = k3strading_cluster.this.control_plane_ip, key = k3strading_cluster.this.host_public_key },
      ],
      [for n in concat(k3strading_node.kafka, k3strading_node.app) : { addr = n.private_ip, key = n.host_public_key }],
      [for n in k3strading_node.kafka : { addr = n.ipv4_address, key = n.host_public_key }],
    ) : "${h.addr} ${h.key}" if h.addr != null && h.key != null
  ])
}

output "ssh_private_key" {
  description = "The login key (OpenSSH), for `k3strading --ssh-key -` and `ssh -i`. Null when the provider block supplies the key."
  value       = k3strading_cluster.this.ssh_private_key
  sensitive   = true
}
