#!/usr/bin/env bash
# Packages built provider binaries the way Terraform registries expect:
#
#   scripts/package-release.sh VERSION OUTDIR OS_ARCH=BINARY [OS_ARCH=BINARY ...]
#
# writes, for each platform, terraform-provider-k3strading_VERSION_OS_ARCH.zip
# (holding terraform-provider-k3strading_vVERSION), then
# terraform-provider-k3strading_VERSION_manifest.json (from
# terraform-registry-manifest.json) and terraform-provider-k3strading_VERSION_SHA256SUMS
# over all of them; with GPG_KEY_ID set, also the detached signature
# terraform-provider-k3strading_VERSION_SHA256SUMS.sig.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 3 ] || { echo "usage: $0 VERSION OUTDIR OS_ARCH=BINARY..." >&2; exit 2; }
version=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
  echo "error: version '$version' is not semantic (e.g. 1.2.3)" >&2
  exit 2
fi
name=terraform-provider-k3strading
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for pair in "$@"; do
  platform=${pair%%=*}
  binary=${pair#*=}
  if ! [[ $platform =~ ^(linux|darwin|windows|freebsd)_(amd64|arm64|386|arm)$ ]]; then
    echo "error: platform '$platform' is not OS_ARCH (e.g. linux_amd64)" >&2
    exit 2
  fi
  [ -f "$binary" ] || { echo "error: no binary at $binary" >&2; exit 1; }
  rm -rf "${work:?}"/*
  install -m 0755 "$binary" "$work/${name}_v$version"
  (cd "$work" && python3 -m zipfile -c "$out/${name}_${version}_${platform}.zip.tmp" "${name}_v$version")
  mv -f "$out/${name}_${version}_${platform}.zip.tmp" "$out/${name}_${version}_${platform}.zip"
done
cp "$root/terraform-registry-manifest.json" "$out/${name}_${version}_manifest.json"
(
  cd "$out"
  sha256sum "${name}_${version}"_*.zip "${name}_${version}_manifest.json" > "${name}_${version}_SHA256SUMS"
  if [ -n "${GPG_KEY_ID:-}" ]; then
    gpg --batch --yes --local-user "$GPG_KEY_ID" --detach-sign \
      --output "${name}_${version}_SHA256SUMS.sig" "${name}_${version}_SHA256SUMS"
  fi
)
ls -1 "$out"
