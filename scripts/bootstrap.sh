#!/usr/bin/env bash
# Usage: scripts/bootstrap.sh [--dev]
# Creates .venv (first run) and installs the locked dependencies; skips what is done.
# --dev also installs the test and lint tools (requirements-dev.lock).
set -euo pipefail
cd "$(dirname "$0")/.."

lock=requirements.lock
[[ "${1:-}" == "--dev" ]] && lock=requirements-dev.lock
python=${PYTHON:-python3}
stamp=.venv/.installed-$(basename "$lock" .lock)

if [[ ! -x .venv/bin/python ]]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11 or newer is needed (found: $("$python" --version 2>&1)); set PYTHON=..." >&2; exit 1; }
  echo "Creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

want=$(cat "$lock" pyproject.toml packages/django-live-progress/pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "Installing $lock into .venv (pip's output: .venv/pip.log)"
  pip_install() { .venv/bin/python -m pip install --disable-pip-version-check "$@" >>.venv/pip.log 2>&1; }
  if ! { pip_install --upgrade pip && pip_install -r "$lock" && pip_install --no-deps -e .; }; then
    tail -n 30 .venv/pip.log >&2
    echo "Installing $lock failed; the whole log is in .venv/pip.log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
