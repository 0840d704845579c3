"""Moving the history records waiting in Redis into the database, losing none.

The store's write script pushes a record on the history list when a task is created or
ends (and a request whose own write failed pushes its row's record there too). `drain`
writes them in batches, at least once: a batch moves from the list into a leased entry
of its drainer (one Lua script), is written in one transaction, and leaves Redis only
after the commit. A drainer killed halfway never acknowledges: once its lease is over,
the next drain puts its batch back at the head of the list. Writing a record twice is
harmless (`rows.upsert` is keyed by task id and never goes back to an older `seq`).

A batch the database refuses for its data is written again row by row, so one bad
record cannot hold back the others; a record that still fails on its own goes to the
dead-letter list with the reason (`dead_letters`). A database that is away keeps the
whole batch waiting. A thread of each worker drains every second; readers drain too.
Rows written for an owner whose tasks a login has since given to a user follow them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from typing import Any, Final

from celery import signals
from django.db import DataError, IntegrityError, close_old_connections, transaction

from live_progress.store import keys, rows, snapshots
from live_progress.store.client import get_redis, run_script

logger = logging.getLogger(__name__)

DRAIN_BATCH: Final = 500
DRAIN_EVERY: Final = 1.0
# The most batches a read of the history writes before it reads.
READ_DRAIN_BATCHES: Final = 4
# How long a drainer may hold a batch before another takes it back: well past the
# slowest write (SQLite waits up to 20 s for its lock), since a write taken back while
# it still runs is only written twice.
LEASE_SECONDS: Final = 60
# The dead-letter list keeps the newest records set aside, up to this many.
DEAD_LETTERS_KEPT: Final = 10_000
# Errors that say a record is wrong, not the database away: that record alone is set aside.
REFUSED: Final = (DataError, IntegrityError, ValueError, TypeError, KeyError, OverflowError)


# Taking a batch of history records to write (see `store/drain.py`). KEYS[1] the history
# list, KEYS[2] the leases (batch name -> Redis time after which it counts as abandoned),
# KEYS[3] the batches being written (batch name -> their records, one per line); ARGV[1]
# this batch's name, ARGV[2] how many records at most, ARGV[3] the lease in seconds.
# First the batches of drainers that died (lease over, never acknowledged) go back to the
# head of the list, then up to ARGV[2] records move from the list into this batch: a record
# leaves Redis only when its drainer acknowledges the batch after the database commit.
TAKE_HISTORY = """
local now = tonumber(redis.call('TIME')[1])
local leases = redis.call('HGETALL', KEYS[2])
for i = 1, #leases, 2 do
  if tonumber(leases[i + 1]) < now then
    local batch = redis.call('HGET', KEYS[3], leases[i])
    if batch then
      local records = {}
      for record in string.gmatch(batch, '[^\\n]+') do table.insert(records, record) end
      for j = #records, 1, -1 do redis.call('LPUSH', KEYS[1], records[j]) end
    end
    redis.call('HDEL', KEYS[3], leases[i])
    redis.call('HDEL', KEYS[2], leases[i])
  end
end
local records = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #records == 0 then return records end
redis.call('LTRIM', KEYS[1], #records, -1)
redis.call('HSET', KEYS[3], ARGV[1], table.concat(records, '\\n'))
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[3]))
return records
"""

# KEYS[1] the dead letters, KEYS[2] the history list: each letter's record goes back on
# the list, in one step (a letter set aside meanwhile is neither lost nor moved twice).
RETRY_DEAD = """
local letters = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
for _, text in ipairs(letters) do
  local ok, letter = pcall(cjson.decode, text)
  if ok and type(letter) == 'table' and type(letter.record) == 'string' then
    redis.call('RPUSH', KEYS[2], letter.record)
  else
    redis.call('RPUSH', KEYS[1], text)
  end
