#!/usr/bin/env bash
# Usage: ./run_tests.sh [pytest arguments...]
# Installs what the tests need into .venv (first run), then runs the whole suite on real
# parts: a private redis-server, real Celery workers, Daphne and headless Chromium.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh --dev
exec .venv/bin/python -m pytest "$@"
