#!/usr/bin/env bash
# Usage: ./start_all_services.sh [start|stop|status|restart|logs [NAME]|foreground]
# Production-like stack under supervisord (deploy/supervisord.conf): DJANGO_WEB_PROCESSES web
# processes (default 1; Daphne, or Uvicorn with DJANGO_ASGI_SERVER=uvicorn) sharing DJANGO_PORT,
# the Celery worker and beat, Flower on FLOWER_PORT, an embedded Redis when none answers at
# REDIS_URL. Production settings: DEBUG off, DJANGO_SECRET_KEY required, static files served
# by WhiteNoise. `start` (the default) returns once all is healthy; `foreground` keeps
# supervisord here (containers). Logs: logs/<name>.log.
set -euo pipefail
cd "$(dirname "$0")"
umask 077  # the database, logs/ and run/ (passwords, Redis's data): this user's alone

py=.venv/bin/python
conf=deploy/supervisord.conf
pidfile=run/supervisord.pid
ready=0  # set once `start` saw the whole stack healthy
usage() { sed -n '2,8s/^# \{0,1\}//p' "$0"; }

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
ctl() { .venv/bin/supervisorctl -c "$conf" "$@"; }

prepare() {
  scripts/bootstrap.sh
  export DJANGO_DEBUG=0 DJANGO_BIND=${DJANGO_BIND:-127.0.0.1}
  local plan
  plan=$("$py" scripts/stack.py plan --production --script "./start_all_services.sh start")
  eval "$plan"
  mkdir -p logs run
  "$py" manage.py migrate --noinput -v 0
  "$py" manage.py collectstatic --noinput --clear -v 0
}

# If starting fails or is interrupted, stop what was started: no half-running stack.
stop_unless_ready() {
  ((ready)) || { echo "Start failed: stopping supervisord" >&2; stop; }
}

start() {
  if running; then
    echo "Already running (supervisord pid $(cat "$pidfile")):"
    ctl status || true
    return 0
  fi
  prepare
  trap stop_unless_ready EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  .venv/bin/supervisord -c "$conf"
  echo "Starting; ready once manage.py doctor finds every service OK..."
  local report
  if ! report=$("$py" manage.py doctor --wait 120); then
    printf '%s\nNot ready after 120 s; see logs/\n' "$report" >&2
    return 1
  fi
  "$py" scripts/stack.py summary --stop-hint "./start_all_services.sh stop" \
    --logs "logs/ (daphne-<n>.log per web process, worker, beat, flower, redis, supervisord)"
  ready=1
}

stop() {
  if ! running; then
    echo "Not running."
    return 0
  fi
  local pid
  pid=$(cat "$pidfile")
  echo "Stopping (the worker gets up to 60 s to finish its current task)..."
  ctl shutdown >/dev/null
  for _ in $(seq 450); do  # 90 s
    kill -0 "$pid" 2>/dev/null || { echo "Stopped."; return 0; }
    sleep 0.2
  done
  echo "supervisord (pid $pid) still runs after 90 s" >&2
  return 1
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if running; then ctl status || true; else echo "Not running."; exit 3; fi ;;
  logs)
    if [[ -z ${2:-} ]]; then tail -n 50 -F logs/*.log
    elif [[ -f logs/$2.log ]]; then tail -n 50 -F "logs/$2.log"
    else tail -n 50 -F logs/"$2"-*.log; fi ;;  # daphne: one log per process
  foreground)
    running && { echo "Already running in the background; ./start_all_services.sh stop first" >&2; exit 1; }
    prepare
    exec .venv/bin/supervisord -n -c "$conf" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
