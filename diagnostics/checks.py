"""One function per service check, shared by GET /health/ and `manage.py doctor`.

Each check returns a `Check`: OK, WARN or FAIL, what was found in words, the exact
command that fixes a failure, and details for machines. Every network call here
uses DIAGNOSTICS_TIMEOUT (half a second by default), so a dead or hung service
makes a check fail fast instead of hanging the report.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from celery import current_app
from django.conf import settings

from live_progress.registry import discover_tasks
from live_progress.store import drain, indexes, snapshots
from live_progress.store.workers import worker_details

from . import fixes
from .beat import beat_status
from .live import in_words, stalled_for
from .queues import amqp_lengths, broker_lengths, queue_for, waiting

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    status: str
    summary: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.status == OK,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix,
            **self.details,
        }


def our_tasks() -> list[str]:
    """This project's registered task names (Celery's own `celery.*` tasks left out)."""
    discover_tasks()
    return sorted(name for name in current_app.tasks if not name.startswith("celery."))


def diagnostics_client() -> redis.Redis:
    """A Redis client with the short diagnostics timeout and no retries."""
    timeout = settings.DIAGNOSTICS_TIMEOUT
    return redis.Redis.from_url(
        settings.REDIS_URL,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


def check_redis(client: redis.Redis) -> Check:
    """Is Redis answering at REDIS_URL, which version, how fast (one PING round trip)."""
    url = safe_url(settings.REDIS_URL)
    try:
        started = time.perf_counter()
        client.ping()
        rtt_ms = round((time.perf_counter() - started) * 1000, 2)
        version = client.info("server").get("redis_version")
    except redis.RedisError as error:
        return Check(
            "redis",
            FAIL,
            f"Redis does not answer at {url}: {error}",
            fixes.redis(),
            {"reachable": False, "url": url, "error": str(error)},
        )
    return Check(
        "redis",
        OK,
        f"Redis {version} answers at {url} ({rtt_ms} ms round trip)",
        details={"reachable": True, "url": url, "version": version, "rtt_ms": rtt_ms},
    )


def check_workers(workers: list[dict[str, Any]]) -> Check:
    """Live workers (heartbeat), what they consume and run, and whether they know our tasks."""
    ours = our_tasks()
    listed = [
        {
            "name": w.get("name"),
            "queues": w.get("queues", []),
            "active": w.get("active"),
            "concurrency": w.get("concurrency"),
            "missing_tasks": [t for t in ours if t not in w.get("registered", [])],
        }
        for w in workers
    ]
    details = {"online": len(workers), "names": [w["name"] for w in listed], "workers": listed}
    if not workers:
        return Check(
            "workers",
            FAIL,
            "no worker is running: queued tasks stay PENDING",
            fixes.WORKER,
            details,
        )
    stale = [w for w in listed if w["missing_tasks"]]
    if stale:
        names = ", ".join(f"{w['name']} lacks {', '.join(w['missing_tasks'])}" for w in stale)
        return Check(
            "workers",
            FAIL,
            f"workers run older code: {names}",
            f"restart them: {fixes.WORKER}",
            details,
        )
    described = ", ".join(
        f"{w['name']} ({', '.join(w['queues'])}; {w['active'] or 0} active)" for w in listed
    )
    return Check("workers", OK, f"{len(listed)} online: {described}", details=details)


def check_queues(client: redis.Redis, workers: list[dict[str, Any]]) -> Check:
    """Each queue: our tasks waiting, broker messages, and who consumes it."""
    routed = sorted({queue_for(name) for name in our_tasks()})
    queues = sorted(set(routed) | {q for w in workers for q in w.get("queues", [])})
    ours = waiting(client, queues)
    broker = (
        broker_lengths(client, queues)
        if broker_is_redis()
        else amqp_lengths(settings.CELERY_BROKER_URL, queues, timeout=settings.DIAGNOSTICS_TIMEOUT)
    )
    consumers = {q: [w["name"] for w in workers if q in w.get("queues", [])] for q in queues}
    details = {
        "queues": {
            q: {"waiting": ours[q], "messages": broker.get(q), "consumers": consumers[q]}
            for q in queues
        }
    }
    summary = "; ".join(f"{q}: {ours[q]} waiting, {len(consumers[q])} consuming" for q in queues)
    orphans = [q for q in routed if not consumers[q]]
    if orphans and workers:
        return Check(
            "queues",
            FAIL,
            f'no worker consumes "{orphans[0]}", where our tasks go ({summary})',
            fixes.worker_for_queue(orphans[0]),
            details,
        )
    if orphans:
        return Check("queues", WARN, f"{summary} (no worker is running)", fixes.WORKER, details)
    return Check("queues", OK, summary, details=details)


def check_broker() -> Check:
    """Does the Celery broker answer at CELERY_BROKER_URL, when it is not the Redis above."""
    from kombu import Connection

    url = safe_url(settings.CELERY_BROKER_URL)
    connection = Connection(
        settings.CELERY_BROKER_URL, connect_timeout=settings.DIAGNOSTICS_TIMEOUT
    )
    try:
        connection.ensure_connection(max_retries=0)  # connect() would retry for 2 s
        server = getattr(connection.connection, "server_properties", None) or {}
    except Exception as error:  # kombu raises the transport's own errors
        return Check(
            "broker",
            FAIL,
            f"the Celery broker does not answer at {url}: tasks cannot be queued ({error})",
            fixes.broker(),
            {"reachable": False, "url": url, "error": str(error)},
        )
    finally:
        connection.release()
    product = " ".join(str(server[k]) for k in ("product", "version") if server.get(k))
    return Check(
        "broker",
        OK,
        f"{product or 'the broker'} answers at {url}",
        details={"reachable": True, "url": url, "server": product or None},
    )


def check_flower() -> Check:
    """Does Flower answer on FLOWER_PORT (a 401 counts: it runs, behind a password)."""
    url = f"http://127.0.0.1:{settings.FLOWER_PORT}/"
    try:
        with urllib.request.urlopen(
            f"{url}healthcheck", timeout=settings.DIAGNOSTICS_TIMEOUT
        ) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        return Check(
            "flower",
            WARN,
            f"Flower does not answer at {url} (monitoring only)",
            fixes.flower(),
            {"reachable": False, "url": url, "error": str(error)},
        )
    if status not in (200, 401):
        return Check(
            "flower",
            WARN,
            f"Flower at {url} answers HTTP {status}",
            fixes.flower(),
            {"reachable": True, "url": url, "status": status},
        )
    return Check(
        "flower",
        OK,
        f"Flower answers at {url}",
        details={"reachable": True, "url": url, "status": status},
    )


def check_beat(client: redis.Redis) -> Check:
    """Does Celery beat run (its heartbeat), and when did it last tick."""
    status = beat_status(client)
    since = status["seconds_since_tick"]
    if status["running"]:
        where = f"{status['host']} (pid {status['pid']})"
        return Check("beat", OK, f"beat runs on {where}, last tick {since} s ago", details=status)
    seen = "never seen" if since is None else f"last tick {since} s ago"
    return Check(
        "beat",
        WARN,
        f"beat is not running ({seen}): periodic tasks are not sent",
        fixes.BEAT,
        status,
    )


def history_backlog(client: redis.Redis) -> dict[str, int | None]:
    """The task history's records still in Redis: waiting for a worker to write them, and
    set aside because the database refused them (their reasons are kept with them)."""
    try:
        return {
            "waiting": int(client.llen(snapshots.history_key())),
            "dead": int(client.llen(drain.dead_key())),
        }
    except redis.RedisError:
        return {"waiting": None, "dead": None}


def _history_words(backlog: dict[str, int | None]) -> str:
    waiting, dead = backlog.get("waiting"), backlog.get("dead")
    words = []
    if waiting:
        words.append(f"{waiting} history record(s) waiting to be written")
    if dead:
        words.append(
            f"{dead} history record(s) refused by the database, kept with the reason "
            f"in the Redis list {drain.dead_key()}"
        )
    return "; " + "; ".join(words) if words else ""


def check_database(backlog: dict[str, int | None] | None = None) -> Check:
    """Can we reach the database, are all migrations applied, and what of the task history
    waits in Redis (`backlog`, see `history_backlog`)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    where = f"{connection.vendor} {connection.settings_dict.get('NAME')}"
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return Check(
            "database",
            FAIL,
            f"database {where} unreachable: {error}",
            "check DATABASE_URL",
            {"reachable": False, "error": str(error)},
        )
    pending = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    backlog = backlog or {"waiting": None, "dead": None}
    details = {
        "reachable": True,
        "vendor": connection.vendor,
        "migrations_pending": len(pending),
        "pending": pending,
        "history": backlog,
    }
    if pending:
        return Check(
            "database",
            FAIL,
            f"{len(pending)} migrations pending on {where} (first: {pending[0]})",
            fixes.MIGRATE,
            details,
        )
    summary = f"{where} reachable, no migrations pending{_history_words(backlog)}"
    return Check("database", OK, summary, details=details)


