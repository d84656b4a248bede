"""Data collaboration: how fast a pull's policy check is, and how fast the usage log verifies.

1. **policy evaluation**: a full policy of the profile (a named partner, two purposes, a time window, a count,
   every duty, a metered payment) evaluated ``--evaluations`` times, alone and with its ODRL JSON-LD parsed
   first (what a pull does: the agreement's policy is read from the records database each time, nothing cached).
   Reported: p50/p99/max per call. Target: p99 < 5 ms.
2. **verifying the usage log**: a records database (migrated, SQLite; ``--postgres URL`` adds the server) with
   ``--records`` hash-chained records in 100 firms' chains, then ``smart365.collab.ledger.verify`` over all of
   them (streamed, a batch at a time). Reported: seconds and records per second; then one record tampered with
   raw SQL half-way along and the time to find it. Target: 1,000,000 records < 10 s.

Usage::

    .venv/bin/python bench/bench_collab.py --records 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from smart365.collab import ledger
from smart365.collab.policy import (
    Assignee,
    AssigneeKind,
    Payment,
    PaymentModel,
    Policy,
    Purpose,
    Requester,
    UseRequest,
    evaluate,
    from_jsonld,
    to_jsonld,
)
from smart365.core import migrate
from smart365.core.db import SEOUL, Database

POLICY = Policy(
    assigner=1, assignee=Assignee(AssigneeKind.PARTNER, (7,)), purposes=(Purpose.QUALITY, Purpose.MAINTENANCE),
    start=datetime(2026, 1, 1, tzinfo=SEOUL), end=datetime(2027, 12, 31, 23, 59, 59, tzinfo=SEOUL), max_uses=1000,
    delete_after_days=90, attribution=True, notify_on_use=True, payment=Payment(PaymentModel.METERED, Decimal(50000)),
    kind="Agreement", uid="urn:smart365:agreement:1", target="urn:smart365:offer:1",
)  # fmt: skip


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1], ordered[-1]


def bench_policy(n: int) -> list[str]:
    doc = json.loads(json.dumps(to_jsonld(POLICY)))
    request = UseRequest(Requester("data_partner", 7, None), Purpose.MAINTENANCE, datetime(2026, 6, 1, tzinfo=UTC), 10)
    rows = []
    for label, call in (
        ("evaluate (parsed policy)", lambda: evaluate(POLICY, request)),
        ("parse JSON-LD + evaluate (a pull)", lambda: evaluate(from_jsonld(doc), request)),
    ):
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            decision = call()
            samples.append((time.perf_counter() - t0) * 1000)
        assert decision.allowed
        p50, p99, top = _percentiles(samples)
        rows.append(f"| {label} | {n:,} | {p50:.4f} | {p99:.4f} | {top:.3f} |")
    return rows


def fill(db: Database, records: int, chains: int = 100) -> None:
    """``records`` chained records over ``chains`` firms, written as ``ledger.append`` would (inserted in bulk)."""
    per_chain = records // chains
    start_us = int((datetime.now(UTC) - timedelta(days=365)).timestamp() * 1e6)
    kinds = ("transfer.pull", "transfer.done", "agreement.state")
    insert = ("INSERT INTO collab_usage_log (company_id, seq, at_us, kind, offer_id, agreement_id, actor, details,"
              " prev_hash, hash) VALUES (%s)")  # fmt: skip
    with db.engine.begin() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        marker = "?" if db.url.startswith("sqlite") else "%s"
        sql = insert % ", ".join([marker] * 10)
        cursor = raw.cursor()
        for company in range(1, chains + 1):
            prev, batch = ledger.GENESIS, []
            for seq in range(1, per_chain + 1):
                at_us, kind = start_us + seq * 1_000_000, kinds[seq % 3]
                details = ledger.canonical({"transfer": seq, "rows": 3600, "bytes": 262144, "purpose": "quality"})
                actor = f"partner{company}@example.kr"
                digest = ledger.digest(prev, company, seq, at_us, kind, company, company * 10, actor, details)
                batch.append((company, seq, at_us, kind, company, company * 10, actor, details, prev, digest))
                prev = digest
            cursor.executemany(sql, batch)


def bench_verify(url: str, records: int, label: str) -> list[str]:
    db = Database(url)
    t0 = time.perf_counter()
    fill(db, records)
    filled = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = ledger.verify(db)
    took = time.perf_counter() - t0
    assert found.ok and found.records == records, found
    middle = records // 2
    with db.engine.begin() as connection:
        ledger.lift_guard(connection)
        connection.exec_driver_sql(f"UPDATE collab_usage_log SET actor = 'tampered' WHERE id = {middle}")
    t0 = time.perf_counter()
    broken = ledger.verify(db)
    found_in = time.perf_counter() - t0
    assert not broken.ok and broken.first_bad is not None and broken.first_bad.id == middle, broken
    db.dispose()
    return [
        f"| {label} | {records:,} | {took:.2f} | {records / took:,.0f} | {found_in:.2f} (row {middle:,}: "
        f"{broken.first_bad.reason}) | {filled:.1f} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server: verify there too")
    args = parser.parse_args()
    print(f"# .venv/bin/python bench/bench_collab.py {' '.join(sys.argv[1:])}")
    print(f"# {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| policy check | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    print("\n".join(bench_policy(args.evaluations)))
    print("\n| usage log | records | verify s | records/s | tampered record found in s | fill s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'records.db'}"
        migrate.upgrade(url)
        print("\n".join(bench_verify(url, args.records, "SQLite (embedded)")), flush=True)
    if args.postgres:
        from smart365.sim.fleet import centre_database

        with centre_database(args.postgres, prefix="smart365_bench") as pg_url:
            print("\n".join(bench_verify(pg_url, args.records, "PostgreSQL (server)")), flush=True)


if __name__ == "__main__":
    main()
