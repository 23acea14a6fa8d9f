#!/usr/bin/env bash
# Installs a built provider where `terraform init` finds it without a
# registry: the implied local mirror
#   ~/.terraform.d/plugins/registry.terraform.io/k3strading/k3strading/VERSION/OS_ARCH/
#
#   scripts/install-provider.sh [BINARY]   (default: target/release/terraform-provider-k3strading)
#
# VERSION is the workspace version from Cargo.toml; TF_PLUGIN_DIR overrides
# ~/.terraform.d/plugins.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-${CARGO_TARGET_DIR:-$root/target}/release/terraform-provider-k3strading}
if [ ! -x "$binary" ]; then
  echo "error: no provider binary at $binary (cargo build --release -p k3strading-provider)" >&2
  exit 1
fi

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml")
if [ -z "$version" ]; then
  echo "error: no version in [workspace.package] of $root/Cargo.toml" >&2
  exit 1
fi
case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "error: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "error: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

dir=${TF_PLUGIN_DIR:-$HOME/.terraform.d/plugins}/registry.terraform.io/k3strading/k3strading/$version/${os}_$arch
mkdir -p "$dir"
install -m 0755 "$binary" "$dir/terraform-provider-k3strading_v$version"
echo "installed $dir/terraform-provider-k3strading_v$version"
