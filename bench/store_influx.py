"""InfluxDB 1.x as the peer in ``bench_store.py``: the server a small factory would otherwise install.

The benchmark starts Debian's ``influxd`` itself on loopback (temporary config and data directory, free
ports, its own fsynced write-ahead log as shipped), writes through the HTTP line-protocol API and queries
with InfluxQL, then stops it and removes its data. One series per tag (``ts,tag_id=<id> value=<v> <µs>``); the
quality column is not written (less work for InfluxDB than our store does). Peak memory is influxd's own
(``VmHWM`` from ``/proc``), CPU its user + system time.

Install with ``apt-get install -y influxdb`` (it is not a Smart365 dependency).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from smart365.telemetry.batch import Batch

INSTALL_HINT = "InfluxDB 1.x is not installed: `apt-get install -y influxdb` (Debian), then run again."

CONFIG = """reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  cache-max-memory-size = "8g"
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
"""


def influxd_path() -> str | None:
    return shutil.which("influxd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def line_protocol(batch: Batch) -> bytes:
    """The batch as line protocol at microsecond precision, one series per tag."""
    rows = zip(batch.tag_id.tolist(), batch.value.tolist(), batch.ts_us.tolist(), strict=True)
    return "\n".join([f"ts,tag_id={t} value={v!r} {ts}" for t, v, ts in rows]).encode()


class Influx:
    """A throwaway influxd: started on free loopback ports, stopped and deleted by :meth:`close`."""

    def __init__(self, procs: int | None = None) -> None:
        binary = influxd_path()
        if binary is None:
            raise SystemExit(INSTALL_HINT)
        self.root = Path(tempfile.mkdtemp(prefix="smart365-bench-influx-"))
        self.port = free_port()
        config = self.root / "influxdb.conf"
        config.write_text(CONFIG.format(root=self.root, rpc_port=free_port(), http_port=self.port))
        env = {**os.environ, **({"GOMAXPROCS": str(procs)} if procs else {})}
        self._log = (self.root / "influxd.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "run", "-config", str(config)], stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            self._wait_ready()
            self.query("CREATE DATABASE bench", method="POST")
        except BaseException:
            self.close()  # leave no server or data behind
            raise

    def _wait_ready(self) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxd exited: {(self.root / 'influxd.log').read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 204:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("influxd did not answer /ping within 30 s")

    def write(self, body: bytes) -> None:
        """One line-protocol write; returns once influxd answered 204 (in its WAL)."""
        self.conn.request("POST", "/write?db=bench&precision=u", body=body)
        response = self.conn.getresponse()
        text = response.read()
        if response.status != 204:
            raise RuntimeError(f"influxd write failed: {response.status} {text[:500]!r}")

    def query(self, q: str, method: str = "GET") -> list[dict[str, Any]]:
        """The series of one InfluxQL statement (timestamps as epoch µs), parsed from JSON."""
        params = urlencode({"db": "bench", "q": q, "epoch": "u"})
        if method == "GET":
            self.conn.request("GET", f"/query?{params}")
        else:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            self.conn.request("POST", "/query", body=params, headers=headers)
        response = self.conn.getresponse()
        result = json.loads(response.read())
        if response.status != 200 or "error" in result or "error" in result["results"][0]:
            raise RuntimeError(f"influxd query failed: {result}")
        return list(result["results"][0].get("series", []))

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, limit_s: float = 300) -> float:
        """Wait until influxd uses under 5 % of a core (snapshots and compactions done); seconds waited."""
        start = time.monotonic()
        last = self.cpu_s()
        while time.monotonic() - start < limit_s:
            time.sleep(2)
            now = self.cpu_s()
            if now - last < 0.1:
                break
            last = now
        return time.monotonic() - start

    def close(self) -> None:
        self.conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def range_query(tags: list[int], start_us: int, end_us: int, width_us: int, origin_us: int) -> str:
    """Per-bucket min/max/mean/count over ``[start, end)``, buckets aligned to ``origin`` as ours are."""
    where = " OR ".join(f"tag_id = '{t}'" for t in tags)
    by_tag = ", tag_id" if len(tags) > 1 else ""
    return (
        "SELECT min(value), max(value), mean(value), count(value) FROM ts "
        f"WHERE ({where}) AND time >= {start_us}u AND time < {end_us}u "
        f"GROUP BY time({width_us}u, {origin_us % width_us}u){by_tag} fill(none)"
    )


def latest_query(tags: list[int]) -> str:
    return "SELECT last(value) FROM ts WHERE " + " OR ".join(f"tag_id = '{t}'" for t in tags) + " GROUP BY tag_id"
