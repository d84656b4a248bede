"""Time partitions of the centre's rollup tables on PostgreSQL: made ahead, dropped after their retention.

A 1-minute table gets one partition a day and keeps 35 days; a 1-hour table one a month and keeps about
three years. Rows the centre cannot place (older than what is kept, or far in the future: a plant's clock
gone wrong) are refused before they reach the table (:func:`kept_window`), so a partition is never missing.

>>> from datetime import datetime, UTC
>>> [f"{moment:%m-%d %H:%M}" for moment in ROLLUP_1M.bounds(datetime(2026, 12, 7, 15, tzinfo=UTC))]
['12-07 00:00', '12-08 00:00']
>>> ROLLUP_1H.partition_name(datetime(2026, 12, 7, tzinfo=UTC))
'fleet_rollup_1h_p202612'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

AHEAD = timedelta(days=2)  # partitions exist this far into the future; rows beyond it are refused


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    period: Literal["day", "month"]
    retention: timedelta

    def bounds(self, moment: datetime) -> tuple[datetime, datetime]:
        """The partition holding ``moment``: ``[start, end)`` in UTC."""
        moment = moment.astimezone(UTC)
        if self.period == "day":
            start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            return start, start + timedelta(days=1)
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start, end

    def partition_name(self, start: datetime) -> str:
        return f"{self.table}_p{start:%Y%m%d}" if self.period == "day" else f"{self.table}_p{start:%Y%m}"

    def kept_window(self, now: datetime) -> tuple[datetime, datetime]:
        """``[oldest, newest)`` bucket the table takes now: what is kept, up to the partitions made ahead."""
        return self.bounds(now - self.retention)[0], self.bounds(now + AHEAD)[1]

    def starts(self, now: datetime) -> list[datetime]:
        """The start of every partition that should exist now."""
        start, end = self.kept_window(now)
        out = []
        while start < end:
            out.append(start)
            start = self.bounds(start)[1]
        return out


ROLLUP_1M = PartitionedTable("fleet_rollup_1m", "day", timedelta(days=35))
ROLLUP_1H = PartitionedTable("fleet_rollup_1h", "month", timedelta(days=3 * 366))
TABLES = (ROLLUP_1M, ROLLUP_1H)


def maintain(conn: Any, now: datetime | None = None) -> tuple[int, int]:
    """Make the partitions that should exist and drop those past retention (psycopg connection, PostgreSQL).

    Several workers may run it at once: an advisory lock takes them one at a time. Returns (made, dropped).
    """
    now = now or datetime.now(UTC)
    made = dropped = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(365017)")
        for table in TABLES:
            existing = {
                row[0]
                for row in conn.execute(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
                    (table.table,),
                )
            }
            wanted = {table.partition_name(start): start for start in table.starts(now)}
            for name, start in wanted.items():
                if name not in existing:
                    end = table.bounds(start)[1]
                    conn.execute(
                        f'CREATE TABLE "{name}" PARTITION OF {table.table} '
                        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                    )
                    made += 1
            oldest = min(wanted.values())
            for name in existing - wanted.keys():
                if name < table.partition_name(oldest):  # past retention (names sort as their dates)
                    conn.execute(f'DROP TABLE "{name}"')
                    dropped += 1
    return made, dropped
