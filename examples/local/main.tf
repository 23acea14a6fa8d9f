# The seed layout on the local cloud: no Hetzner account, no token of yours.
#
#   target/debug/k3strading-cloud serve --listen 127.0.0.1:8484 --token local-dev-token &
#   export HCLOUD_ENDPOINT=http://127.0.0.1:8484/v1 HCLOUD_TOKEN=local-dev-token
#   terraform apply -var env=dev        (with a dev_overrides CLI configuration)
#
# `make run` does all of this for you.
module "trading" {
  source    = "../../terraform"
  env       = var.env
  app_count = 2
}

variable "env" {
  type    = string
  default = "dev"
}

output "control_plane_ipv4" {
  value = module.trading.control_plane_ipv4
}

output "kafka_ip" {
  value = module.trading.kafka_ip
}

output "servers" {
  value = module.trading.servers
}
