terraform {
  required_providers {
    k3strading = {
      source = "k3strading/k3strading"
    }
  }
}

# Credentials come from the environment: HCLOUD_TOKEN (and HCLOUD_ENDPOINT to
# use the local cloud, k3strading-cloud).
provider "k3strading" {}
