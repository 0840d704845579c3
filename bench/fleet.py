"""Many WebSockets from several client processes: `python -m bench.fleet SPEC.json`.

One process reads a few thousand sockets at 10 messages/s each before its own event loop
becomes the bottleneck, so the big points split their sockets over several of these. A
client opens its sockets (at most CONNECT_AT_ONCE handshakes at a time), prints `OPEN`
once each one has its first message or was refused, reads every socket until its
terminal state or the server's close (or the spec's timeout), writes what each socket
saw to the spec's `output`, and prints `DONE`. No Django here: only the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import websockets

CONNECT_AT_ONCE = 64
TERMINAL = ("SUCCESS", "FAILURE", "REVOKED")
SERVER_CLOSE_WAIT = 1.0  # seconds after the terminal state


@dataclass
class Watched:
    """One socket: (receive wall time, seq, state, updated_at) per message, or why refused."""

    task_id: str
    seen: list[tuple[float, int, str, float | None]] = field(default_factory=list)
    refused: str = ""
    close_code: int | None = None
    server_closed: bool = False  # the server's close frame came first
    opened: asyncio.Event = field(default_factory=asyncio.Event)


def _updated(value: Any) -> float | None:
    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None


async def _watch(spec: dict[str, Any], sock: Watched, gate: asyncio.Semaphore) -> None:
    url = spec["base_url"].replace("http://", "ws://") + f"/ws/progress/{sock.task_id}/"
    headers = {"Cookie": spec["cookie"], "Origin": spec["base_url"]}
    try:
        async with gate:
            ws = await websockets.connect(
                url, open_timeout=30, close_timeout=2, max_size=None, additional_headers=headers
            )
    except Exception as error:  # refused at the handshake
        sock.refused = repr(error)[:200]
        sock.opened.set()
        return
    try:
        async for raw in ws:
            message = json.loads(raw)
            sock.seen.append(
                (time.time(), message["seq"], message["state"], _updated(message["updated_at"]))
            )
            sock.opened.set()
            if message["state"] in TERMINAL:
                # The server's close should follow (Granian's never comes): wait a
                # moment for it, then close from here as the page does.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.wait_closed(), SERVER_CLOSE_WAIT)
                break
    except websockets.ConnectionClosed:
        pass
    finally:
        if not sock.seen:
            sock.refused = f"closed {ws.close_code} before any message"
        sock.opened.set()
        await ws.close()
        sock.close_code = ws.close_code
        sock.server_closed = bool(ws.protocol.close_rcvd and ws.protocol.close_rcvd_then_sent)


async def _lag(lags: list[float], every: float = 0.01) -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(time.perf_counter() - started - every)


async def client(spec: dict[str, Any]) -> None:
    """Open, announce, read to the end, write the results (the child's whole job)."""
    socks = [Watched(task_id) for task_id in spec["task_ids"]]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    lags: list[float] = []
    started, cpu_open = time.perf_counter(), time.process_time()
    readers = [asyncio.create_task(_watch(spec, sock, gate)) for sock in socks]
    lagging = asyncio.create_task(_lag(lags))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(spec["timeout"]):
            await asyncio.gather(*(sock.opened.wait() for sock in socks))
            print(f"OPEN {time.perf_counter() - started:.3f}", flush=True)
            cpu_open = time.process_time()
            await asyncio.gather(*readers)
    cpu_read = time.process_time() - cpu_open  # this client's CPU from OPEN to the end
    lagging.cancel()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, lagging, return_exceptions=True)
    Path(spec["output"]).write_text(
        json.dumps(
            {
                "sockets": [
                    {
                        "task_id": s.task_id,
                        "seen": s.seen,
                        "refused": s.refused,
                        "close_code": s.close_code,
                        "server_closed": s.server_closed,
                    }
                    for s in socks
                ],
                "lags": lags,
                "cpu_read": cpu_read,
            }
        )
    )
    print("DONE", flush=True)


def main() -> None:
    """Run the client the spec file describes (uvloop when installed)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop
    except ImportError:
        asyncio.run(client(spec))
    else:
        uvloop.run(client(spec))


def start(spec: dict[str, Any], spec_path: Path, log: Path) -> subprocess.Popen[str]:
    """A client process for `spec` (its stdout says OPEN, then DONE)."""
    spec_path.write_text(json.dumps(spec))
    with log.open("ab") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.fleet", str(spec_path)],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )


if __name__ == "__main__":
    main()