def check_tasks() -> Check:
    """Unfinished tasks, and the running ones with no progress for STALLED_AFTER_SECONDS."""
    tasks = indexes.unfinished()
    now = datetime.now(UTC)
    stalled = [(t, s) for t in tasks if (s := stalled_for(t, now)) is not None]
    stalled.sort(key=lambda pair: pair[1])  # the freshest first: the one still to look at
    details = {
        "unfinished": len(tasks),
        "stalled": [
            {"task_id": t["task_id"], "name": t.get("name"), "seconds": int(s)} for t, s in stalled
        ],
    }
    if not stalled:
        return Check("tasks", OK, f"{len(tasks)} unfinished, none stalled", details=details)
    listed = ", ".join(
        f"{str(t.get('name')).rsplit('.', 1)[-1]} {t['task_id']} ({in_words(s)})"
        for t, s in stalled[:5]
    )
    more = f" and {len(stalled) - 5} more" if len(stalled) > 5 else ""
    return Check(
        "tasks",
        WARN,
        f"{len(stalled)} running task(s) with no progress for over "
        f"{in_words(settings.STALLED_AFTER_SECONDS)}: {listed}{more}",
        f"see the worker's log; if it is stuck, restart it: {fixes.WORKER}",
        details,
    )


def run_checks() -> list[Check]:
    """Every check, in the order the stack depends on them."""
    client = diagnostics_client()
    backlog = None
    try:
        checks = [check_redis(client)]
        if checks[0].status == OK:
            workers = worker_details(client)
            checks += [check_workers(workers), check_queues(client, workers)]
            checks += [check_flower(), check_beat(client), check_tasks()]
            backlog = history_backlog(client)
        else:
            skipped = "not checked: Redis does not answer"
            checks += [
                Check("workers", WARN, skipped, details={"online": 0, "names": []}),
                Check("queues", WARN, skipped),
                check_flower(),
                Check("beat", WARN, skipped, details={"running": False}),
            ]
    finally:
        client.close()
    if not broker_is_redis():
        checks.insert(1, check_broker())
    return [*checks, check_database(backlog)]


def health_report() -> dict[str, Any]:
    """Everything /health/ shows, keyed by check name."""
    return {check.name: check.as_json() for check in run_checks()}


def broker_is_redis() -> bool:
    """True when Celery's broker is the Redis at REDIS_URL (its queues are lists there)."""
    return bool(settings.CELERY_BROKER_URL == settings.REDIS_URL)


def safe_url(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
