"""The ingest pipeline: validate → unit scale → dedupe → accepted rows and dead letters, with backpressure.

Every step is a vectorised NumPy operation over a whole :class:`~smart365.telemetry.batch.Batch`. A rejected
row is never dropped silently: it becomes a dead-letter row carrying a reason code and its text in Korean and
English. Range limits are in engineering units (as the registry holds a tag's min/max), so they are checked
after the tag's scale and offset are applied; the dead letter keeps the value as received.

>>> from datetime import UTC, datetime
>>> tags = {1: TagSpec(min_value=0, max_value=100)}
>>> now = lambda: datetime(2024, 1, 1, tzinfo=UTC)
>>> batch = Batch.from_columns(1, ["2024-01-01", "2024-01-01", "1999-01-01"], [5.0, 500.0, 1.0])
>>> result = Pipeline(tags, now=now).process(batch)
>>> len(result.accepted), result.dead.reason_codes().tolist()
(1, ['above_max', 'ts_too_old'])
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from smart365.core.errors import AppError
from smart365.core.i18n import N_, _, translate_in
from smart365.telemetry.batch import DEAD_LETTER_SCHEMA, F64, I64, NAT_US, Batch, Mask

if TYPE_CHECKING:
    from smart365.telemetry.store import TimeSeriesStore

log = logging.getLogger(__name__)

REASONS: dict[str, str] = {
    "unknown_tag": N_("The tag is not registered."),
    "ts_missing": N_("The timestamp is missing or unreadable."),
    "ts_too_old": N_("The timestamp is before the earliest accepted time (2000-01-01)."),
    "ts_future": N_("The timestamp is too far in the future."),
    "not_numeric": N_("The value is missing or not a finite number."),
    "below_min": N_("The value is below the tag's minimum."),
    "above_max": N_("The value is above the tag's maximum."),
    "duplicate": N_("A later row in the same batch has the same tag and timestamp."),
}
"""Reason code → English message id. The order is the priority: a row gets the first reason that applies."""
REASON_CODES = tuple(REASONS)
_DUPLICATE = REASON_CODES.index("duplicate")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def reason_text(code: str, locale: str | None = None) -> str:
    """The human text of a reason code, in ``locale`` or else the current locale.

    >>> reason_text("above_max", "en"), reason_text("above_max", "ko")
    ("The value is above the tag's maximum.", '값이 태그의 최댓값보다 큽니다.')
    """
    message = REASONS[code]
    return _(message) if locale is None else translate_in(locale, message)


# -- per-tag limits and unit conversion ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagSpec:
    """What the pipeline needs to know about one tag: limits (engineering units) and raw → unit conversion.

    ``value = raw * scale + offset``; a ``None`` limit means unbounded on that side.
    """

    min_value: float | None = None
    max_value: float | None = None
    scale: float = 1.0
    offset: float = 0.0


class TagTable:
    """Per-tag specs as sorted arrays, looked up for a whole batch at once.

    >>> table = TagTable.from_specs({5: TagSpec(max_value=10), 2: TagSpec(scale=0.1)})
    >>> table.known(np.array([2, 3, 5])).tolist()
    [True, False, True]
    """

    def __init__(
        self,
        tag_id: Iterable[int] | I64,
        min_value: Iterable[float] | F64 | None = None,
        max_value: Iterable[float] | F64 | None = None,
        scale: Iterable[float] | F64 | None = None,
        offset: Iterable[float] | F64 | None = None,
    ) -> None:
        ids = np.asarray(list(tag_id) if not isinstance(tag_id, np.ndarray) else tag_id, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        if len(ids) > 1 and np.any(np.diff(ids[order]) == 0):
            raise ValueError("tag ids in a TagTable must be unique")
        self.tag_id = ids[order]
        # One extra trailing row holds the defaults used for a tag that is not in the table.
        self.min_value = _column(min_value, order, np.nan)
        self.max_value = _column(max_value, order, np.nan)
        self.scale = _column(scale, order, 1.0)
        self.offset = _column(offset, order, 0.0)

    @classmethod
    def from_specs(cls, specs: Mapping[int, TagSpec]) -> TagTable:
        """Build from ``{tag_id: TagSpec}``."""
        items = list(specs.items())
        return cls(
            [tag for tag, _spec in items],
            [np.nan if s.min_value is None else s.min_value for _tag, s in items],
            [np.nan if s.max_value is None else s.max_value for _tag, s in items],
            [s.scale for _tag, s in items],
            [s.offset for _tag, s in items],
        )

    def index(self, tag_ids: I64) -> I64:
        """Row of each tag id in the spec arrays; the defaults row (``len``) for an unknown tag."""
        if not len(self.tag_id):
            return np.zeros(len(tag_ids), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.tag_id, tag_ids), len(self.tag_id) - 1)
        return np.where(self.tag_id[pos] == tag_ids, pos, len(self.tag_id))

    def known(self, tag_ids: I64) -> Mask:
        """Whether each tag id is in the table."""
        return self.index(tag_ids) < len(self.tag_id)


def _column(values: Iterable[float] | F64 | None, order: I64, default: float) -> F64:
    if values is None:
        return np.full(len(order) + 1, default)
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    return np.append(np.where(np.isnan(arr), default, arr)[order], default)


# -- dead letters and results --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """Rejected rows as received, each with a reason (an index into :data:`REASON_CODES`) and its position."""

    rows: Batch
    reason: NDArray[np.int8]
    position: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Where each row stood in the batch given to :meth:`Pipeline.process` (empty when not known)."""

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def empty(cls) -> DeadLetters:
        """No rejected rows."""
        return cls(Batch.empty(), np.empty(0, dtype=np.int8))

    def reason_codes(self) -> NDArray[np.str_]:
        """The reason code of each row."""
        return np.asarray(REASON_CODES)[self.reason]

    def counts(self) -> dict[str, int]:
        """Rows per reason code, for the codes that occur.

        >>> DeadLetters(Batch.from_columns(1, [0, 0], [1.0, 2.0]), np.array([4, 4], np.int8)).counts()
        {'not_numeric': 2}
        """
        found = np.bincount(self.reason, minlength=len(REASON_CODES))
        return {code: int(n) for code, n in zip(REASON_CODES, found, strict=True) if n}

    def summary(self) -> list[str]:
        """One line per reason in the current locale, e.g. for a log or a status page."""
        return [f"{reason_text(code)} ({n})" for code, n in self.counts().items()]

    def to_arrow(self) -> pa.Table:
        """The rows in :data:`~smart365.telemetry.batch.DEAD_LETTER_SCHEMA` (reason code, English, Korean)."""
        index = pa.array(self.reason)
        texts = {loc: pa.array([translate_in(loc, REASONS[c]) for c in REASON_CODES]) for loc in ("en", "ko")}
        rows = self.rows.to_arrow()
        columns = [*rows.columns, pa.array(REASON_CODES).take(index)]
        columns += [texts["en"].take(index), texts["ko"].take(index), pa.nulls(len(self), pa.string())]
        return pa.Table.from_arrays(columns, schema=DEAD_LETTER_SCHEMA)


