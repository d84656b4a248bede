"""The time-series store: one interface, an embedded DuckDB file and a PostgreSQL server behind it.

Tables (the same in both databases): ``ts_points`` (raw points), ``ts_rollup_1m`` and ``ts_rollup_1h``
(min, max, sum, count, first and last timestamp per tag and bucket), ``ts_latest`` (newest point per tag),
``ts_dead_letter`` (rejected rows with their reason), ``ts_revisions`` (values a point was sent with and does
not hold) and ``ts_tags`` (the registry's names, for the ``grafana_*`` views dashboards read).

- **Idempotent appends.** :meth:`TimeSeriesStore.append` stores only the (tag_id, ts) pairs it does not hold
  yet and returns how many it stored, so a batch delivered twice is stored once.
- **Corrections are not duplicates.** A point re-sent with *another* value or quality is a conflict, settled
  by the policy of the tag's firm (:attr:`TimeSeriesStore.corrections`) in the same transaction: keep the
  first value (the re-sent one is kept as *refused*), overwrite (the older value is kept as *replaced*, and
  the rollups and latest value follow), or keep both (the re-sent one is kept as a *correction*). Every
  other value of a point is in ``ts_revisions``, as a historian keeps revisions (:meth:`~TimeSeriesStore.revisions`).
- **Rollups** are merged from the newly stored rows inside the same transaction, so they always match the
  raw table for the affected buckets; :meth:`~TimeSeriesStore.retention` rebuilds the bucket it cuts through.
- **Downsampled ranges** never return more than ``max_points`` buckets per tag and keep the true minimum and
  maximum: full buckets come from the coarsest rollup that tiles them, the ragged edges from finer levels.
- **Durability.** An ``append`` that returned has committed: DuckDB has written and synced its write-ahead
  log, PostgreSQL runs with ``synchronous_commit = on``. An ``accept`` that returned is at least synced to the
  store's ingest log (:mod:`~smart365.telemetry.ingest_log`), stored soon after and again after a crash.

>>> store = DuckDBStore(":memory:")
>>> store.append(Batch.from_columns(1, ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"], [1.0, 3.0]))
2
>>> store.append(Batch.from_columns(1, ["2024-01-01T00:00:00Z"], [9.0]))  # already held: ignored
0
>>> store.range(1, "2024-01-01", "2024-01-02", max_points=10).column("avg").to_pylist()
[2.0]
"""

from __future__ import annotations

import io
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, get_args

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from smart365.core.db import libpq_url
from smart365.core.lazy import lazy
from smart365.telemetry.batch import DEAD_LETTER_SCHEMA, NAT_US, TS_TYPE, Batch, to_epoch_us
from smart365.telemetry.ingest_log import IngestLog

if TYPE_CHECKING:
    import psycopg
else:
    psycopg = lazy("psycopg")  # the server shape only: the embedded one never loads it

_log = logging.getLogger(__name__)

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US

RANGE_SCHEMA = pa.schema(
    [
        ("tag_id", pa.int64()),
        ("bucket", TS_TYPE),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("avg", pa.float64()),
        ("count", pa.int64()),
        ("first_ts", TS_TYPE),
        ("last_ts", TS_TYPE),
    ]
)
"""One row per tag and bucket; ``bucket`` is the bucket's start, ``first_ts``/``last_ts`` the real points."""
LATEST_SCHEMA = pa.schema([("tag_id", pa.int64()), ("ts", TS_TYPE), ("value", pa.float64()), ("quality", pa.int16())])
DEAD_LETTER_OUT_SCHEMA = pa.schema([("received_at", TS_TYPE), *DEAD_LETTER_SCHEMA])
REVISION_SCHEMA = pa.schema([("received_at", TS_TYPE), *LATEST_SCHEMA, ("outcome", pa.string())])
"""Another value a point was sent with: ``refused`` or ``correction`` (the re-sent value, the first one kept) or
``replaced`` (the older value, overwritten by the re-sent one)."""
#: The registry's tags as the SQL views for dashboards name them (:meth:`TimeSeriesStore.name_tags`).
TAG_NAMES_SCHEMA = pa.schema([("tag_id", pa.int64()), ("company_id", pa.int64()), ("equipment", pa.string()),
                              ("tag", pa.string()), ("label", pa.string()), ("unit", pa.string())])  # fmt: skip

Correction = Literal["keep_first", "overwrite", "keep_both"]
"""A firm's policy for a point re-sent with another value (:attr:`TimeSeriesStore.corrections`)."""
CORRECTIONS: tuple[Correction, ...] = get_args(Correction)
_OUTCOMES: dict[Correction, str] = {"keep_first": "refused", "overwrite": "replaced", "keep_both": "correction"}
CorrectionPolicies = Callable[[list[int]], Mapping[int, Correction]]
"""The policy of each of these tags' firms (a tag left out keeps the first value)."""


@dataclass(frozen=True, slots=True)
class Written:
    """What :meth:`TimeSeriesStore.write` did with a batch."""

    new: int  # points not held before, now stored
    conflicts: int  # points held already with another value or quality, settled by their correction policy


class SupportsArrow(Protocol):
    """Anything that converts itself to an Arrow table (e.g. the pipeline's ``DeadLetters``)."""

    def to_arrow(self) -> pa.Table: ...


# -- bucket planning (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    """A resolution the store keeps: raw points or a rollup table with a fixed bucket width."""

    name: str
    table: str
    width_us: int


RAW = Level("raw", "ts_points", 1)
ROLLUP_1M = Level("1m", "ts_rollup_1m", MINUTE_US)
ROLLUP_1H = Level("1h", "ts_rollup_1h", HOUR_US)
LEVELS = (RAW, ROLLUP_1M, ROLLUP_1H)

Segment = tuple[Level, int, int]


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """How a downsampled range is computed: buckets ``[origin + k·width, origin + (k+1)·width)``."""

    origin_us: int
    width_us: int
    segments: tuple[Segment, ...]

    def bucket_count(self, end_us: int) -> int:
        """How many buckets reach from the origin to ``end_us`` (an upper bound on result rows per tag)."""
        return _ceil_div(end_us - self.origin_us, self.width_us)


