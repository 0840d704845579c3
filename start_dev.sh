#!/usr/bin/env bash
# Usage: ./start_dev.sh
# The whole development stack in one terminal: installs .venv on the first run, applies
# migrations, uses the Redis at REDIS_URL (or starts an embedded one), starts the Celery
# worker and Flower in the background (logs/worker.log, logs/flower.log), then the Django
# development server (HTTP + WebSockets, autoreload) here. Ctrl-C stops everything.
# Ports and URLs: DJANGO_PORT (8001), FLOWER_PORT (8054), REDIS_URL, from the environment or .env.
set -euo pipefail
cd "$(dirname "$0")"
case ${1:-} in
  "") ;;
  -h | --help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) sed -n '2,7s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac

scripts/bootstrap.sh
py=.venv/bin/python
plan=$("$py" scripts/stack.py plan --script ./start_dev.sh)  # one-line error, nothing started
eval "$plan"
mkdir -p logs

services=()  # worker, Flower, web: stopped first
redis_pid=""  # the embedded Redis: stopped last
cleanup() {
  trap '' INT TERM HUP
  if ((${#services[@]})); then
    echo "Stopping the worker, Flower and the web server..."
    "$py" scripts/processes.py stop --timeout 20 "${services[@]}" || kill -KILL "${services[@]}" 2>/dev/null || true
  fi
  if [[ -n $redis_pid ]]; then
    "$py" scripts/processes.py stop "$redis_pid" || kill -KILL "$redis_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP  # the terminal closed

if [[ $STARTER_EMBEDDED_REDIS == true ]]; then
  "$py" scripts/stack.py redis-server --own-session >logs/redis.log 2>&1 &
  redis_pid=$!
  "$py" scripts/stack.py wait-redis
fi

"$py" scripts/processes.py autoreload -- .venv/bin/celery -A django_starter worker -l info \
  >logs/worker.log 2>&1 &
services+=($!)
worker_pid=$!
.venv/bin/celery -A django_starter flower --port="$FLOWER_PORT" >logs/flower.log 2>&1 &
services+=($!)
flower_pid=$!

"$py" manage.py migrate --noinput -v 0
"$py" manage.py runserver "127.0.0.1:$DJANGO_PORT" &
services+=($!)
web_pid=$!

"$py" scripts/stack.py wait-ready --stop-hint "Ctrl-C (stops every process started here)" \
  --logs "logs/ (worker.log, flower.log${redis_pid:+, redis.log}); the web server logs here" \
  --watch "worker=$worker_pid" --watch "Flower=$flower_pid" --watch "web server=$web_pid" &
services+=($!)
wait $! || exit 1
wait "$web_pid"
