"""The benchmark runs on the real stack in a tiny configuration and prints every figure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

pytestmark = [pytest.mark.slow]

EXPECTED_METRICS = [
    "POST /tasks/ latency p50",
    "POST /tasks/ latency p95",
    "POST /tasks/ throughput",
    "POST → first WS message p50",
    "enqueue → STARTED seen on WS p50",
    "enqueue → SUCCESS seen on WS p50",
    "progress.set() cost per call",
    "tight loop WS messages",
    "tight loop snapshot writes",
    "tight loop final value delivered",
    "WS message latency (set → client) p50",
    "WS message latency (set → client) p95",
    "GET /health/ latency p50",
    "workers_online() heartbeat ZCOUNT",
    "control.ping(timeout=1) per call",
    "worker SIGKILL → workers_online 0",
    "worker SIGKILL → page told (WS)",
    "Redis cmds/s, no socket open",
    "ours: WS latency p50",
    "ours: values never shown",
    "ours: Redis commands per set",
    "celery-progress polling 500 ms: latency p50",
    "celery-progress polling 500 ms: values never shown",
    "celery-progress WebSocket: latency p50",
    "celery-progress set_progress cost",
    "celery-progress set_progress Redis commands",
    "celery-progress WS set_progress cost",
    "throughput bare",
    "throughput tracked",
    "throughput untracked",
    "throughput tracked / bare",
    "throughput untracked / bare",
]
# The quick sweep: one socket, 10 on 10 tasks (20 on one task: the servers section's points).
SWEEP = ["watchers 1 on 1 task", "watchers 10 on 10 tasks"]
SWEEP_ROWS = [
    "latency p50",
    "latency p95",
    "latency p99",
    "latency max",
    "first socket p99",
    "fan-out spread p99",
    "values skipped",
    "missed terminal",
    "Daphne CPU running",
    "bench client loop lag p99",
    "Daphne RSS",
    "Redis cmds/s idle",
    "Redis cmds/s running",
]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_quick_benchmark_prints_the_table_and_stops_its_stack(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    bench = subprocess.Popen(
        [sys.executable, "bench/run.py", "--quick", "--calls", "20000", "--json", str(report)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=300)  # a ceiling: about 80 s here
    except subprocess.TimeoutExpired:
        # Ctrl-C, not a kill: the benchmark stops the stack it started on its way out.
        bench.send_signal(signal.SIGINT)
        stdout, stderr = bench.communicate(timeout=120)
        pytest.fail(f"the quick benchmark took over 300 s:\n{stdout}{stderr}")
    run = subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    assert "redis-server" in lines[1]
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split() == ["metric", "value", "unit", "notes"]
    expected = EXPECTED_METRICS + [f"{p}: {r}" for p in SWEEP for r in SWEEP_ROWS]
    for metric in expected:
        assert any(line.startswith(metric + " ") for line in lines), f"no row {metric!r}"

    data = json.loads(report.read_text())
    rows = {row["metric"]: row for row in data["rows"]}
    value = {metric: row["value"] for metric, row in rows.items()}
    assert data["machine"]["cores"] >= 1
    for metric in (
        "POST /tasks/ latency",
        "GET /health/ latency",
        "WS message latency (set → client)",
    ):
        assert 0 < value[f"{metric} p50"] <= value[f"{metric} p95"]
    assert value["POST /tasks/ throughput"] > 0
    # The task body alone sleeps 20 x 10 ms; SUCCESS comes after STARTED.
    assert value["enqueue → SUCCESS seen on WS p50"] >= 200
    assert value["enqueue → STARTED seen on WS p50"] < value["enqueue → SUCCESS seen on WS p50"]
    # Coalescing: a handful of messages for 20,000 calls, and the last value arrives.
    assert value["tight loop final value delivered"] == "yes"
    assert 3 <= value["tight loop WS messages"] <= value["tight loop snapshot writes"] + 1
    assert value["tight loop snapshot writes"] < 1000
    assert "SUCCESS at current=20,000, 100%" in rows["tight loop final value delivered"]["notes"]
    assert value["progress.set() cost per call"] > 0
    assert "counted 1" in rows["workers_online() heartbeat ZCOUNT"]["notes"]
    assert "1 reply" in rows["control.ping(timeout=1) per call"]["notes"]
    assert value["worker SIGKILL → workers_online 0"] > 0
    assert value["worker SIGKILL → page told (WS)"] > 0
    # Every watcher of every point got the terminal state; none was refused.
    for point in SWEEP:
        assert value[f"{point}: missed terminal"] == 0, rows[f"{point}: missed terminal"]
        assert "0 refused" in rows[f"{point}: missed terminal"]["notes"]
        assert 0 < value[f"{point}: latency p50"] <= value[f"{point}: latency p99"]
        assert value[f"{point}: latency p99"] <= value[f"{point}: latency max"]
        assert value[f"{point}: Daphne RSS"] > 0
        assert value[f"{point}: Redis cmds/s running"] > 0
    # celery-progress, wired in by the benchmark only: its rows measured, beside ours.
    assert value["ours: values never shown"] == 0
    assert 0 <= value["celery-progress polling 500 ms: values never shown"] <= 20
    assert value["celery-progress set_progress Redis commands"] >= 1
    assert (
        value["celery-progress set_progress Redis commands"] > value["ours: Redis commands per set"]
    )
    for kind in ("bare", "tracked", "untracked"):
        assert value[f"throughput {kind}"] > 0
    assert not any(name.startswith("dev stack") for name in rows)  # full runs only
    # Issue 17: the three servers, two processes on one socket, throughput end to end.
    for server in ("daphne", "uvicorn", "granian"):
        version = data["machine"]["packages"][server]
        point = f"{server} {version} 20 watchers"
        assert value[f"{point}: missed terminal"] == 0, rows[f"{point}: missed terminal"]
        assert "0 refused" in rows[f"{point}: missed terminal"]["notes"]
        assert value[f"{point}: web CPU per socket message"] > 0
        assert 0 < value[f"{point}: latency p50"] <= value[f"{point}: latency p99"]
        # /metrics' histogram (diagnostics/metrics.py) is read when the project has it.
        assert (
            f"{point}: /metrics socket delay p50" in rows
            or f"{point}: /metrics socket delay" in rows
        )
    capacity = rows["capacity daphne x2 20: missed terminal, 1 runs"]
    assert capacity["value"] == 0 and "refused [0]" in capacity["notes"], capacity
    assert (
        "accepted per process"
        in rows["capacity daphne x2 20 watchers run 1: missed terminal"]["notes"]
    )
    for kind in ("bare", "owners", "one-owner"):
        assert value[f"e2e throughput {kind}"] > 0
        assert value[f"e2e send cost {kind}"] > 0
        assert value[f"e2e Redis commands {kind}"] > 0
    for kind in ("owners", "one-owner"):
        assert value[f"e2e tracked / bare ({kind})"] > 0
        assert value[f"e2e start() / apply_async ({kind})"] > 0
    # Everything the benchmark started is gone: Redis, Daphne, five workers, three servers,
    # the fan-out worker, two processes on one socket and two end-to-end workers.
    assert len(data["pids"]) == 15
    assert not [pid for pid in data["pids"] if pid_alive(pid)]