def plan_buckets(start_us: int, end_us: int, max_points: int) -> BucketPlan:
    """Choose a bucket width for ``[start, end)`` giving at most ``max_points`` buckets, and the sources.

    A rollup level is used when its whole-unit width is at most twice the narrowest width that fits,
    trading up to half the requested points for reading one row per rollup bucket instead of raw points.

    >>> day = 24 * HOUR_US
    >>> plan = plan_buckets(0, 30 * day, 1000)
    >>> plan.width_us // HOUR_US, plan.bucket_count(30 * day), [s[0].name for s in plan.segments]
    (1, 720, ['1h'])
    >>> [(s[0].name, s[1], s[2]) for s in plan_buckets(90, 10 * MINUTE_US + 5, 4).segments]
    [('raw', 90, 60000000), ('1m', 60000000, 600000000), ('raw', 600000000, 600000005)]
    """
    if end_us <= start_us or max_points < 1:
        raise ValueError("need start < end and max_points >= 1")
    narrowest = _ceil_div(end_us - start_us, max_points)
    for index in (2, 1):
        unit = LEVELS[index].width_us
        origin = start_us // unit * unit
        width = _ceil_div(_ceil_div(end_us - origin, max_points), unit) * unit
        if width <= 2 * narrowest:
            return BucketPlan(origin, width, tuple(_segments(start_us, end_us, index)))
    return BucketPlan(start_us, narrowest, ((RAW, start_us, end_us),))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _segments(lo: int, hi: int, index: int) -> list[Segment]:
    """Tile ``[lo, hi)``: whole buckets of level ``index`` in the middle, finer levels at the edges."""
    if lo >= hi:
        return []
    if index == 0:
        return [(RAW, lo, hi)]
    unit = LEVELS[index].width_us
    first, last = _ceil_div(lo, unit) * unit, hi // unit * unit
    if first >= last:
        return _segments(lo, hi, index - 1)
    return [*_segments(lo, first, index - 1), (LEVELS[index], first, last), *_segments(last, hi, index - 1)]


# -- SQL shared by both databases ----------------------------------------------------------------------

_ROLLUP_COLUMNS = (
    "tag_id BIGINT NOT NULL, bucket TIMESTAMPTZ NOT NULL, vmin FLOAT8 NOT NULL, vmax FLOAT8 NOT NULL, "
    "vsum FLOAT8 NOT NULL, n BIGINT NOT NULL, first_ts TIMESTAMPTZ NOT NULL, last_ts TIMESTAMPTZ NOT NULL, "
    "PRIMARY KEY (tag_id, bucket)"
)
_NAMED = "t.company_id, t.equipment, t.tag, t.label AS metric, t.unit"
#: What dashboards read (docs/grafana.md): the points and rollups with the registry's names, never the tables
#: behind them, which may change between releases.
_VIEWS = {
    "grafana_points": f'SELECT p.ts AS "time", p.tag_id, {_NAMED}, p.value FROM ts_points AS p '
                      "JOIN ts_tags AS t USING (tag_id)",
    **{f"grafana_rollup_{width}": f'SELECT r.bucket AS "time", r.tag_id, {_NAMED}, r.vsum / r.n AS avg, '
                                  f"r.vmin AS min, r.vmax AS max, r.n AS count FROM ts_rollup_{width} AS r "
                                  "JOIN ts_tags AS t USING (tag_id)" for width in ("1m", "1h")},
    "grafana_tags": "SELECT tag_id, company_id, equipment, tag, label AS metric, unit FROM ts_tags",
}  # fmt: skip
_DDL = (
    f"CREATE TABLE IF NOT EXISTS ts_rollup_1m ({_ROLLUP_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS ts_rollup_1h ({_ROLLUP_COLUMNS})",
    "CREATE TABLE IF NOT EXISTS ts_latest (tag_id BIGINT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, "
    "value FLOAT8 NOT NULL, quality SMALLINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ts_dead_letter (received_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "
    "tag_id BIGINT NOT NULL, ts TIMESTAMPTZ, value FLOAT8, quality SMALLINT, reason VARCHAR NOT NULL, "
    "message_en VARCHAR NOT NULL, message_ko VARCHAR NOT NULL, raw VARCHAR)",
    "ALTER TABLE ts_dead_letter ADD COLUMN IF NOT EXISTS raw VARCHAR",  # a store made before raw lines were kept
    "CREATE TABLE IF NOT EXISTS ts_revisions (received_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "
    "tag_id BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, value FLOAT8 NOT NULL, quality SMALLINT NOT NULL, "
    "outcome VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ts_tags (tag_id BIGINT PRIMARY KEY, company_id BIGINT NOT NULL, "
    "equipment VARCHAR NOT NULL, tag VARCHAR NOT NULL, label VARCHAR NOT NULL, unit VARCHAR)",
    *(f"CREATE OR REPLACE VIEW {view} AS {select}" for view, select in _VIEWS.items()),
)
_POINTS_COLUMNS = "tag_id BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, value FLOAT8 NOT NULL, quality SMALLINT NOT NULL"
#: A transaction's conflicts (points held with another value) and the outcome of each conflicting tag.
_TEMP_COLUMNS = {"_ts_conflict": _POINTS_COLUMNS, "_ts_outcome": "tag_id BIGINT NOT NULL, outcome VARCHAR NOT NULL"}
_MERGE_LATEST = """
INSERT INTO ts_latest (tag_id, ts, value, quality)
SELECT tag_id, ts, value, quality FROM _ts_new
JOIN (SELECT tag_id, max(ts) AS ts FROM _ts_new GROUP BY tag_id) AS newest USING (tag_id, ts)
ON CONFLICT (tag_id) DO UPDATE SET ts = excluded.ts, value = excluded.value, quality = excluded.quality
WHERE excluded.ts > ts_latest.ts
"""
_AGGREGATES = "min(vmin), max(vmax), sum(vsum), CAST(sum(n) AS BIGINT), min(first_ts), max(last_ts)"
_OF_POINTS = "min(value), max(value), sum(value), count(*), min(ts), max(ts)"  # a rollup bucket from raw points


def _ts_sql(epoch_us: int) -> str:
    """A TIMESTAMPTZ literal both databases read (and fold, so zone maps and indexes apply)."""
    return f"TIMESTAMPTZ '{np.datetime64(epoch_us, 'us')}+00:00'"


def _in_list(tag_ids: Iterable[int]) -> str:
    return ", ".join(str(int(t)) for t in tag_ids)


def _parts_sql(segment: Segment, tag_filter: str) -> str:
    """One level's rows over ``[lo, hi)`` as partial aggregates (t, vmin, vmax, vsum, n, first/last ts)."""
    level, lo, hi = segment
    if level is RAW:
        return (
            "SELECT tag_id, ts AS t, value AS vmin, value AS vmax, value AS vsum, CAST(1 AS BIGINT) AS n, "
            f"ts AS first_ts, ts AS last_ts FROM ts_points WHERE {tag_filter} "
            f"AND ts >= {_ts_sql(lo)} AND ts < {_ts_sql(hi)}"
        )
    return (
        f"SELECT tag_id, bucket AS t, vmin, vmax, vsum, n, first_ts, last_ts FROM {level.table} "
        f"WHERE {tag_filter} AND bucket >= {_ts_sql(lo)} AND bucket < {_ts_sql(hi)}"
    )