def unreadable_letters(
    reasons: list[str], english: list[str], korean: list[str], raw: list[str | None] | None = None
) -> pa.Table:
    """Dead-letter rows for input that never became a point (a bad line, an unreadable file row): no tag,
    time or value, only the reason code, its text in English and Korean, and the raw text when known.

    >>> unreadable_letters(["malformed_line"], ["Bad."], ["잘못됨."], ["x y z w"]).column("raw").to_pylist()
    ['x y z w']
    """
    count = len(reasons)
    columns = {
        "tag_id": pa.array(np.full(count, -1, dtype=np.int64)),
        "ts": pa.nulls(count, DEAD_LETTER_SCHEMA.field("ts").type),
        "value": pa.nulls(count, pa.float64()),
        "quality": pa.nulls(count, pa.int16()),
        "reason": pa.array(reasons, pa.string()),
        "message_en": pa.array(english, pa.string()),
        "message_ko": pa.array(korean, pa.string()),
        "raw": pa.array(raw, pa.string()) if raw is not None else pa.nulls(count, pa.string()),
    }
    return pa.Table.from_pydict(columns, schema=DEAD_LETTER_SCHEMA)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """What the pipeline made of a batch: rows to store (engineering units, unique) and dead letters."""

    accepted: Batch
    dead: DeadLetters


# -- the pipeline --------------------------------------------------------------------------------------


