#!/usr/bin/env bash
# The main job on the local cloud: builds the provider and k3strading-cloud,
# starts the cloud (state kept in .local-cloud/), and runs Terraform on
# terraform/ with a dev_overrides CLI configuration. No Hetzner account needed.
#
#   scripts/run-local.sh                    # apply -var env=dev
#   scripts/run-local.sh plan -var env=prod
#   scripts/run-local.sh destroy -var env=dev
#
# Against real Hetzner, run terraform in terraform/ with HCLOUD_TOKEN set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tf=${TERRAFORM:-$root/.venv/bin/terraform-1.15.5}
target=${CARGO_TARGET_DIR:-$root/target}
work=$root/.local-cloud
mkdir -p "$work/tf" "$work/plugins"
cargo build --quiet -p k3strading-provider -p hcloud-emulator --bins

ln -sf "$target/debug/terraform-provider-k3strading" "$work/plugins/"
cat > "$work/terraformrc" <<CFG
provider_installation {
  dev_overrides {
    "registry.terraform.io/k3strading/k3strading" = "$work/plugins"
  }
  direct {}
}
CFG
cp "$root"/terraform/*.tf "$work/tf/"

token=local-dev-token
"$target/debug/k3strading-cloud" serve --listen 127.0.0.1:0 --token "$token" \
  --state "$work/cloud-state.json" > "$work/cloud.out" 2> "$work/cloud.err" &
cloud=$!
trap 'kill $cloud 2>/dev/null; wait $cloud 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -s "$work/cloud.out" ] && break
  sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$work/cloud.out")
[ -n "$url" ] || { cat "$work/cloud.err" >&2; exit 1; }
echo "local cloud: $url (state: $work/cloud-state.json)"

export HCLOUD_ENDPOINT=$url HCLOUD_TOKEN=$token TF_CLI_CONFIG_FILE=$work/terraformrc CHECKPOINT_DISABLE=1
cmd=${1:-apply}
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-var env=dev)
case $cmd in
  apply|destroy) "$tf" -chdir="$work/tf" "$cmd" -input=false -auto-approve "${args[@]}" ;;
  *) "$tf" -chdir="$work/tf" "$cmd" -input=false "${args[@]}" ;;
esac