def _as_epoch_us(moment: Any) -> int:
    value = int(to_epoch_us([moment])[0])
    if value == NAT_US:
        raise ValueError(f"not a timestamp: {moment!r}")
    return value


def _tag_list(tag_ids: int | Iterable[int]) -> list[int]:
    return [int(tag_ids)] if isinstance(tag_ids, int | np.integer) else [int(t) for t in tag_ids]


# -- the interface -------------------------------------------------------------------------------------


GROUP_MAX_POINTS = 1_000_000
"""The most points one group commit stores (several requests' batches together); a larger batch goes alone."""
GATHER_POINTS, GATHER_S = 200_000, 0.05
"""The ingest log's writer waits up to ``GATHER_S`` for this many points to store together (a read never waits)."""


@dataclass
class _Append:
    """A batch waiting for a group commit, and what came of it: how many points were new, or the error."""

    batch: Batch
    counted: bool = True  # the caller wants to know how many points were new
    new: int | None = None
    conflicts: int = 0
    error: Exception | None = None
    segment: int | None = None  # accepted through the ingest log: nobody waits, the log is told


def _checked(batch: Batch) -> Batch:
    """The batch without repeated points (the last row of a pair wins), refused if a row has no time."""
    batch = batch.deduplicated()
    if np.any(batch.ts_us == NAT_US):
        raise ValueError("a batch to store has rows without a timestamp; run it through the pipeline")
    return batch


