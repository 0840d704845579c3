#!/usr/bin/env bash
# Usage: ./run_tests.sh [--quick] [pytest arguments...]
# Installs what the tests need into .venv (first run), and Chromium with apt when it can (as
# root or with passwordless sudo), then runs the whole suite on real parts: a private
# redis-server, real Celery workers, Daphne and headless Chromium.
# --quick: the unit and single-process tests only (-m "not slow"), for the edit-test loop.
# TEST_WORKERS=N: N test processes (default: one per core and one more, --quick one per core;
# 0: this process alone).
set -euo pipefail
cd "$(dirname "$0")"
case ${1:-} in
  -h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
  --quick) shift; set -- -m "not slow" "$@"; workers=auto ;;  # CPU-bound: one per core
esac

scripts/bootstrap.sh --dev

# Without Chromium the browser tests skip, and say which command installs it.
install_chromium() {
  if command -v chromium || command -v chromium-browser || ! command -v apt-get; then
    return 0
  fi >/dev/null
  local sudo=(env)
  if ((EUID != 0)); then
    sudo -n true 2>/dev/null || return 0
    sudo=(sudo -n env)
  fi
  echo "Installing Chromium for the browser tests: apt-get install chromium (log: .venv/apt.log)"
  if ! { "${sudo[@]}" apt-get update \
    && "${sudo[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
    >.venv/apt.log 2>&1; then
    echo "Installing Chromium failed (see .venv/apt.log): the browser tests will skip" >&2
  fi
}
install_chromium

# One worker process per core and one more (pytest-xdist), each with its own Redis, Celery
# worker and Daphne: the slow tests mostly wait on their processes (timeouts, outages,
# restarts), so one more keeps the cores busy (on 2 cores: 9:00 with two, 6:57 with three).
# A test file stays on one worker, so its module-wide stacks are made once.
# TEST_WORKERS=0 runs everything in this one process.
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-${workers:-$(($(nproc) + 1))}}" --dist loadfile "$@"
