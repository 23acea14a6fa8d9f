#!/usr/bin/env bash
# The whole system on this machine, no Hetzner account needed: the local
# cloud `k3strading-cloud`, the locally built provider through real
# Terraform, and the same deploy script the daily GitHub workflow runs.
#
#   scripts/run-local.sh up [ENV]        (make run) build, start the cloud in the
#                                        background, create ENV (default dev) and
#                                        bootstrap it, print the cluster table and
#                                        the phase timings
#   scripts/run-local.sh down [ENV]      (make destroy) terraform destroy ENV, then
#                                        stop the cloud; the two Primary IPs stay in
#                                        its saved state for the next `up`
#   scripts/run-local.sh env             the exports that point terraform and
#                                        k3strading at the running cloud
#   scripts/run-local.sh plan|apply|destroy|output|... ARGS
#                                        any Terraform command on terraform/,
#                                        e.g. `plan -var env=prod`
#
# As root, the cloud runs with --vms (servers are VMs you can SSH into, with
# a stand-in internet serving the K3s stand-in) when the machine allows it;
# otherwise, or with LOCAL_CLOUD_VMS=0, in API-only mode, where servers have
# no K3s (install_k3s = false) and `up` stops after terraform apply.
#
# Environment:
#   K3STRADING_LOCAL_DIR   working directory (default .local-cloud/): the cloud's
#                          state, pid and log, the Terraform directory and its logs
#   LOCAL_CLOUD_ARGS       extra `serve` options, e.g. "--latency realistic"
#   K3STRADING_SCHEMAS     a directory of the official schemas: the K3s stand-in
#                          then validates every object it stores
#   K3STRADING_NO_BUILD=1  use the binaries already in the target directory
#   TERRAFORM              the terraform binary (default: the test venv's 1.15.5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tf=${TERRAFORM:-$root/.venv/bin/terraform-1.15.5}
target=${CARGO_TARGET_DIR:-$root/target}
bin=$target/debug
work=${K3STRADING_LOCAL_DIR:-$root/.local-cloud}
token=local-dev-token

usage() {
  sed -n '7,19p' "$0" >&2
  exit 2
}

build() {
  [ "${K3STRADING_NO_BUILD:-}" = 1 ] && return
  cargo build --quiet -p k3strading-provider -p hcloud-emulator \
    -p k3strading-k3s-standin -p k3strading-bootstrap --bins
}