class TimeSeriesStore(ABC):
    """Points by (tag_id, ts), rollups, latest values and dead letters; thread-safe, one writer at a time.

    The public methods are written once in SQL both databases understand; a subclass supplies the
    connection, the bulk load of a batch and a few dialect pieces.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._waiting: list[_Append] = []  # appends queued for the next group commit, oldest first
        self._waiting_lock = threading.Lock()
        self._log: IngestLog | None = None  # set by a store that acknowledges from its ingest log
        self._work = threading.Event()  # the log's writer thread has something to store
        self._writer: threading.Thread | None = None
        self._closing = False
        #: Each tag's firm's policy for a point re-sent with another value (the composition root installs the
        #: registry's); ``None``: every firm keeps the first value.
        self.corrections: CorrectionPolicies | None = None

    # public API -------------------------------------------------------------------------------------

    def append(self, batch: Batch) -> int:
        """Store the batch's points not stored yet; returns how many were new. Committed on return.

        Duplicates inside the batch are resolved first (last row wins); a pair already stored is kept
        as it is, so re-sending a batch changes nothing.

        Appends from several threads at once are committed together (a group commit): whichever thread
        gets the writer next stores every batch queued by then (up to :data:`GROUP_MAX_POINTS`), in the
        order they came, in one transaction with one rollup merge and one sync, and every caller returns
        once that transaction has committed. A group that fails is written again batch by batch, so only
        the batch at fault fails.

        >>> import concurrent.futures
        >>> store = DuckDBStore(":memory:")
        >>> batches = [Batch.from_columns(tag, [0, 1_000_000], [1.0, 2.0]) for tag in range(1, 9)]
        >>> with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ...     sum(pool.map(store.append, batches + batches))  # the second copies are already held
        16
        """
        return self.write(batch).new

    def write(self, batch: Batch) -> Written:
        """:meth:`append`, also saying how many points came again with another value (settled by
        :attr:`corrections` before this returns).

        >>> store = DuckDBStore(":memory:")
        >>> store.write(Batch.from_columns(1, [0, 1], [1.0, 2.0]))
        Written(new=2, conflicts=0)
        >>> store.write(Batch.from_columns(1, [0, 1, 2], [1.0, 2.5, 3.0]))  # 2.0 corrected to 2.5
        Written(new=1, conflicts=1)
        >>> store.read(1, 0, 3).value.tolist(), store.revisions(1, 0, 3).column("outcome").to_pylist()
        ([1.0, 2.0, 3.0], ['refused'])
        """
        mine = self._stored_now(_checked(batch), counted=True)
        return Written(mine.new or 0, mine.conflicts)

    def accept(self, batch: Batch) -> int:
        """Take the batch for storing: durable when this returns, stored soon after; returns its points.

        A store with an ingest log (:mod:`~smart365.telemetry.ingest_log`; the embedded store on a file)
        syncs the batch to the log and returns, and its writer thread stores it in the next group; one without
        stores it now. Either way every read after this returns sees the batch, since a read first stores
        what waits. Unlike :meth:`append` it does not say how many points were new, so batches that wait
        together are stored as one.

        >>> store = DuckDBStore(":memory:")
        >>> store.accept(Batch.from_columns(3, [0], [1.0])), store.count()
        (1, 1)
        """
        batch = _checked(batch)
        if self._log is None or not len(batch):
            if len(batch):
                self._stored_now(batch, counted=False)
            return len(batch)
        segment = self._log.write(batch)
        with self._waiting_lock:
            self._waiting.append(_Append(batch, counted=False, segment=segment))
            if self._writer is None:
                self._writer = threading.Thread(target=self._store_accepted, name="store-writer", daemon=True)
                self._writer.start()
        self._work.set()
        return len(batch)

    def _stored_now(self, batch: Batch, counted: bool) -> _Append:
        """Queue the batch and store groups until it is stored; what came of it (no count unless ``counted``)."""
        mine = _Append(batch, counted=counted)
        if not len(batch):
            mine.new = 0
            return mine
        with self._waiting_lock:
            self._waiting.append(mine)
        with self._lock:
            while mine.new is None and mine.error is None:
                self._commit_group(self._next_group())
        if mine.error is not None:
            raise mine.error
        return mine

    def _store_accepted(self) -> None:
        """The writer thread: store what the log acknowledged, a group at a time, until the store closes."""
        assert self._log is not None
        while not self._closing:
            self._work.wait(timeout=1.0)
            self._work.clear()
            # A group costs nearly the same whatever its size: let a few requests' batches gather first.
            deadline = time.monotonic() + GATHER_S
            while not self._closing and self._log.waiting_points < GATHER_POINTS:
                if (left := deadline - time.monotonic()) <= 0:
                    break
                self._work.wait(left)
                self._work.clear()
            self._settle()

    def _settle(self) -> None:
        """Store every waiting batch now (a read calls this first, so it sees what was acknowledged)."""
        if self._log is None or not self._log.waiting_points:  # none waits, and no group is being stored
            return
        with self._lock:  # a group the writer is storing is stored once this is held
            while self._waiting:
                self._commit_group(self._next_group())

    def _stop_writer(self) -> None:
        """Store what waits and stop the writer thread; the log is closed (and its stored segment deleted)."""
        self._closing = True
        self._work.set()
        if self._writer is not None:
            self._writer.join(timeout=60)
        self._settle()
        if self._log is not None:
            self._log.close()

    def _recover(self) -> None:
        """Store what the ingest log held when the last run ended (a crash, a kill), before anything else."""
        assert self._log is not None
        group: list[Batch] = []
        for batch in self._log.recovered():
            group.append(batch)
            if sum(len(b) for b in group) >= GROUP_MAX_POINTS:
                self._store_together(group)
                group = []
        if group:
            self._store_together(group)
        self._log.forget_recovered()

    def _next_group(self) -> list[_Append]:
        """The oldest waiting appends, up to :data:`GROUP_MAX_POINTS` points (at least one)."""
        with self._waiting_lock:
            size, count = 0, 0
            for waiting in self._waiting:
                size += len(waiting.batch)
                if count and size > GROUP_MAX_POINTS:
                    break
                count += 1
            group, self._waiting = self._waiting[:count], self._waiting[count:]
        return group

    def _commit_group(self, group: list[_Append]) -> None:
        batches = [waiting.batch for waiting in group]
        uncounted = len(group) > 1 and not any(waiting.counted for waiting in group)
        if uncounted:
            # Nobody waits for a count: one batch, where an earlier batch's point wins over a later one's as
            # when stored one after another (the last row of a repeated pair wins, so the newest comes first).
            batches = [Batch.concat(reversed(batches)).deduplicated()]
        try:
            counts = self._store_together(batches)
            if uncounted:
                counts = [(0, 0)] * len(group)  # stored, not told apart
        except Exception as error:
            if len(group) > 1:
                for waiting in group:  # find the batch at fault; the others are stored
                    self._commit_group([waiting])
                return
            group[0].error = error
            if group[0].segment is not None:  # acknowledged already: kept in the log for the next start
                _log.exception("an acknowledged batch could not be stored; it stays in the ingest log")
                self._logged(group[0], failed=True)
            return
        for waiting, (new, conflicts) in zip(group, counts, strict=True):
            waiting.new, waiting.conflicts = new, conflicts
            if waiting.segment is not None:
                self._logged(waiting)

    def _logged(self, waiting: _Append, failed: bool = False) -> None:
        assert self._log is not None and waiting.segment is not None
        self._log.stored(waiting.segment, len(waiting.batch), failed=failed)

    def _store_together(self, batches: list[Batch]) -> list[tuple[int, int]]:
        """One transaction: each batch's new points in order (a later batch sees the earlier ones as held),
        then the rollups and latest values from all of them, then the conflicts; (new, conflicts) a batch."""
        with self._transaction():
            counts = [self._stage_new(batch, first=i == 0) for i, batch in enumerate(batches)]
            if any(new for new, _ in counts):
                self._fill_temp("_ts_m", self._minute_partials_sql())
                for level in (ROLLUP_1M, ROLLUP_1H):
                    self._execute(self._merge_rollup_sql(level))
                self._execute(_MERGE_LATEST)
            if any(conflicts for _, conflicts in counts):
                ranges = [batch.time_range() for batch in batches]
                self._settle_conflicts(min(lo for lo, _ in ranges), max(hi for _, hi in ranges))
        return counts

    def _note_conflicts(self, batch: Batch, new: int) -> int:
        """Keep in ``_ts_conflict`` the points of the batch (staged as ``_ts_in``, ``new`` of them stored now)
        held with another value; how many."""
        if new == len(batch):
            return 0  # the usual case, at no cost: nothing was held already
        return self._execute(
            "INSERT INTO _ts_conflict SELECT i.tag_id, i.ts, i.value, i.quality FROM _ts_in AS i "
            f"JOIN (SELECT * FROM ts_points WHERE {_time_bounds(batch)}) AS p USING (tag_id, ts) "
            "WHERE p.value IS DISTINCT FROM i.value OR p.quality <> i.quality"
        )

    def _settle_conflicts(self, lo: int, hi: int) -> None:
        """Apply each conflicting tag's policy; keep the other value of every conflict in ``ts_revisions``.
        The conflicts lie in ``[lo, hi]`` (epoch µs)."""
        tags = [int(t) for t in self._scalars("SELECT DISTINCT tag_id FROM _ts_conflict")]
        policies = self.corrections(tags) if self.corrections is not None else {}
        outcomes = ", ".join(f"({tag}, '{_OUTCOMES[policies.get(tag, 'keep_first')]}')" for tag in tags)
        self._fill_temp("_ts_outcome", f"SELECT * FROM (VALUES {outcomes}) AS o (tag_id, outcome)")
        within = f"ts BETWEEN {_ts_sql(lo)} AND {_ts_sql(hi)}"  # prunes the raw table (DuckDB has no index)
        replaced = "(SELECT c.* FROM _ts_conflict AS c JOIN _ts_outcome USING (tag_id) WHERE outcome = 'replaced')"
        self._execute(
            "INSERT INTO ts_revisions (tag_id, ts, value, quality, outcome) SELECT p.tag_id, p.ts, p.value, p.quality, "
            f"'replaced' FROM (SELECT * FROM ts_points WHERE {within}) AS p JOIN {replaced} AS r USING (tag_id, ts) "
            "UNION ALL SELECT c.tag_id, c.ts, c.value, c.quality, o.outcome FROM _ts_conflict AS c "
            "JOIN _ts_outcome AS o USING (tag_id) WHERE o.outcome <> 'replaced'"
        )
        for table in ("ts_points", "ts_latest"):
            self._execute(
                f"UPDATE {table} SET value = r.value, quality = r.quality FROM {replaced} AS r "
                f"WHERE {table}.tag_id = r.tag_id AND {table}.ts = r.ts AND {table}.{within}"
            )
        self._rebuild_rollups(replaced, lo, hi)
        self._execute("DELETE FROM _ts_conflict")

    def _rebuild_rollups(self, replaced: str, lo: int, hi: int) -> None:
        """Compute again the rollup buckets that hold an overwritten point of ``[lo, hi]``: minutes from the
        raw points, then hours from the minutes."""
        for level, source, column in ((ROLLUP_1M, "ts_points", "ts"), (ROLLUP_1H, ROLLUP_1M.table, "bucket")):
            width = level.width_us
            keys = f"(SELECT DISTINCT tag_id, {self._bucket_sql('ts', width, 0)} FROM {replaced} AS r)"
            bucket, aggregates = self._bucket_sql(column, width, 0), _AGGREGATES if column == "bucket" else _OF_POINTS
            within = f"{column} >= {_ts_sql(lo // width * width)} AND {column} < {_ts_sql((hi // width + 1) * width)}"
            self._execute(f"DELETE FROM {level.table} WHERE (tag_id, bucket) IN {keys}")
            self._execute(
                f"INSERT INTO {level.table} (tag_id, bucket, vmin, vmax, vsum, n, first_ts, last_ts) "
                f"SELECT tag_id, {bucket}, {aggregates} FROM {source} WHERE {within} AND (tag_id, {bucket}) IN {keys} "
                "GROUP BY 1, 2"
            )

    def dead_letter(self, rows: SupportsArrow | pa.Table) -> int:
        """Keep rejected rows (``DeadLetters`` or a table in ``DEAD_LETTER_SCHEMA``); returns the count.

        >>> from smart365.telemetry.pipeline import Pipeline
        >>> s = DuckDBStore(":memory:")
        >>> s.dead_letter(Pipeline().process(Batch.from_columns(1, [0], [float("nan")])).dead)
        1
        >>> s.dead_letters().column("reason").to_pylist()
        ['ts_too_old']
        """
        table = rows if isinstance(rows, pa.Table) else rows.to_arrow()
        table = table.select(DEAD_LETTER_SCHEMA.names).cast(DEAD_LETTER_SCHEMA)
        if table.num_rows:
            with self._lock, self._transaction():
                self._insert_rows("ts_dead_letter", table)
        return int(table.num_rows)

    def name_tags(self, tags: pa.Table) -> None:
        """Replace the tag names the ``grafana_*`` views show with ``tags`` (``TAG_NAMES_SCHEMA``): the store
        keeps numbers only, and a dashboard on SQL wants the names people use.

        >>> s = DuckDBStore(":memory:"); _ = s.append(Batch.from_columns(7, [0], [1.5]))
        >>> s.name_tags(pa.Table.from_pylist([{"tag_id": 7, "company_id": 1, "equipment": "MCT-01",
        ...     "tag": "spindle_load", "label": "주축 부하", "unit": "%"}], schema=TAG_NAMES_SCHEMA))
        >>> s._con.execute("SELECT metric, value FROM grafana_points").fetchall()
        [('주축 부하', 1.5)]
        """
        tags = tags.select(TAG_NAMES_SCHEMA.names).cast(TAG_NAMES_SCHEMA)
        with self._lock, self._transaction():
            self._execute("DELETE FROM ts_tags")
            if tags.num_rows:
                self._insert_rows("ts_tags", tags)

    def latest(self, tag_ids: int | Iterable[int] | None = None) -> pa.Table:
        """The newest point of each tag (all tags when ``None``), in ``LATEST_SCHEMA``, by tag id.

        >>> s = DuckDBStore(":memory:"); _ = s.append(Batch.from_columns(4, [0, 5], [1.0, 2.0]))
        >>> s.latest([4]).column("value").to_pylist()
        [2.0]
        """
        where = "" if tag_ids is None else f" WHERE tag_id IN ({_in_list(_tag_list(tag_ids)) or 'NULL'})"
        sql = f"SELECT tag_id, ts, value, quality FROM ts_latest{where} ORDER BY tag_id"
        return self._query(sql, LATEST_SCHEMA)

    def range(self, tag_ids: int | Iterable[int], start: Any, end: Any, max_points: int = 1000) -> pa.Table:
        """Downsampled points of ``[start, end)``: at most ``max_points`` buckets per tag (``RANGE_SCHEMA``).

        Each bucket carries the true min, max, mean, count and first/last timestamp of its points; empty
        buckets are left out. ``start``/``end`` take datetimes, ISO strings or epoch microseconds.

        >>> s = DuckDBStore(":memory:"); _ = s.append(Batch.from_columns(1, np.arange(100), np.arange(100.0)))
        >>> t = s.range(1, 0, 100, max_points=3)
        >>> t.num_rows, t.column("min").to_pylist(), t.column("max").to_pylist()
        (3, [0.0, 34.0, 68.0], [33.0, 67.0, 99.0])
        """
        start_us, end_us = _as_epoch_us(start), _as_epoch_us(end)
        tags = _tag_list(tag_ids)
        if not tags:
            return RANGE_SCHEMA.empty_table()
        plan = plan_buckets(start_us, end_us, max_points)
        tag_filter = f"tag_id IN ({_in_list(tags)})"
        parts = " UNION ALL ".join(_parts_sql(s, tag_filter) for s in plan.segments)
        bucket = self._bucket_sql("t", plan.width_us, plan.origin_us)
        sql = (
            f"SELECT tag_id, {bucket} AS bucket, min(vmin), max(vmax), sum(vsum) / CAST(sum(n) AS FLOAT8), "
            f"CAST(sum(n) AS BIGINT), min(first_ts), max(last_ts) FROM ({parts}) AS parts "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
        return self._query(sql, RANGE_SCHEMA)

    def rollup(self, tag_ids: int | Iterable[int], start: Any, end: Any, width: Literal["1m", "1h"] = "1m") -> pa.Table:
        """The stored 1-minute or 1-hour rollup buckets starting in ``[start, end)`` (``RANGE_SCHEMA``).

        >>> s = DuckDBStore(":memory:")
        >>> _ = s.append(Batch.from_columns(1, [0, 59_999_999, 60_000_000], [1.0, 3.0, 5.0]))
        >>> s.rollup(1, 0, HOUR_US).column("avg").to_pylist()
        [2.0, 5.0]
        """
        level = ROLLUP_1M if width == "1m" else ROLLUP_1H
        tag_filter = f"tag_id IN ({_in_list(_tag_list(tag_ids)) or 'NULL'})"
        sql = (
            f"SELECT tag_id, bucket, vmin, vmax, vsum / n, n, first_ts, last_ts FROM {level.table} "
            f"WHERE {tag_filter} AND bucket >= {_ts_sql(_as_epoch_us(start))} "
            f"AND bucket < {_ts_sql(_as_epoch_us(end))} ORDER BY 1, 2"
        )
        return self._query(sql, RANGE_SCHEMA)

    def read(self, tag_ids: int | Iterable[int], start: Any, end: Any) -> Batch:
        """Every raw point of ``[start, end)`` for the tags, ordered by tag and time.

        >>> s = DuckDBStore(":memory:"); _ = s.append(Batch.from_columns(1, [0, 10, 20], [1.0, 2.0, 3.0]))
        >>> s.read(1, 5, 30).value.tolist()
        [2.0, 3.0]
        """
        tag_filter = f"tag_id IN ({_in_list(_tag_list(tag_ids)) or 'NULL'})"
        sql = (
            f"SELECT tag_id, ts, value, quality FROM ts_points WHERE {tag_filter} "
            f"AND ts >= {_ts_sql(_as_epoch_us(start))} AND ts < {_ts_sql(_as_epoch_us(end))} ORDER BY 1, 2"
        )
        return Batch.from_arrow(self._query(sql, LATEST_SCHEMA))

    def revisions(self, tag_ids: int | Iterable[int], start: Any, end: Any) -> pa.Table:
        """The other values the tags' points of ``[start, end)`` were sent with (``REVISION_SCHEMA``), by time.

        >>> s = DuckDBStore(":memory:"); s.corrections = lambda tags: {tag: "overwrite" for tag in tags}
        >>> _ = s.append(Batch.from_columns(5, [0], [1.0])); s.write(Batch.from_columns(5, [0], [1.5]))
        Written(new=0, conflicts=1)
        >>> s.latest(5).column("value").to_pylist(), s.revisions(5, 0, 1).column("value").to_pylist()
        ([1.5], [1.0])
        """
        tag_filter = f"tag_id IN ({_in_list(_tag_list(tag_ids)) or 'NULL'})"
        sql = (
            f"SELECT received_at, tag_id, ts, value, quality, outcome FROM ts_revisions WHERE {tag_filter} "
            f"AND ts >= {_ts_sql(_as_epoch_us(start))} AND ts < {_ts_sql(_as_epoch_us(end))} ORDER BY ts, received_at"
        )
        return self._query_rows(sql, REVISION_SCHEMA)

    def count(self, tag_ids: int | Iterable[int] | None = None) -> int:
        """How many raw points are stored (for the tags, when given).

        >>> s = DuckDBStore(":memory:"); _ = s.append(Batch.from_columns([1, 2], [0, 0], [1.0, 2.0]))
        >>> s.count(), s.count([2])
        (2, 1)
        """
        where = "" if tag_ids is None else f" WHERE tag_id IN ({_in_list(_tag_list(tag_ids)) or 'NULL'})"
        table = self._query(f"SELECT CAST(count(*) AS BIGINT) FROM ts_points{where}", _COUNT_SCHEMA)
        return int(table.column(0)[0].as_py())

    def dead_letters(self, limit: int = 1000) -> pa.Table:
        """The newest dead-letter rows (``DEAD_LETTER_OUT_SCHEMA``), newest first."""
        columns = ", ".join(DEAD_LETTER_OUT_SCHEMA.names)
        sql = f"SELECT {columns} FROM ts_dead_letter ORDER BY received_at DESC LIMIT {int(limit)}"
        return self._query_rows(sql, DEAD_LETTER_OUT_SCHEMA)

    def retention(self, older_than: Any) -> int:
        """Delete points (and dead letters received) before ``older_than``; returns raw points deleted.

        Rollup buckets wholly before the cut are deleted; the one the cut runs through is rebuilt from
        what remains, so rollups keep matching the raw table. ``latest`` rows before the cut go too.

        >>> s = DuckDBStore(":memory:"); _ = s.append(Batch.from_columns(1, [0, 90_000_000], [1.0, 2.0]))
        >>> s.retention(60_000_000), s.rollup(1, 0, HOUR_US).column("count").to_pylist()
        (1, [1])
        """
        cut = _as_epoch_us(older_than)
        self._settle()  # what was accepted before the cut is cut too
        with self._lock, self._transaction():
            deleted = self._execute(f"DELETE FROM ts_points WHERE ts < {_ts_sql(cut)}")
            for index in (1, 2):
                self._cut_rollup(index, cut)
            self._execute(f"DELETE FROM ts_latest WHERE ts < {_ts_sql(cut)}")
            self._execute(f"DELETE FROM ts_revisions WHERE ts < {_ts_sql(cut)}")
            self._execute(f"DELETE FROM ts_dead_letter WHERE received_at < {_ts_sql(cut)}")
        return deleted

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # shared SQL -------------------------------------------------------------------------------------

    def _minute_partials_sql(self) -> str:
        """The rows in ``_ts_new`` aggregated per tag and minute: what every rollup is merged from."""
        return (
            f"SELECT tag_id, {self._bucket_sql('ts', MINUTE_US, 0)} AS bucket, min(value) AS vmin, "
            "max(value) AS vmax, sum(value) AS vsum, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts "
            "FROM _ts_new GROUP BY 1, 2"
        )

    def _merge_rollup_sql(self, level: Level) -> str:
        """Fold the partials in ``_ts_m`` into ``level``'s buckets (they come from new rows only)."""
        t = level.table
        return (
            f"INSERT INTO {t} (tag_id, bucket, vmin, vmax, vsum, n, first_ts, last_ts) "
            f"SELECT tag_id, {self._bucket_sql('bucket', level.width_us, 0)}, {_AGGREGATES} "
            "FROM _ts_m GROUP BY 1, 2 ON CONFLICT (tag_id, bucket) DO UPDATE SET "
            f"vmin = least({t}.vmin, excluded.vmin), vmax = greatest({t}.vmax, excluded.vmax), "
            f"vsum = {t}.vsum + excluded.vsum, n = {t}.n + excluded.n, "
            f"first_ts = least({t}.first_ts, excluded.first_ts), "
            f"last_ts = greatest({t}.last_ts, excluded.last_ts)"
        )

    def _cut_rollup(self, index: int, cut: int) -> None:
        """Drop ``LEVELS[index]`` buckets before ``cut``; rebuild the one holding it from the finer level."""
        level, finer = LEVELS[index], LEVELS[index - 1]
        edge = cut // level.width_us * level.width_us
        if edge == cut:
            self._execute(f"DELETE FROM {level.table} WHERE bucket < {_ts_sql(cut)}")
            return
        self._execute(f"DELETE FROM {level.table} WHERE bucket <= {_ts_sql(edge)}")
        # The finer level already holds only what remains at or after the cut.
        finer_start = cut // finer.width_us * finer.width_us
        parts = _parts_sql((finer, finer_start, edge + level.width_us), "TRUE")
        self._execute(
            f"INSERT INTO {level.table} (tag_id, bucket, vmin, vmax, vsum, n, first_ts, last_ts) "
            f"SELECT tag_id, {_ts_sql(edge)}, {_AGGREGATES} FROM ({parts}) AS parts GROUP BY tag_id"
        )

    # what a database supplies -----------------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A context that commits (durably) on exit and rolls back on error."""

    @abstractmethod
    def _execute(self, sql: str) -> int:
        """Run a statement in the current transaction; returns the rows it changed."""

    @abstractmethod
    def _query(self, sql: str, schema: pa.Schema) -> pa.Table:
        """Rows of a query whose columns are fixed-width and never null, as a table in ``schema``."""

    @abstractmethod
    def _query_rows(self, sql: str, schema: pa.Schema) -> pa.Table:
        """Rows of any query (few of them), as a table in ``schema``."""

    @abstractmethod
    def _stage_new(self, batch: Batch, first: bool) -> tuple[int, int]:
        """Insert the batch's (unique) points that ``ts_points`` lacks and add them to ``_ts_new`` (which the
        ``first`` batch of a transaction starts afresh); note its conflicts; (new points, conflicts)."""

    @abstractmethod
    def _scalars(self, sql: str) -> list[Any]:
        """The first column of a query's rows, read inside the current write transaction."""

    @abstractmethod
    def _fill_temp(self, name: str, select_sql: str) -> None:
        """Make the transaction's temporary table ``name`` hold exactly the rows of ``select_sql``."""

    @abstractmethod
    def _insert_rows(self, name: str, table: pa.Table) -> None:
        """Bulk-insert ``table``'s rows into the table ``name`` (columns by name)."""

    @abstractmethod
    def _bucket_sql(self, column: str, width_us: int, origin_us: int) -> str:
        """SQL for the TIMESTAMPTZ start of the ``width_us`` bucket (aligned to ``origin_us``) of a column."""


