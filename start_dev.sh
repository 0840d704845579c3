#!/usr/bin/env bash
# Usage: ./start_dev.sh
# The whole development stack in one terminal: installs .venv on the first run, applies
# migrations, then runs it under supervisord (deploy/supervisord-dev.conf): Redis (the one at
# REDIS_URL, or an embedded one), the Celery worker (restarted when code changes), Celery beat,
# Flower, and Django's development server, which prints here. Ctrl-C stops everything.
# Ports and URLs: DJANGO_PORT (8001), FLOWER_PORT (8054), REDIS_URL, from the environment or .env.
set -euo pipefail
cd "$(dirname "$0")"
umask 077  # the database, logs/ and run/ (passwords, Redis's data): this user's alone
case ${1:-} in
  "") ;;
  -h | --help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) sed -n '2,7s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
# Output to a file (./start_dev.sh > dev.log): supervisord appends the web server's lines to
# it, so this script appends too; writing at its own offset, it would overwrite those lines.
if [[ -f /dev/stdout ]]; then exec >>/dev/stdout; fi
if [[ -f /dev/stderr ]]; then exec 2>>/dev/stderr; fi

scripts/bootstrap.sh
py=.venv/bin/python
plan=$("$py" scripts/stack.py plan --script ./start_dev.sh)  # one-line error, nothing started
eval "$plan"
export USER=${USER:-$(id -un)}  # deploy/supervisord-dev.conf runs as this user
mkdir -p logs run
"$py" manage.py migrate --noinput -v 0

supervisord=""
stop() {
  trap '' INT TERM HUP
  if [[ -n $supervisord ]]; then
    echo "Stopping every process started here..."
    kill -TERM "$supervisord" 2>/dev/null || true
    wait "$supervisord" || true
  fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP  # the terminal closed

# supervisord in a session of its own, so that only this script signals it, and once: a
# SIGHUP from a closing terminal would make supervisord reload instead of stop.
"$py" -c 'import os, sys; os.setsid(); os.execv(sys.argv[1], sys.argv[1:])' \
  .venv/bin/supervisord --nodaemon -c deploy/supervisord-dev.conf &
supervisord=$!

echo "Starting; ready once manage.py doctor finds every service OK..."
if ! report=$("$py" manage.py doctor --wait 120); then
  printf '%s\nNot ready after 120 s; see logs/\n' "$report" >&2
  exit 1
fi
"$py" scripts/stack.py summary --stop-hint "Ctrl-C (stops every process started here)" \
  --logs "logs/ (worker.log, beat included; flower.log, redis.log); the web server prints here"
wait "$supervisord"
