"""Idle memory of ``smart365 serve`` in the embedded shape, with the default settings, as a plant runs it.

Starts ``smart365 serve`` on a free port over a fresh data directory (a plant's own installation: no centre
staff, so no ticket classifier is trained), waits until it answers, loads the login page, idles ``--idle``
seconds and prints the server's resident set size (VmRSS). ``--centre`` first seeds a centre administrator,
so start-up also trains the ticket classifier, as the centre's installation does.

Usage::

    .venv/bin/python bench/serve_rss.py            # a plant's installation
    .venv/bin/python bench/serve_rss.py --centre   # the centre's
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_production import free_port, wait_http


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _seed_centre_admin(env: dict[str, str]) -> None:
    os.environ.update(env)
    from smart365.bootstrap import records
    from smart365.core.accounts import create_user
    from smart365.core.settings import Settings
    from smart365.core.tenancy import SYSTEM, Role

    db = records(Settings())
    with db.session(SYSTEM) as session:
        create_user(session, "admin@centre.example", "센터 관리자", "bench-password-1", Role.CENTRE_ADMIN)
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=float, default=30.0, help="seconds to idle before reading the RSS")
    parser.add_argument("--centre", action="store_true", help="a centre administrator exists (warm-up trains)")
    args = parser.parse_args()
    env = {"SMART365_DATA_DIR": tempfile.mkdtemp(prefix="smart365-rss-"), "SMART365_SECRET_KEY": "bench"}
    if args.centre:
        _seed_centre_admin(env)
    port = free_port()
    command = [sys.executable, "-m", "smart365", "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}")
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30).read()
        time.sleep(args.idle)
        shape = "the centre's installation" if args.centre else "a plant's installation"
        print(f"smart365 serve, embedded, default settings, {shape}: RSS {_rss_mb(proc.pid):.0f} MB "
              f"after {args.idle:.0f} s idle")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