_COUNT_SCHEMA = pa.schema([("count", pa.int64())])


def _time_bounds(batch: Batch) -> str:
    """A filter on ``ts_points`` that covers the batch's tags and times (for pruning, not for exactness)."""
    lo, hi = batch.time_range()
    return (
        f"tag_id BETWEEN {int(batch.tag_id.min())} AND {int(batch.tag_id.max())} "
        f"AND ts BETWEEN {_ts_sql(lo)} AND {_ts_sql(hi)}"
    )


# -- DuckDB --------------------------------------------------------------------------------------------


class DuckDBStore(TimeSeriesStore):
    """The embedded store: one DuckDB file (``":memory:"`` for a throwaway one).

    Raw points carry no index: an append anti-joins the batch against the stored rows of its own tag and
    time span, which DuckDB prunes with its per-row-group min/max, so ingest stays fast as the file grows.
    On a file, :meth:`accept` acknowledges from the ingest log beside it (``<file>.ingest/``), which is
    stored again at the next open if the process died first; ``ingest_log=False`` stores every batch at once.
    Reads use their own cursor; each first stores what the log acknowledged, so it sees every accepted batch.
    """

    def __init__(
        self, path: str | Path, *, threads: int | None = None, memory_limit: str | None = None, ingest_log: bool = True
    ) -> None:
        super().__init__()
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        self.path = str(path)
        self._con = duckdb.connect(self.path, config=config)
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(f"CREATE TABLE IF NOT EXISTS ts_points ({_POINTS_COLUMNS})")
        for ddl in _DDL:
            self._con.execute(ddl)
        self._con.execute(f"CREATE TEMP TABLE _ts_conflict ({_TEMP_COLUMNS['_ts_conflict']})")
        if ingest_log and self.path != ":memory:":
            self._log = IngestLog(Path(f"{self.path}.ingest"))
            self._recover()

    def close(self) -> None:
        self._stop_writer()
        with self._lock:
            self._con.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._con.begin()
        try:
            yield
        except BaseException:
            self._con.rollback()
            raise
        self._con.commit()

    def _execute(self, sql: str) -> int:
        row = self._con.execute(sql).fetchone()
        return int(row[0]) if row and isinstance(row[0], int) else 0

    def _query(self, sql: str, schema: pa.Schema) -> pa.Table:
        self._settle()
        cursor = self._con.cursor()
        try:
            table = cursor.sql(sql).to_arrow_table()
        finally:
            cursor.close()
        return table.rename_columns(schema.names).cast(schema)

    def _query_rows(self, sql: str, schema: pa.Schema) -> pa.Table:
        return self._query(sql, schema)

    def _stage_new(self, batch: Batch, first: bool) -> tuple[int, int]:
        staged = "_ts_new" if first else "_ts_step"  # a later batch of the group is added to _ts_new after
        self._con.register("_ts_in", batch.to_arrow())
        try:
            self._fill_temp(
                staged,
                "SELECT i.* FROM _ts_in AS i ANTI JOIN "
                f"(SELECT tag_id, ts FROM ts_points WHERE {_time_bounds(batch)}) AS p USING (tag_id, ts)",
            )
            if not first:
                self._execute("INSERT INTO _ts_new SELECT * FROM _ts_step")
            new = self._execute(f"INSERT INTO ts_points SELECT * FROM {staged}")
            return new, self._note_conflicts(batch, new)
        finally:
            self._con.unregister("_ts_in")

    def _scalars(self, sql: str) -> list[Any]:
        return [row[0] for row in self._con.execute(sql).fetchall()]

    def _fill_temp(self, name: str, select_sql: str) -> None:
        self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select_sql}")

    def _insert_rows(self, name: str, table: pa.Table) -> None:
        self._con.register("_ts_rows", table)
        try:
            columns = ", ".join(table.schema.names)
            self._con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM _ts_rows")
        finally:
            self._con.unregister("_ts_rows")

    def _bucket_sql(self, column: str, width_us: int, origin_us: int) -> str:
        offset = f"(epoch_us({column}) - {origin_us})"
        # A floor that also holds before the origin (DuckDB's % keeps the sign of the dividend).
        floor = f"{offset} - (({offset} % {width_us}) + {width_us}) % {width_us}"
        return f"make_timestamptz({origin_us} + {floor})"