end
return #letters
"""


def _keys() -> tuple[str, str, str]:
    """The history list, its leases and its batches being written."""
    waiting = snapshots.history_key()
    return waiting, f"{waiting}:leases", f"{waiting}:batches"


def dead_key() -> str:
    """The list of records the database refused, each with its reason (JSON)."""
    return f"{snapshots.history_key()}:dead"


def waiting() -> int:
    """How many records wait to be written (not counting batches being written now)."""
    return int(get_redis().llen(_keys()[0]))


def dead_letters() -> int:
    """How many records were set aside because the database refused them."""
    return int(get_redis().llen(dead_key()))


def retry_dead_letters() -> int:
    """Put every set-aside record back on the history list (the database was fixed, say);
    how many. The next drain writes them, or sets aside again those still refused."""
    moved = run_script(RETRY_DEAD, [dead_key(), _keys()[0]])
    return int(moved)


def drain(*, limit: int = DRAIN_BATCH, lease: float = LEASE_SECONDS) -> int:
    """Write up to `limit` waiting records to the database; how many were taken.

    Raises the database's error when it is away (the batch goes back on the list), and
    RuntimeError inside a transaction of the caller's (ATOMIC_REQUESTS, say): a batch is
    acknowledged only once its own transaction has committed.
    """
    waiting_key, leases_key, batches_key = _keys()
    batch = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    client = get_redis()
    raw: list[str] = run_script(
        TAKE_HISTORY, [waiting_key, leases_key, batches_key], batch, limit, lease, client=client
    )
    if not raw:
        return 0
    latest, dead = _parse(raw)
    try:
        try:
            with transaction.atomic(durable=True):
                rows.upsert(latest)
        except REFUSED:
            dead += _one_by_one(latest)
    except Exception as error:
        if not isinstance(error, RuntimeError):  # RuntimeError: in the caller's transaction
            logger.warning("could not write %d history records; kept for later", len(raw))
        with client.pipeline(transaction=True) as pipe:
            pipe.lpush(waiting_key, *reversed(raw))
            pipe.hdel(leases_key, batch)
            pipe.hdel(batches_key, batch)
            pipe.execute()
        raise
    with client.pipeline(transaction=True) as pipe:  # the commit is done: acknowledge
        if dead:
            pipe.rpush(dead_key(), *(json.dumps(letter) for letter in dead))
            pipe.ltrim(dead_key(), -DEAD_LETTERS_KEPT, -1)
        pipe.hdel(leases_key, batch)
        pipe.hdel(batches_key, batch)
        pipe.execute()
    _follow_moves(latest)
    for letter in dead:
        logger.error("history record set aside: %(reason)s: %(record).300s", letter)
    return len(raw)


def _follow_moves(records: dict[str, dict[str, Any]]) -> None:
    """The rows just written for an owner whose tasks were given to another meanwhile (a
    login while this batch was on its way, whose own update of the history ran before
    this commit) go to the new owner too."""
    by_owner: dict[str, list[str]] = {}
    for task_id, record in records.items():
        if record.get("owner"):
            by_owner.setdefault(str(record["owner"]), []).append(task_id)
    if not by_owner:
        return
    try:
        owners = list(by_owner)
        moved = get_redis().mget([keys.moved_key(owner) for owner in owners])
        for old, new in zip(owners, moved, strict=True):
            if new:
                rows.reassign(by_owner[old], old_owner=old, new_owner=str(new))
    except Exception:  # the rows are written; only a login's race is left unmended
        logger.warning("could not check %d owners for a login", len(by_owner), exc_info=True)


def _parse(raw: list[str]) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """The newest record (by seq) of each task, and the texts that are no record at all."""
    latest: dict[str, dict[str, Any]] = {}
    dead: list[dict[str, str]] = []
    for text in raw:
        try:
            record = json.loads(text)
            task_id = str(record["task_id"])
            seen = latest.get(task_id)
            if seen is None or int(record.get("seq") or 0) >= int(seen.get("seq") or 0):
                latest[task_id] = record
        except (ValueError, TypeError, KeyError) as error:
            dead.append(_letter(text, error))
    return latest, dead


def _one_by_one(records: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Write each record in a transaction of its own; the letters of those refused."""
    dead: list[dict[str, str]] = []
    for task_id, record in records.items():
        try:
            with transaction.atomic(durable=True):
                rows.upsert({task_id: record})
        except REFUSED as error:
            dead.append(_letter(json.dumps(record), error))
    return dead


def _letter(text: str, error: BaseException) -> dict[str, str]:
    return {
        "record": text,
        "reason": f"{type(error).__name__}: {' '.join(str(error).split())}",
        "at": snapshots.now_iso(),
    }


def drain_all() -> None:
    """Drain until the list is empty; an error (Redis or the database away) is logged."""
    try:
        while drain() == DRAIN_BATCH:
            pass
    except Exception:  # the records wait in Redis for the next round
        logger.debug("history drain failed", exc_info=True)
    finally:
        close_old_connections()


def drain_quietly() -> None:
    """Drain before a read of the history, up to READ_DRAIN_BATCHES batches (a burst of
    starts leaves thousands of records: the workers' drainers write the rest, and the
    reads list what waits from Redis); a failure leaves the read to the database."""
    try:
        for _ in range(READ_DRAIN_BATCHES):
            if drain() < DRAIN_BATCH:
                return
    except RuntimeError:  # in the caller's transaction: the worker's drainer writes them
        logger.debug("history not drained inside a transaction", exc_info=True)
    except Exception:  # the read goes on with what the database has
        logger.warning("could not write waiting history records", exc_info=True)


class Drainer:
    """The thread of a worker's main process that writes the history every second."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-history", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        drain_all()  # at once: batches a killed worker left are taken back as their leases end
        while not self._stop.wait(DRAIN_EVERY):
            drain_all()
        drain_all()  # what is left at shutdown


_drainer: Drainer | None = None


@signals.worker_ready.connect
def start_drainer(**_: Any) -> None:
    global _drainer
    _drainer = Drainer()
    _drainer.start()


@signals.worker_shutting_down.connect
def stop_drainer(**_: Any) -> None:
    if _drainer is not None:
        _drainer.stop()
