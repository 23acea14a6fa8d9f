# Import a cluster by its name. The generated secrets (k3s_token,
# ssh_private_key) cannot be read back and stay empty after import.
terraform import k3strading_cluster.prod k3s-trading-prod