# -- PostgreSQL ----------------------------------------------------------------------------------------

_PG_EPOCH_US = 946_684_800_000_000  # PostgreSQL's binary timestamps count from 2000-01-01
_PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PG_FIELD = {"i8": ">i8", "f8": ">f8", "i2": ">i2", "ts": ">i8"}
_POINT_KINDS = ("i8", "ts", "f8", "i2")
_COPY_CHUNK_ROWS = 262_144


def _pg_row_dtype(kinds: tuple[str, ...]) -> np.dtype[Any]:
    """One row of PostgreSQL's binary COPY format for fixed-width, non-null columns."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, kind in enumerate(kinds):
        fields += [(f"len{i}", ">i4"), (f"c{i}", _PG_FIELD[kind])]
    return np.dtype(fields)


def _pg_kinds(schema: pa.Schema) -> tuple[str, ...]:
    kinds = {pa.int64(): "i8", pa.float64(): "f8", pa.int16(): "i2", TS_TYPE: "ts"}
    return tuple(kinds[field.type] for field in schema)


def encode_pg_binary(columns: list[NDArray[Any]], kinds: tuple[str, ...]) -> bytes:
    """Rows (no header) of PostgreSQL binary COPY for fixed-width columns; ``ts`` columns are epoch µs.

    >>> len(encode_pg_binary([np.array([1]), np.array([0])], ("i8", "ts")))
    26
    """
    dtype = _pg_row_dtype(kinds)
    rows = np.empty(len(columns[0]), dtype=dtype)
    rows["count"] = len(kinds)
    for i, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
        rows[f"len{i}"] = np.dtype(_PG_FIELD[kind]).itemsize
        rows[f"c{i}"] = column - _PG_EPOCH_US if kind == "ts" else column
    return rows.tobytes()


def decode_pg_binary(data: bytes, schema: pa.Schema) -> pa.Table:
    """A table from PostgreSQL binary COPY output whose columns are fixed-width and never null."""
    if not data.startswith(_PG_SIGNATURE):
        raise ValueError("not PostgreSQL binary COPY data")
    extension = int.from_bytes(data[15:19], "big")
    kinds = _pg_kinds(schema)
    rows = np.frombuffer(data[19 + extension : -2], dtype=_pg_row_dtype(kinds))
    arrays = []
    for i, kind in enumerate(kinds):
        if np.any(rows[f"len{i}"] != np.dtype(_PG_FIELD[kind]).itemsize):
            raise ValueError(f"column {schema.names[i]} has nulls or an unexpected width")
        column = rows[f"c{i}"].astype(_PG_FIELD[kind].replace(">", "="))
        arrays.append(pa.array(column + _PG_EPOCH_US, type=TS_TYPE) if kind == "ts" else pa.array(column))
    return pa.Table.from_arrays(arrays, schema=schema)


class PostgresStore(TimeSeriesStore):
    """The server store: plain PostgreSQL tables (TimescaleDB not needed), bulk-loaded with binary COPY.

    ``conninfo`` is a libpq string or URL (``postgresql://user@host/db``; a SQLAlchemy ``+psycopg`` suffix
    is accepted). Raw points are keyed by (tag_id, ts), with a BRIN index on ts for retention. Reads go
    through a second connection, so they never wait for a write.
    """

    def __init__(self, conninfo: str) -> None:
        super().__init__()
        conninfo = libpq_url(conninfo)
        self._conn = _pg_connect(conninfo)
        self._conn.execute("SET synchronous_commit TO on")
        self._reader, self._read_lock = _pg_connect(conninfo), threading.Lock()
        with self._conn.transaction():
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS ts_points ({_POINTS_COLUMNS}, PRIMARY KEY (tag_id, ts))")
            self._conn.execute("CREATE INDEX IF NOT EXISTS ts_points_ts_brin ON ts_points USING brin (ts)")
            for ddl in _DDL:
                self._conn.execute(ddl)
        temps = {"_ts_in": _POINTS_COLUMNS, "_ts_new": _POINTS_COLUMNS, "_ts_m": _ROLLUP_COLUMNS, **_TEMP_COLUMNS}
        for name, columns in temps.items():
            self._conn.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DELETE ROWS")

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._conn.close()
            self._reader.close()

    def _transaction(self) -> AbstractContextManager[Any]:
        return self._conn.transaction()

    def _execute(self, sql: str) -> int:
        with self._conn.cursor() as cursor:
            cursor.execute(sql.encode())
            return max(cursor.rowcount, 0)

    def _query(self, sql: str, schema: pa.Schema) -> pa.Table:
        with (
            self._read_lock,
            self._reader.cursor() as cursor,
            cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)".encode()) as copy,
        ):
            data = b"".join(bytes(chunk) for chunk in copy)
        return decode_pg_binary(data, schema)

    def _query_rows(self, sql: str, schema: pa.Schema) -> pa.Table:
        with self._read_lock, self._reader.cursor() as cursor:
            rows = cursor.execute(sql.encode()).fetchall()
        return pa.Table.from_pylist([dict(zip(schema.names, row, strict=True)) for row in rows], schema=schema)

    def _stage_new(self, batch: Batch, first: bool) -> tuple[int, int]:
        columns: list[NDArray[Any]] = [batch.tag_id, batch.ts_us, batch.value, batch.quality]
        with self._conn.cursor() as cursor:
            if not first:  # the transaction's temporary tables are emptied at commit; _ts_in holds one batch
                cursor.execute(b"TRUNCATE _ts_in")
            with cursor.copy(b"COPY _ts_in FROM STDIN (FORMAT binary)") as copy:
                copy.write(_PG_SIGNATURE + bytes(8))
                for lo in range(0, len(batch), _COPY_CHUNK_ROWS):
                    copy.write(encode_pg_binary([c[lo : lo + _COPY_CHUNK_ROWS] for c in columns], _POINT_KINDS))
                copy.write(b"\xff\xff")
            cursor.execute(
                b"WITH ins AS (INSERT INTO ts_points SELECT * FROM _ts_in ON CONFLICT DO NOTHING "
                b"RETURNING tag_id, ts, value, quality) INSERT INTO _ts_new SELECT * FROM ins"
            )
            new = max(cursor.rowcount, 0)
        return new, self._note_conflicts(batch, new)

    def _scalars(self, sql: str) -> list[Any]:
        return [row[0] for row in self._conn.execute(sql.encode()).fetchall()]

    def _fill_temp(self, name: str, select_sql: str) -> None:
        # Temporary tables here are emptied at every commit, and each is filled once per transaction.
        self._execute(f"INSERT INTO {name} {select_sql}")

    def _insert_rows(self, name: str, table: pa.Table) -> None:
        buffer = io.BytesIO()
        options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
        pa_csv.write_csv(table, buffer, write_options=options)
        columns = ", ".join(table.schema.names)
        with (
            self._conn.cursor() as cursor,
            cursor.copy(f"COPY {name} ({columns}) FROM STDIN (FORMAT csv)".encode()) as copy,
        ):
            copy.write(buffer.getvalue())

    def _bucket_sql(self, column: str, width_us: int, origin_us: int) -> str:
        return f"date_bin(interval '{width_us} microseconds', {column}, {_ts_sql(origin_us)})"


def _pg_connect(conninfo: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def open_store(target: str | Path, **options: Any) -> TimeSeriesStore:
    """A PostgreSQL store for a ``postgresql://`` URL, else a DuckDB store at the path.

    >>> open_store(":memory:").count()
    0
    """
    text = str(target)
    if text.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        return PostgresStore(text, **options)
    return DuckDBStore(target, **options)
