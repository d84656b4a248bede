"""Isolation: one firm member's bad requests must not slow or stop anyone else's.

A fresh ``smart365 serve`` (embedded shape) on a free port. Two phases of ``--seconds`` each:

1. **quiet**: a victim client alone, in a loop: ``GET /healthz`` and a 5,000-point JSON ingest
   (``POST /api/v1/ingest``, 10 tags × 500 seconds), each timed from request to full answer;
2. **under attack**: the same victim loop while two attacker processes send, over and over, a 100 MB junk body
   to the line-protocol ingest (chunked, no Content-Length, so only a limit counted while reading stops it)
   and one line with 50,000 fields.

Reported: victim p50/p99/max per request kind and phase, what the attackers got back (status codes), and the
server's peak resident memory (VmHWM from ``/proc``). The target: victim p99 under 200 ms and RSS under 1 GB.

Usage::

    .venv/bin/python bench/bench_isolation.py --seconds 30
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_production import firm_with_line, free_port, token, wait_http

JUNK_MB = 100


def seed(env: dict[str, str]) -> tuple[list[int], int]:
    """A firm with one machine of 10 tags and a member; returns the tag ids and the machine id."""
    os.environ.update(env)
    from smart365.bootstrap import records
    from smart365.core.settings import Settings
    from smart365.core.tenancy import SYSTEM
    from smart365.registry.models import Equipment, Tag

    db = records(Settings())
    with db.session(SYSTEM) as session:
        firm, line = firm_with_line(session, "격리 정밀")
        machine = Equipment(company_id=firm.id, line_id=line.id, name="MCT-01", kind="cnc")
        session.add(machine)
        session.flush()
        tags = [Tag(company_id=firm.id, equipment_id=machine.id, name=f"t{i}") for i in range(10)]
        session.add_all(tags)
        session.flush()
        ids, machine_id = [t.id for t in tags], machine.id
    db.dispose()
    return ids, machine_id


def timed(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return time.perf_counter() - started, response.status


def victim(port: int, auth: dict[str, str], tags: list[int], seconds: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = collections.defaultdict(list)
    t0 = datetime.now(UTC) - timedelta(days=20)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        took, status = timed(port, "GET", "/healthz", None, {})
        assert status == 200
        times["GET /healthz"].append(took)
        points = [{"tag_id": tag, "ts": (t0 + timedelta(seconds=n * 500 + s)).isoformat(), "value": float(s)}
                  for s in range(500) for tag in tags]  # fmt: skip
        body = json.dumps({"points": points}).encode()
        took, status = timed(port, "POST", "/api/v1/ingest", body, {"Content-Type": "application/json", **auth})
        assert status == 200, status
        times["POST /api/v1/ingest (5,000 points)"].append(took)
        n += 1
    return times


def junk_chunks() -> Iterator[bytes]:
    chunk = b"x" * (1 << 20)
    for _ in range(JUNK_MB):
        yield chunk


def attacker(port: int, auth: dict[str, str], machine_id: int, stop: Any, results: Any) -> None:
    """In a process of its own (so the victim's timings are not the client's own GIL contention)."""
    seen: collections.Counter[str] = collections.Counter()
    wide = f"m,equipment_id={machine_id} " + ",".join(f"f{i}=1" for i in range(50_000))
    headers = {"Content-Type": "text/plain", **auth}
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("POST", "/api/v1/ingest", body=junk_chunks(), headers=headers, encode_chunked=True)
            seen[f"100 MB junk → {conn.getresponse().status}"] += 1
            conn.close()
        except (OSError, http.client.HTTPException) as exc:  # the server may close the upload early: fine
            seen[f"100 MB junk → {type(exc).__name__}"] += 1
        _took, status = timed(port, "POST", "/api/v1/ingest", wide.encode(), headers)
        seen[f"50,000-field line → {status}"] += 1
    results.put(dict(seen))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CpuMeter:
    """CPU seconds a process used per wall second, since the last reading."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.last = self._now()

    def _now(self) -> tuple[float, float]:
        times = self.process.cpu_times()
        return times.user + times.system, time.monotonic()

    def cores(self) -> float:
        (cpu0, wall0), self.last = self.last, self._now()
        return (self.last[0] - cpu0) / max(self.last[1] - wall0, 1e-9)


def summary(label: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {p99:.1f} | {ms[-1]:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smart365-isolation-"))
    env = {"SMART365_DATA_DIR": str(work), "SMART365_SECRET_KEY": "bench", "SMART365_WARM_UP": "false"}
    tags, machine_id = seed(env)
    port = free_port()
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "smart365", "serve", "--port", str(port)],
                              env={**os.environ, **env}, stdout=log, stderr=log)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base)
        auth = {"Authorization": f"Bearer {token(base)}"}
        cpu = CpuMeter(server.pid)
        quiet = victim(port, auth, tags, args.seconds)
        cores = {"quiet": cpu.cores()}
        context = multiprocessing.get_context("spawn")
        stop, results = context.Event(), context.Queue()
        attackers = [context.Process(target=attacker, args=(port, auth, machine_id, stop, results)) for _ in range(2)]
        for process in attackers:
            process.start()
        time.sleep(1)
        attacking = [CpuMeter(process.pid) for process in attackers if process.pid is not None]
        cpu.cores()
        loud = victim(port, auth, tags, args.seconds)
        cores["under attack"] = cpu.cores()
        cores["attacker clients"] = sum(meter.cores() for meter in attacking)
        stop.set()
        seen: collections.Counter[str] = collections.Counter()
        for _process in attackers:
            seen.update(results.get(timeout=180))
        for process in attackers:
            process.join(timeout=30)
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"# .venv/bin/python bench/bench_isolation.py --seconds {args.seconds:g}")
    print("| victim request | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for phase, times in (("quiet", quiet), ("under attack", loud)):
        for kind, values in times.items():
            print(summary(f"{kind}, {phase}", values))
    print()
    print("attackers got: " + ", ".join(f"{k} ×{v}" for k, v in sorted(seen.items())))
    print(f"server peak RSS (VmHWM): {rss:.0f} MB")
    print("CPU used, in cores (CPU seconds per wall second): " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items()))


if __name__ == "__main__":
    main()
