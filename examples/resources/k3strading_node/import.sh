# Import a node by its server name. taints, ssh_private_key and timeouts are not stored at
# Hetzner and stay empty after import.
terraform import 'k3strading_node.kafka[0]' k3s-trading-prod-kafka-0
