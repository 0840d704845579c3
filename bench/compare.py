"""celery-progress 0.5 beside ours, in the same run, through the same Daphne and Redis.

Its tasks (bench/cp_tasks.py) run on a worker of their own (bench.settings: the project
plus celery_progress and channels_redis' default layer, as its README sets up). Each
set_progress carries its wall time as the description, so a client can tell how long
after the set it first showed a value.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from django_starter.celery import app as celery_app

from .table import Row, percentile

CP_QUEUE = "bench-celery-progress"


def send(steps: int, delay: float, *, websocket: bool) -> str:
    result = celery_app.send_task(
        "bench.cp_steps",
        kwargs={"steps": steps, "delay": delay, "websocket": websocket},
        queue=CP_QUEUE,
    )
    return str(result.id)


def summary(shown: list[tuple[float, int]], result: dict[str, Any]) -> dict[str, Any]:
    """For each value the task set: how long until the bar showed it or a later one.

    `shown` is (receive time, current) per answer or message; the final one (complete)
    shows the last value. A value no answer carried is "never shown".
    """
    set_at: list[float] = result["set_at"]
    steps = len(set_at)
    latencies = []
    for value, at in enumerate(set_at, start=1):
        first = next((seen for seen, current in shown if current >= value), None)
        if first is not None:
            latencies.append(first - at)
    distinct = {current for _, current in shown if 1 <= current <= steps}
    return {"latencies": latencies, "never_shown": steps - len(distinct), "steps": steps}


def current_of(data: dict[str, Any], steps: int) -> int | None:
    """The value a celery-progress answer shows: PROGRESS's current, or all of it when done."""
    if data.get("complete"):
        return steps
    progress = data.get("progress") or {}
    return int(progress["current"]) if data["state"] == "PROGRESS" else None


async def polling(base_url: str, *, steps: int, delay: float, interval: float) -> dict[str, Any]:
    """Poll GET /celery-progress/<id>/ as its JS does: the next request `interval` after
    each answer, until `complete` (whose `result` says when each value was set)."""
    shown: list[tuple[float, int]] = []
    task_id = send(steps, delay, websocket=False)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        asyncio.timeout(60 + 2 * steps * delay),
    ):
        while True:
            data = (await client.get(f"/celery-progress/{task_id}/")).json()
            now = time.time()
            current = current_of(data, steps)
            if current is not None:
                shown.append((now, current))
            if data.get("complete"):
                return summary(shown, data["result"])
            await asyncio.sleep(interval)


async def websocket(base_url: str, *, steps: int, delay: float) -> dict[str, Any]:
    """Its WebSocketProgressRecorder, watched at /ws/cp/<id>/ from before the task is sent."""
    import websockets

    shown: list[tuple[float, int]] = []
    result = celery_app.send_task(  # id first, the message after the socket joined
        "bench.cp_steps",
        kwargs={"steps": steps, "delay": delay, "websocket": True},
        queue=CP_QUEUE,
        countdown=1.0,
    )
    url = base_url.replace("http://", "ws://") + f"/ws/cp/{result.id}/"
    async with (
        websockets.connect(url, additional_headers={"Origin": base_url}, open_timeout=10) as ws,
        asyncio.timeout(60 + 2 * steps * delay),
    ):
        async for raw in ws:
            data = json.loads(raw)
            current = current_of(data, steps)
            if current is not None:
                shown.append((time.time(), current))
            if data.get("complete"):
                return summary(shown, data["result"])
    raise RuntimeError("celery-progress's socket closed before the task completed")


def cost(calls: int, *, websocket: bool) -> dict[str, Any]:
    """set_progress in a real task: seconds per call and Redis commands per call."""
    result = celery_app.send_task(
        "bench.cp_cost", kwargs={"calls": calls, "websocket": websocket}, queue=CP_QUEUE
    )
    return dict(result.get(timeout=300))


def rows(
    *,
    poll: dict[str, Any],
    ws: dict[str, Any],
    cost_poll: dict[str, Any],
    cost_ws: dict[str, Any],
    ours: dict[str, Any],
    steps: int,
    delay: float,
    interval: float,
) -> list[Row]:
    """celery-progress's rows, ours on the same shape, and the ratios (theirs / ours)."""
    shape = f"{steps} steps x {delay:g} s"
    ours_p50 = percentile(ours["latencies"], 50)
    ours_p99 = percentile(ours["latencies"], 99)
    ours_call = ours["seconds_per_call"]
    ours_cmds = ours["commands_per_call"]
    out = [
        Row(
            "ours: WS latency p50",
            ours_p50 * 1000,
            "ms",
            f"one watcher, {shape} (the sweep's 1-on-1 point)",
        ),
        Row("ours: WS latency p99", ours_p99 * 1000, "ms", ""),
        Row(
            "ours: values never shown",
            ours["never_shown"],
            "values",
            f"of {steps}, over our WebSocket",
        ),
        Row("ours: progress.set cost", ours_call * 1e6, "µs/call", "the tight loop above"),
        Row(
            "ours: Redis commands per set",
            ours_cmds,
            "cmd/call",
            "tight loop: coalesced to one write per 50 ms",
        ),
    ]
    for name, data in (
        (f"celery-progress polling {interval * 1000:.0f} ms", poll),
        ("celery-progress WebSocket", ws),
    ):
        p50, p99 = percentile(data["latencies"], 50), percentile(data["latencies"], 99)
        out += [
            Row(
                f"{name}: latency p50",
                p50 * 1000,
                "ms",
                f"{shape}; set → bar shows it or later; {p50 / ours_p50:.1f}x ours",
            ),
            Row(f"{name}: latency p99", p99 * 1000, "ms", f"{p99 / ours_p99:.1f}x ours"),
            Row(
                f"{name}: values never shown",
                data["never_shown"],
                "values",
                f"of {steps} ({100 * data['never_shown'] / steps:.0f}%); ours "
                f"{ours['never_shown']}",
            ),
        ]
    for name, data in (
        ("celery-progress set_progress", cost_poll),
        ("celery-progress WS set_progress", cost_ws),
    ):
        per_call = data["seconds"] / data["calls"]
        per_cmds = data["commands"] / data["calls"]
        out += [
            Row(
                f"{name} cost",
                per_call * 1e6,
                "µs/call",
                f"{data['calls']:,} calls in a real task; {per_call / ours_call:,.0f}x ours",
            ),
            Row(
                f"{name} Redis commands",
                per_cmds,
                "cmd/call",
                f"ours {ours_cmds:.4f}/call",
            ),
        ]
    return out
