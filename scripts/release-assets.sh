#!/usr/bin/env bash
# Turns the per-platform binaries of a release into its published files:
#
#   scripts/release-assets.sh VERSION RAWDIR OUTDIR
#
# RAWDIR holds, per platform (OS_ARCH, e.g. linux_amd64), the build's
# raw-terraform-provider-k3strading_OS_ARCH and raw-k3strading_OS_ARCH. OUTDIR
# gets the provider as registries expect it (scripts/package-release.sh:
# zips, manifest, SHA256SUMS and its .sig with GPG_KEY_ID) and the CLI as
# k3strading_VERSION_OS_ARCH with its own k3strading_VERSION_SHA256SUMS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 3 ] || {
  echo "usage: $0 VERSION RAWDIR OUTDIR" >&2
  exit 2
}
version=$1 raw=$2 out=$3
pairs=()
for bin in "$raw"/raw-terraform-provider-k3strading_*; do
  [ -e "$bin" ] || {
    echo "error: no raw-terraform-provider-k3strading_OS_ARCH in $raw" >&2
    exit 1
  }
  platform=${bin##*/raw-terraform-provider-k3strading_}
  [ -f "$raw/raw-k3strading_$platform" ] || {
    echo "error: $platform has a provider but no raw-k3strading_$platform" >&2
    exit 1
  }
  pairs+=("$platform=$bin")
done
"$root/scripts/package-release.sh" "$version" "$out" "${pairs[@]}"
clis=()
for pair in "${pairs[@]}"; do
  platform=${pair%%=*}
  install -m 0755 "$raw/raw-k3strading_$platform" "$out/k3strading_${version}_$platform"
  clis+=("k3strading_${version}_$platform")
done
(cd "$out" && sha256sum "${clis[@]}" > "k3strading_${version}_SHA256SUMS")