prepare() {
  mkdir -p "$work/tf" "$work/plugins"
  ln -sf "$bin/terraform-provider-k3strading" "$work/plugins/"
  cat > "$work/terraformrc" <<CFG
provider_installation {
  dev_overrides {
    "registry.terraform.io/k3strading/k3strading" = "$work/plugins"
  }
  direct {}
}
CFG
  cp "$root"/terraform/*.tf "$work/tf/"
}

cloud_pid() {
  local pid
  pid=$(cat "$work/cloud.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Starts the cloud detached with the given extra options; succeeds once it is
# ready. It outlives this script, so `down` (or any later command) finds it.
start_cloud() {
  : > "$work/cloud.out"
  # shellcheck disable=SC2086 # LOCAL_CLOUD_ARGS is a list of options
  setsid "$bin/k3strading-cloud" serve --listen 127.0.0.1:0 --token "$token" \
    --state "$work/cloud-state.json" ${LOCAL_CLOUD_ARGS:-} "$@" \
    > "$work/cloud.out" 2> "$work/cloud.log" < /dev/null &
  local pid=$!
  # --vms builds its network first: allow it some seconds.
  for _ in $(seq 600); do
    [ -s "$work/cloud.out" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -q '^listening on ' "$work/cloud.out"; then
    kill "$pid" 2>/dev/null || true
    return 1
  fi
  echo "$pid" > "$work/cloud.pid"
}

ensure_cloud() {
  if cloud_pid > /dev/null; then
    return
  fi
  local schemas=()
  [ -z "${K3STRADING_SCHEMAS:-}" ] || schemas=(--k3s-schemas "$K3STRADING_SCHEMAS")
  rm -f "$work/cloud.mode"
  if [ "${LOCAL_CLOUD_VMS:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
    if start_cloud --vms "${schemas[@]}"; then
      echo vms > "$work/cloud.mode"
    else
      echo "local cloud: --vms refused: $(grep -m1 -v '^$' "$work/cloud.log"); falling back to API-only mode" >&2
    fi
  fi
  if [ ! -e "$work/cloud.mode" ]; then
    start_cloud || {
      cat "$work/cloud.log" >&2
      exit 1
    }
    echo api > "$work/cloud.mode"
  fi
}

stop_cloud() {
  local pid
  pid=$(cloud_pid) || return 0
  kill -TERM "$pid"
  # --vms removes every namespace, mount and process of its run before exiting.
  for _ in $(seq 1200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "local cloud: pid $pid did not stop within 60 s" >&2
    exit 1
  fi
  rm -f "$work/cloud.pid"
  echo "local cloud stopped (its state, with the two Primary IPs, is kept in $work/cloud-state.json)"
}

# The environment every Terraform and k3strading command gets.
export_env() {
  local url
  url=$(sed -n 's/^listening on //p' "$work/cloud.out")
  export HCLOUD_ENDPOINT=$url HCLOUD_TOKEN=$token CHECKPOINT_DISABLE=1
  export TF_CLI_CONFIG_FILE=$work/terraformrc
  if [ "$(cat "$work/cloud.mode")" = api ]; then
    # Without VMs there is nothing to SSH into: bare servers only.
    export TF_VAR_install_k3s=false
  fi
}

describe() {
  local mode="API only (install_k3s = false: no K3s without VMs)"
  [ "$(cat "$work/cloud.mode")" = vms ] && mode="VMs (--vms)"
  echo "local cloud: $HCLOUD_ENDPOINT, $mode (state: $work/cloud-state.json)" >&2
}

up() {
  local env=${1:-dev}
  build
  prepare
  ensure_cloud
  export_env
  describe
  if [ "$(cat "$work/cloud.mode")" = vms ]; then
    TERRAFORM=$tf K3STRADING=$bin/k3strading K3STRADING_TF_DIR=$work/tf \
      K3STRADING_TF_DEV_OVERRIDES=1 bash "$root/scripts/deploy.sh" create "$env"
  else
    "$tf" -chdir="$work/tf" apply -input=false -auto-approve -var "env=$env"
    echo "API-only mode: servers without K3s, so no bootstrap. The servers:"
    "$tf" -chdir="$work/tf" output servers
  fi
  cat <<EOF

The cloud keeps running in the background. To use it by hand:
  eval "\$(scripts/run-local.sh env)"
  scripts/run-local.sh output -raw ssh_private_key | k3strading status --cluster k3s-trading-$env --ssh-key -
To tear down: make destroy$([ "$env" = dev ] || echo " ENV=$env")
EOF
}

down() {
  local env=${1:-dev}
  if [ -e "$work/cloud.out" ] && { cloud_pid > /dev/null || [ -e "$work/cloud-state.json" ]; }; then
    build
    prepare
    ensure_cloud
    export_env
    "$tf" -chdir="$work/tf" destroy -input=false -auto-approve -var "env=$env"
  fi
  stop_cloud
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case $cmd in
  up) up "$@" ;;
  down) down "$@" ;;
  env)
    cloud_pid > /dev/null || {
      echo "the local cloud is not running: scripts/run-local.sh up" >&2
      exit 1
    }
    export_env
    echo "export HCLOUD_ENDPOINT=$HCLOUD_ENDPOINT HCLOUD_TOKEN=$HCLOUD_TOKEN TF_CLI_CONFIG_FILE=$TF_CLI_CONFIG_FILE CHECKPOINT_DISABLE=1${TF_VAR_install_k3s:+ TF_VAR_install_k3s=false}"
    echo "export PATH=$bin:\$PATH"
    ;;
  -h | --help | help) usage ;;
  *)
    build
    prepare
    ensure_cloud
    export_env
    describe
    case $cmd in
      apply | destroy) "$tf" -chdir="$work/tf" "$cmd" -input=false -auto-approve "$@" ;;
      *) "$tf" -chdir="$work/tf" "$cmd" "$@" ;;
    esac
    ;;
esac
