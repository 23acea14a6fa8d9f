#!/usr/bin/env bash
# Plans examples/tfexample with the locally built example provider through a
# dev_overrides CLI configuration: no `terraform init`, no registry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tf=${TERRAFORM:-$root/.venv/bin/terraform-1.15.5}
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugins"
ln -s "$target/debug/terraform-provider-tfexample" "$work/plugins/"
ln -s "$target/debug/terraform-provider-k3strading" "$work/plugins/"
cat > "$work/terraformrc" <<CFG
provider_installation {
  dev_overrides {
    "registry.terraform.io/k3strading/tfexample"  = "$work/plugins"
    "registry.terraform.io/k3strading/k3strading" = "$work/plugins"
  }
  direct {}
}
CFG
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
cp "$root"/examples/tfexample/*.tf "$work/"
cd "$work"
"$tf" plan -input=false "$@"
