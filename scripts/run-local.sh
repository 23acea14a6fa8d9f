#!/usr/bin/env bash
# The main job on the local cloud: builds the provider and k3strading-cloud,
# starts the cloud (state kept in .local-cloud/), and runs Terraform on
# terraform/ with a dev_overrides CLI configuration. No Hetzner account needed.
# As root, the cloud runs with --vms (servers are VMs you can SSH into, with
# a stand-in internet serving K3s) when the machine allows it, and in API-only
# mode otherwise; LOCAL_CLOUD_VMS=0 forces API-only mode.
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
cargo build --quiet -p k3strading-provider -p hcloud-emulator -p k3strading-k3s-standin --bins

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
cloud=""
trap '[ -z "$cloud" ] || { kill "$cloud" 2>/dev/null; wait "$cloud" 2>/dev/null || true; }' EXIT
# Starts the cloud with the given extra options; succeeds once it is ready.
start_cloud() {
  : > "$work/cloud.out"
  # LOCAL_CLOUD_ARGS adds serve options, e.g. "--latency realistic --time-scale 0.1".
  # shellcheck disable=SC2086
  "$target/debug/k3strading-cloud" serve --listen 127.0.0.1:0 --token "$token" \
    --state "$work/cloud-state.json" ${LOCAL_CLOUD_ARGS:-} "$@" > "$work/cloud.out" 2> "$work/cloud.err" &
  cloud=$!
  # --vms builds its network first: allow it some seconds.
  for _ in $(seq 400); do
    [ -s "$work/cloud.out" ] && break
    kill -0 "$cloud" 2>/dev/null || break
    sleep 0.05
  done
  url=$(sed -n 's/^listening on //p' "$work/cloud.out")
  if [ -z "$url" ]; then
    wait "$cloud" 2>/dev/null || true
    cloud=""
    return 1
  fi
}
mode="API only"
if [ "${LOCAL_CLOUD_VMS:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
  if start_cloud --vms; then
    mode="VMs (--vms)"
  else
    echo "local cloud: --vms refused: $(grep -m1 -v '^$' "$work/cloud.err"); falling back to API-only mode" >&2
  fi
fi
if [ -z "$cloud" ]; then
  start_cloud || { cat "$work/cloud.err" >&2; exit 1; }
  # Without VMs there is nothing to SSH into: bare servers only.
  export TF_VAR_install_k3s=false
  mode="API only (install_k3s = false: no K3s without VMs)"
fi
echo "local cloud: $url, $mode (state: $work/cloud-state.json)"

export HCLOUD_ENDPOINT=$url HCLOUD_TOKEN=$token TF_CLI_CONFIG_FILE=$work/terraformrc CHECKPOINT_DISABLE=1
cmd=${1:-apply}
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-var env=dev)
case $cmd in
  apply|destroy) "$tf" -chdir="$work/tf" "$cmd" -input=false -auto-approve "${args[@]}" ;;
  *) "$tf" -chdir="$work/tf" "$cmd" -input=false "${args[@]}" ;;
esac