class Pipeline:
    """Validate, convert units and dedupe batches for one set of tags.

    ``tags`` is a :class:`TagTable` or ``{tag_id: TagSpec}``; a tag outside it is dead-lettered as
    ``unknown_tag``. With ``tags=None`` every non-negative tag id is accepted with no limits.
    """

    def __init__(
        self,
        tags: TagTable | Mapping[int, TagSpec] | None = None,
        *,
        max_future: timedelta = timedelta(minutes=5),
        earliest: datetime = EARLIEST,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tags = tags if isinstance(tags, TagTable) or tags is None else TagTable.from_specs(tags)
        self.max_future_us = int(max_future / timedelta(microseconds=1))
        self.earliest_us = _epoch_us(earliest)
        self.now = now

    def process(self, batch: Batch) -> PipelineResult:
        """Split ``batch`` into accepted rows (scaled, deduplicated, last row wins) and dead letters.

        >>> r = Pipeline({1: TagSpec(scale=10)}).process(Batch.from_columns(1, [10**15, 10**15], [1.0, 2.0]))
        >>> r.accepted.value.tolist(), r.dead.reason_codes().tolist()
        ([20.0], ['duplicate'])
        """
        row = self._spec_rows(batch.tag_id)
        scaled = self._scale(batch.value, row)
        reason = self._reasons(batch, scaled, row)
        ok = reason < 0
        accepted, kept = Batch(batch.tag_id[ok], batch.ts_us[ok], scaled[ok], batch.quality[ok]).split_duplicates()
        reason[np.flatnonzero(ok)[~kept]] = _DUPLICATE
        rejected = reason >= 0
        return PipelineResult(accepted, DeadLetters(batch.take(rejected), reason[rejected], np.flatnonzero(rejected)))

    def _spec_rows(self, tag_ids: I64) -> I64:
        if self.tags is None:
            return np.where(tag_ids >= 0, 0, -1)
        return np.where(tag_ids >= 0, self.tags.index(tag_ids), -1)

    def _scale(self, raw: F64, row: I64) -> F64:
        if self.tags is None:
            return raw
        return raw * self.tags.scale[row] + self.tags.offset[row]

    def _reasons(self, batch: Batch, value: F64, row: I64) -> NDArray[np.int8]:
        """Index of the first failed check per row (order of :data:`REASON_CODES`), -1 when all pass."""
        ts = batch.ts_us
        unknown = row < 0 if self.tags is None else (row < 0) | (row == len(self.tags.tag_id))
        lo, hi = (np.nan, np.nan) if self.tags is None else (self.tags.min_value[row], self.tags.max_value[row])
        checks = [
            unknown,
            ts == NAT_US,
            ts < self.earliest_us,
            ts > _epoch_us(self.now()) + self.max_future_us,
            ~np.isfinite(value),
            value < lo,
            value > hi,
        ]
        return np.select(checks, np.arange(len(checks), dtype=np.int8), default=-1).astype(np.int8)


def _epoch_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# -- backpressure --------------------------------------------------------------------------------------


class BackpressureError(AppError):
    """The ingest queue holds as many points as it may; the producer must wait or retry later."""

    status: ClassVar[int] = 503
    code: ClassVar[str] = "backpressure"
    default_message: ClassVar[str] = N_("Too many telemetry points are waiting to be stored; try again shortly.")


class BatchTooLargeError(AppError):
    """A single batch is larger than the whole ingest queue; split it."""

    status: ClassVar[int] = 413
    code: ClassVar[str] = "batch_too_large"
    default_message: ClassVar[str] = N_(
        "A batch of {points} points exceeds the limit of {limit} points in flight; send smaller batches."
    )


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What became of one queued batch: rows newly stored and rows dead-lettered."""

    stored: int
    dead: int


@dataclass(frozen=True, slots=True)
class Pending:
    """A batch taken from the queue, with the future its producer awaits."""

    batch: Batch
    outcome: asyncio.Future[IngestOutcome]


class IngestQueue:
    """A queue bounded by points in flight: from ``put`` until the consumer calls ``complete``/``fail``.

    ``await put(batch)`` waits (first come, first served) while the batch would exceed ``max_points``;
    ``try_put`` raises :class:`BackpressureError` instead. Both return a future that resolves to the batch's
    :class:`IngestOutcome` once it is stored: a connector acknowledges its source only then (at-least-once).
    Memory is bounded by ``max_points`` however fast producers are. Use it from one event loop; a thread
    hands batches over with ``asyncio.run_coroutine_threadsafe(queue.put(batch), loop)``.

    >>> async def demo() -> str:
    ...     queue = IngestQueue(max_points=2)
    ...     _ = queue.try_put(Batch.from_columns(1, [0, 1], [1.0, 2.0]))
    ...     try:
    ...         queue.try_put(Batch.from_columns(1, [2], [3.0]))
    ...     except BackpressureError as error:
    ...         return error.code
    ...     return "queued"
    >>> asyncio.run(demo())
    'backpressure'
    """

    def __init__(self, max_points: int) -> None:
        if max_points <= 0:
            raise ValueError("max_points must be positive")
        self.max_points = max_points
        self.in_flight = 0
        self._items: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def put(self, batch: Batch) -> asyncio.Future[IngestOutcome]:
        """Queue ``batch``, waiting for room; returns the future of its outcome."""
        n = self._size(batch)
        if self._waiting or self.in_flight + n > self.max_points:
            admitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append((n, admitted))
            try:
                await admitted
            except asyncio.CancelledError:
                if admitted.done() and not admitted.cancelled():
                    self._release(n)
                raise
        else:
            self.in_flight += n
        return self._enqueue(batch)

    def try_put(self, batch: Batch) -> asyncio.Future[IngestOutcome]:
        """Queue ``batch`` now or raise :class:`BackpressureError`."""
        n = self._size(batch)
        if self._waiting or self.in_flight + n > self.max_points:
            raise BackpressureError()
        self.in_flight += n
        return self._enqueue(batch)

    async def get(self) -> Pending | None:
        """The next batch, or ``None`` once the queue is closed and drained."""
        item = await self._items.get()
        if item is None:
            self._items.put_nowait(None)  # keep every other consumer's get() returning None too
        return item

    def ready(self) -> list[Pending]:
        """Every batch queued right now, without waiting (none past the close marker).

        >>> async def demo() -> int:
        ...     queue = IngestQueue(max_points=10)
        ...     for start in (0, 1):
        ...         _ = queue.try_put(Batch.from_columns(1, [start], [1.0]))
        ...     queue.close()
        ...     return len(queue.ready()) + (await queue.get() is None)
        >>> asyncio.run(demo())
        3
        """
        items: list[Pending] = []
        while not self._items.empty():
            item = self._items.get_nowait()
            if item is None:
                self._items.put_nowait(None)
                break
            items.append(item)
        return items

    def complete(self, item: Pending, outcome: IngestOutcome) -> None:
        """Mark ``item`` stored: free its room and resolve its producer's future."""
        self._release(len(item.batch))
        if not item.outcome.done():
            item.outcome.set_result(outcome)

    def fail(self, item: Pending, error: BaseException) -> None:
        """Mark ``item`` failed: free its room and hand ``error`` to its producer."""
        self._release(len(item.batch))
        if not item.outcome.done():
            item.outcome.set_exception(error)

    def close(self) -> None:
        """No more batches: consumers finish what is queued, then ``get`` returns ``None``."""
        self._items.put_nowait(None)

    def _size(self, batch: Batch) -> int:
        if len(batch) > self.max_points:
            raise BatchTooLargeError(points=len(batch), limit=self.max_points)
        return len(batch)

    def _enqueue(self, batch: Batch) -> asyncio.Future[IngestOutcome]:
        outcome: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        self._items.put_nowait(Pending(batch, outcome))
        return outcome

    def _release(self, n: int) -> None:
        self.in_flight -= n
        while self._waiting and (self._waiting[0][1].done() or self.in_flight + self._waiting[0][0] <= self.max_points):
            size, admitted = self._waiting.popleft()
            if not admitted.done():
                self.in_flight += size
                admitted.set_result(None)


OnStored = Callable[[Batch], Awaitable[None]]
"""Called with each batch of accepted points once they are stored (e.g. the alarm rules)."""


async def run_ingest(
    queue: IngestQueue, pipeline: Pipeline, store: TimeSeriesStore, on_stored: OnStored | None = None
) -> IngestOutcome:
    """Consume ``queue`` until it is closed: process, store, dead-letter, then resolve each producer.

    Whatever is queued when the worker comes round is stored in one commit (group commit): a commit has a
    fixed cost, and a connector that sends one small batch per message would otherwise pay it per message.
    The outcome is what storing them one after another would give (see :func:`process_group`): dead letters
    per batch, and across batches the earlier row of a repeated (tag_id, ts) wins. If a group's commit
    fails, each of its batches is retried alone, so a failing batch (the store is down, say) fails only its
    own producer's future; the worker goes on. ``on_stored`` sees every accepted batch after it is stored;
    its failure is logged and never stops the worker (the points are already safe). Returns the totals.
    """
    stored = dead = 0
    while (item := await queue.get()) is not None:
        group = [item, *queue.ready()]
        done = await _commit(queue, pipeline, store, group, on_stored)
        if done is None and len(group) > 1:
            log.warning("a commit of %d telemetry batches failed; storing them one by one", len(group))
            alone = [await _commit(queue, pipeline, store, [one], on_stored) for one in group]
            done = IngestOutcome(sum(o.stored for o in alone if o), sum(o.dead for o in alone if o))
        if done is not None:
            stored, dead = stored + done.stored, dead + done.dead
    return IngestOutcome(stored, dead)


async def _commit(
    queue: IngestQueue, pipeline: Pipeline, store: TimeSeriesStore, group: list[Pending], on_stored: OnStored | None
) -> IngestOutcome | None:
    """Store ``group`` in one append; resolve its producers. ``None`` when it failed (a lone batch's
    producer then gets the error; a larger group's are left for the caller to retry one by one)."""
    try:
        accepted, dead, kept, rejected = process_group(pipeline, [p.batch for p in group])
        n = await asyncio.to_thread(store.append, accepted)
        if any(len(d) for d in dead):
            await asyncio.to_thread(store.dead_letter, pa.concat_tables([d.to_arrow() for d in dead if len(d)]))
    except Exception as error:
        if len(group) == 1:
            log.exception("telemetry batch of %d points failed", len(group[0].batch))
            queue.fail(group[0], error)
        return None
    for p, share, n_dead in zip(group, stored_shares(kept, n), rejected, strict=True):
        queue.complete(p, IngestOutcome(share, n_dead))
    await _notify(on_stored, accepted)
    return IngestOutcome(n, sum(rejected))


def process_group(pipeline: Pipeline, batches: list[Batch]) -> tuple[Batch, list[DeadLetters], list[int], list[int]]:
    """Run ``batches`` through the pipeline as if one by one: the rows to store (across batches the earlier
    row of a repeated (tag_id, ts) wins), the dead letters, and per batch its rows kept and rows rejected.

    They go through as one batch when that gives the same answer, i.e. no (tag_id, ts) repeats anywhere.

    >>> ts = [10**15, 10**15 + 1]
    >>> one, two = Batch.from_columns(1, ts, [1.0, 2.0]), Batch.from_columns(2, ts, [1.0, float("nan")])
    >>> rows, dead, kept, rejected = process_group(Pipeline(), [one, two])
    >>> len(rows), kept, rejected
    (3, [2, 1], [0, 1])
    """
    if len(batches) > 1:
        result = pipeline.process(Batch.concat(batches))
        if not np.any(result.dead.reason == _DUPLICATE):
            ends = np.cumsum([len(b) for b in batches])
            owner = np.searchsorted(ends, result.dead.position, side="right")
            rejected = np.bincount(owner, minlength=len(batches)).tolist()
            kept = [len(b) - r for b, r in zip(batches, rejected, strict=True)]
            return result.accepted, [result.dead], kept, rejected
    results = [pipeline.process(b) for b in batches]
    accepted, masks = first_wins([r.accepted for r in results])
    return accepted, [r.dead for r in results], [int(m.sum()) for m in masks], [len(r.dead) for r in results]


def first_wins(batches: list[Batch]) -> tuple[Batch, list[Mask]]:
    """The rows of ``batches`` (each already unique) in order, without a (tag_id, ts) an earlier batch
    holds, and per batch the mask of its rows kept.

    >>> rows, kept = first_wins([Batch.from_columns(1, [0, 1], [1.0, 2.0]), Batch.from_columns(1, [1], [9.0])])
    >>> rows.value.tolist(), [k.tolist() for k in kept]
    ([1.0, 2.0], [[True, True], [False]])
    """
    if len(batches) == 1:
        return batches[0], [np.ones(len(batches[0]), dtype=np.bool_)]
    joined = Batch.concat(batches)
    # Reversed, "the last row of a pair wins" keeps the first one of the original order.
    mask = joined.take(np.arange(len(joined))[::-1]).unique_mask()[::-1]
    bounds = np.cumsum([0, *(len(b) for b in batches)])
    return joined.take(mask), [mask[a:b] for a, b in itertools.pairwise(bounds)]


def stored_shares(kept: list[int], stored: int) -> list[int]:
    """Each batch's share of the ``stored`` new rows of their common commit: its ``kept`` rows, exactly so
    when every kept row was new; rows the store already held are charged to the earliest batches (a
    re-delivery comes first).

    >>> stored_shares([3, 3], 6), stored_shares([3, 3], 4)
    ([3, 3], [1, 3])
    """
    counts = kept
    shortfall = sum(counts) - stored
    shares = []
    for count in counts:
        charged = min(count, max(shortfall, 0))
        shortfall -= charged
        shares.append(count - charged)
    return shares


async def _notify(on_stored: OnStored | None, accepted: Batch) -> None:
    if on_stored is None or not len(accepted):
        return
    try:
        await on_stored(accepted)
    except Exception:
        log.exception("a listener of stored telemetry failed")
