#!/usr/bin/env bash
# The daily routine in one command, as the GitHub workflow runs it:
#
#   scripts/deploy.sh create ENV    terraform apply, k3strading bootstrap, status
#   scripts/deploy.sh destroy ENV   k3strading teardown (stateless, by label)
#
# Reads HCLOUD_TOKEN (and HCLOUD_ENDPOINT for the local cloud). The login key
# is K3STRADING_SSH_PRIVATE_KEY when set, else the cluster's own key, piped
# from `terraform output` into `k3strading --ssh-key -`: it is never on a
# command line and never printed.
#
# Optional environment:
#   TERRAFORM, K3STRADING          the binaries (default: terraform, k3strading)
#   K3STRADING_TF_DIR              the Terraform module (default: terraform)
#   K3STRADING_TF_DEV_OVERRIDES=1  skip `terraform init` (dev_overrides need none)
#   K3STRADING_TF_PARALLELISM      terraform apply's -parallelism (default 64: every
#                                  node of a 50-app-node cluster at once; Terraform's
#                                  10 would build them in waves)
#   GITHUB_STEP_SUMMARY            a Markdown summary is appended to this file
set -euo pipefail

usage() {
  echo "usage: $0 create|destroy ENV" >&2
  exit 2
}

[ $# -eq 2 ] || usage
action=$1
env=$2
case $action in
  create | destroy) ;;
  *)
    echo "error: unknown action '$action': expected create or destroy" >&2
    usage
    ;;
esac
# The same rule as the module's `env` variable: the cluster name and every
# Hetzner label derived from it must stay valid.
env_rule='^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$'
if ! [[ $env =~ $env_rule ]]; then
  echo "error: invalid environment '$env': lowercase letters, digits and '-', 1 to 22 characters, not starting or ending with '-' (e.g. dev, prod)" >&2
  exit 2
fi

tf=${TERRAFORM:-terraform}
k3s=${K3STRADING:-k3strading}
tf_dir=${K3STRADING_TF_DIR:-terraform}
cluster="k3s-trading-$env"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

summary() {
  [ -z "${GITHUB_STEP_SUMMARY:-}" ] || cat >> "$GITHUB_STEP_SUMMARY"
}

# Runs `k3strading SUBCOMMAND --cluster NAME` with the login key on stdin
# unless K3STRADING_SSH_PRIVATE_KEY provides it; stdout goes to the log and
# to $out/SUBCOMMAND.txt.
with_login() {
  local sub=$1
  # Blank counts as unset, as in the provider and the CLI.
  local key=${K3STRADING_SSH_PRIVATE_KEY:-}
  if [ -n "${key//[[:space:]]/}" ]; then
    "$k3s" "$sub" --cluster "$cluster" | tee "$out/$sub.txt"
  else
    "$tf" -chdir="$tf_dir" output -raw ssh_private_key |
      "$k3s" "$sub" --cluster "$cluster" --ssh-key - | tee "$out/$sub.txt"
  fi
}

# The provider's "phase done" log lines (TF_LOG_PROVIDER=INFO, written to a
# file, never to the console) as one table: resource, step, seconds.
# Terraform writes a line's fields in any order, so each is matched alone.
phase_table() {
  echo "Phase timings of terraform apply (seconds)"
  [ -s "$1" ] || return 0
  awk '/phase done:/ {
      node = phase = took = ""
      if (match($0, / node=[^ ]+/)) node = substr($0, RSTART + 6, RLENGTH - 6)
      if (match($0, / phase="[^"]*"/)) phase = substr($0, RSTART + 8, RLENGTH - 9)
      else if (match($0, / phase=[^ ]+/)) phase = substr($0, RSTART + 7, RLENGTH - 7)
      if (match($0, / took_ms=[0-9]+/)) took = substr($0, RSTART + 9, RLENGTH - 9)
      printf "%s\t%s\t%s\n", node, phase, took
    }' "$1" | sort -s -t "$(printf '\t')" -k1,1 |
    awk -F '\t' '{ printf "  %-32s %-30s %7.1f\n", ($1 == last ? "" : $1), $2, $3 / 1000; last = $1 }'
}

create() {
  local started=$SECONDS
  if [ "${K3STRADING_TF_DEV_OVERRIDES:-}" != 1 ]; then
    "$tf" -chdir="$tf_dir" init -input=false
  fi
  TF_LOG_PROVIDER=INFO TF_LOG_PATH="$out/terraform.log" \
    "$tf" -chdir="$tf_dir" apply -input=false -auto-approve \
    -parallelism="${K3STRADING_TF_PARALLELISM:-64}" -var "env=$env"
  local applied=$((SECONDS - started))
  phase_table "$out/terraform.log" > "$out/phases.txt"

  with_login bootstrap
  local bootstrapped=$((SECONDS - started - applied))
  with_login status

  local control kafka
  control=$("$tf" -chdir="$tf_dir" output -raw control_plane_ipv4)
  kafka=$("$tf" -chdir="$tf_dir" output -raw kafka_ip)
  echo "$cluster is up: control plane $control, Kafka $kafka"
  echo "terraform apply took $applied s, k3strading bootstrap $bootstrapped s"
  echo
  cat "$out/phases.txt"

  summary <<MD
## \`$cluster\` created

| address | IPv4 |
|---|---|
| control plane (SSH, API, ArgoCD) | \`$control\` |
| Kafka NodePorts (kafka-0) | \`$kafka\` |

| step | seconds |
|---|---|
| terraform apply | $applied |
| k3strading bootstrap | $bootstrapped |

### Phases of terraform apply

\`\`\`text
$(cat "$out/phases.txt")
\`\`\`

### Bootstrap phases

\`\`\`text
$(cat "$out/bootstrap.txt")
\`\`\`

### Status

\`\`\`text
$(cat "$out/status.txt")
\`\`\`
MD
}

destroy() {
  local started=$SECONDS
  "$k3s" teardown --cluster "$cluster" --yes | tee "$out/teardown.txt"
  summary <<MD
## \`$cluster\` destroyed in $((SECONDS - started)) s

The two Primary IPs stay, unassigned.

\`\`\`text
$(cat "$out/teardown.txt")
\`\`\`
MD
}

"$action"
