"""Columnar batches of telemetry points: ``tag_id``, ``ts``, ``value``, ``quality``.

A :class:`Batch` holds four NumPy arrays of equal length (int64 tag ids, int64 epoch microseconds in UTC,
float64 values, int16 quality) and converts to and from Arrow and pandas without a Python object per point.
A missing or unreadable timestamp is NumPy's ``NaT`` (``NAT_US``); an unreadable tag id is ``UNKNOWN_TAG``;
an unreadable value is ``NaN``. The pipeline turns those into dead-letter rows; nothing here rejects them.

Quality follows the OPC DA convention (16 bits): 192 good, 64 uncertain, 0 bad; a missing quality is good.

>>> b = Batch.from_columns(tag_id=7, ts=["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"], value=[1.5, 2.0])
>>> len(b), b.tag_id.tolist(), b.quality.tolist()
(2, [7, 7], [192, 192])
>>> b.to_arrow().schema.field("ts").type
TimestampType(timestamp[us, tz=UTC])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
I16 = NDArray[np.int16]
Mask = NDArray[np.bool_]

NAT_US = int(np.iinfo(np.int64).min)
"""A missing timestamp: the int64 that NumPy reads as ``NaT``."""
UNKNOWN_TAG = -1
"""The tag id given to a row whose tag id could not be read."""
QUALITY_GOOD, QUALITY_UNCERTAIN, QUALITY_BAD = 192, 64, 0
QUALITY_MAX = 32_767  # stored as int16

TS_TYPE = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("tag_id", pa.int64(), nullable=False),
        pa.field("ts", TS_TYPE),
        pa.field("value", pa.float64()),
        pa.field("quality", pa.int16()),
    ]
)
"""The Arrow schema of a batch (``ts`` may hold nulls only before validation)."""


@dataclass(frozen=True, slots=True, eq=False)
class Batch:
    """Telemetry points as four equal-length arrays; build one with a ``from_*`` constructor.

    >>> b = Batch.from_columns([1, 1, 2], [0, 0, 5], [1.0, 2.0, 3.0])
    >>> b.deduplicated().value.tolist()  # last row wins for a repeated (tag_id, ts)
    [2.0, 3.0]
    """

    tag_id: I64
    ts_us: I64
    value: F64
    quality: I16
    _unique: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.tag_id)
        for name in ("ts_us", "value", "quality"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, tag_id has {n}")
        object.__setattr__(self, "tag_id", np.ascontiguousarray(self.tag_id, dtype=np.int64))
        object.__setattr__(self, "ts_us", np.ascontiguousarray(self.ts_us, dtype=np.int64))
        object.__setattr__(self, "value", np.ascontiguousarray(self.value, dtype=np.float64))
        object.__setattr__(self, "quality", np.ascontiguousarray(self.quality, dtype=np.int16))

    def __len__(self) -> int:
        return len(self.tag_id)

    # -- constructors ---------------------------------------------------------------------------------

    @classmethod
    def from_columns(cls, tag_id: Any, ts: Any, value: Any, quality: Any = None) -> Batch:
        """Build from column-likes (lists, NumPy, pandas, Arrow). A scalar ``tag_id``/``quality`` repeats.

        ``ts`` may be datetimes, ISO strings, ``datetime64`` or integer epoch microseconds (UTC).

        >>> Batch.from_columns(3, [1_700_000_000_000_000], [20.5], quality=64).quality.tolist()
        [64]
        """
        ts_us = to_epoch_us(ts)
        n = len(ts_us)
        return cls(
            tag_id=_broadcast(_as_tag_ids(tag_id), n),
            ts_us=ts_us,
            value=_as_float(value),
            quality=_broadcast(_as_quality(quality), n) if quality is not None else _full(QUALITY_GOOD, n),
        )

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | Sequence[Any]]) -> Batch:
        """Build from row records: mappings with ``tag_id, ts, value[, quality]`` or tuples in that order.

        Meant for connectors that receive one message per reading; unreadable fields become dead letters.

        >>> Batch.from_records([{"tag_id": 1, "ts": "2024-01-01T09:00:00+09:00", "value": "1.5"}]).value
        array([1.5])
        """
        frame = pd.DataFrame(list(records))
        if len(frame.columns) and not isinstance(frame.columns[0], str):
            frame.columns = ["tag_id", "ts", "value", "quality"][: len(frame.columns)]
        return cls.from_pandas(frame)

    @classmethod
    def from_pandas(
        cls,
        frame: pd.DataFrame,
        *,
        tag_id: str = "tag_id",
        ts: str = "ts",
        value: str = "value",
        quality: str = "quality",
    ) -> Batch:
        """Build from a data frame with the named columns (``quality`` optional).

        >>> df = pd.DataFrame({"tag_id": [1], "ts": pd.to_datetime(["2024-01-01"], utc=True), "value": [2]})
        >>> Batch.from_pandas(df).ts_us.tolist()
        [1704067200000000]
        """
        if frame.empty:
            return cls.empty()
        q = frame[quality] if quality in frame.columns else None
        return cls.from_columns(frame[tag_id], frame[ts], frame[value], q)

    @classmethod
    def from_arrow(cls, table: pa.Table | pa.RecordBatch) -> Batch:
        """Build from an Arrow table with columns ``tag_id, ts, value[, quality]`` (zero-copy where possible).

        >>> Batch.from_arrow(Batch.from_columns(1, [0], [1.0]).to_arrow()).ts_us.tolist()
        [0]
        """
        names = set(table.column_names)
        q = table.column("quality") if "quality" in names else None
        return cls.from_columns(table.column("tag_id"), table.column("ts"), table.column("value"), q)

    @classmethod
    def empty(cls) -> Batch:
        """A batch with no rows."""
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.int16))

    @classmethod
    def concat(cls, batches: Iterable[Batch]) -> Batch:
        """All rows of ``batches`` in order.

        >>> len(Batch.concat([Batch.from_columns(1, [0], [1.0]), Batch.from_columns(2, [0], [1.0])]))
        2
        """
        parts = list(batches)
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, c) for p in parts]) for c in _COLUMNS))

    # -- views and conversions ------------------------------------------------------------------------

    def take(self, index: Mask | I64) -> Batch:
        """The rows selected by a boolean mask or an integer index array."""
        return Batch(self.tag_id[index], self.ts_us[index], self.value[index], self.quality[index])

    def to_arrow(self) -> pa.Table:
        """An Arrow table with :data:`SCHEMA` (``ts`` as timestamp[us, UTC]; ``NaT`` becomes null)."""
        missing = self.ts_us == NAT_US
        ts = pa.array(self.ts_us, type=TS_TYPE, mask=missing if missing.any() else None)
        return pa.Table.from_arrays(
            [pa.array(self.tag_id), ts, pa.array(self.value), pa.array(self.quality)], schema=SCHEMA
        )

    def to_pandas(self) -> pd.DataFrame:
        """A data frame with a timezone-aware UTC ``ts`` column."""
        return self.to_arrow().to_pandas()

    def time_range(self) -> tuple[int, int]:
        """(first, last) epoch microseconds of the valid timestamps; raises on an empty batch."""
        valid = self.ts_us[self.ts_us != NAT_US]
        if not len(valid):
            raise ValueError("batch has no valid timestamp")
        return int(valid.min()), int(valid.max())

    # -- duplicates -----------------------------------------------------------------------------------

    def unique_mask(self) -> Mask:
        """True for the last row of each (tag_id, ts) pair: the row that wins a duplicate.

        O(n) when the batch is already ordered by (tag_id, ts) or by (ts, tag_id), as connectors emit.
        """
        n = len(self)
        if (
            self._unique
            or n < 2
            or _pairs_increase(self.tag_id, self.ts_us)
            or _pairs_increase(self.ts_us, self.tag_id)
        ):
            return np.ones(n, dtype=np.bool_)
        order = np.argsort(self.ts_us, kind="stable")
        order = order[np.argsort(self.tag_id[order], kind="stable")]
        tag, ts = self.tag_id[order], self.ts_us[order]
        repeated_later = (tag[1:] == tag[:-1]) & (ts[1:] == ts[:-1])
        mask = np.empty(n, dtype=np.bool_)
        mask[order] = np.append(~repeated_later, True)
        return mask

    def split_duplicates(self) -> tuple[Batch, Mask]:
        """This batch without repeated (tag_id, ts) pairs (the last row of each wins, order kept) and the
        mask of the rows it kept.

        >>> unique, kept = Batch.from_columns(1, [0, 0, 1], [1.0, 2.0, 3.0]).split_duplicates()
        >>> unique.value.tolist(), kept.tolist()
        ([2.0, 3.0], [False, True, True])
        """
        mask = self.unique_mask()
        out = self if mask.all() else self.take(mask)
        object.__setattr__(out, "_unique", True)
        return out, mask

    def deduplicated(self) -> Batch:
        """This batch without repeated (tag_id, ts) pairs, the last row of each winning, order kept."""
        return self if self._unique else self.split_duplicates()[0]


_COLUMNS = ("tag_id", "ts_us", "value", "quality")


def to_epoch_us(ts: Any) -> I64:
    """Timestamps of any common form as int64 epoch microseconds (UTC); unreadable ones become ``NAT_US``.

    Naive datetimes are taken as UTC; integers are epoch microseconds.

    >>> to_epoch_us(["2000-01-01T00:00:00Z", "not a time", None]).tolist()[0]
    946684800000000
    >>> int(to_epoch_us(["bad"])[0]) == NAT_US
    True
    """
    if isinstance(ts, pa.ChunkedArray | pa.Array):
        return _arrow_to_us(ts)
    if isinstance(ts, pd.Series | pd.Index):
        return _pandas_to_us(pd.Series(ts))
    arr = np.atleast_1d(np.asarray(ts))
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[us]").view(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        out = np.full(len(arr), NAT_US, dtype=np.int64)
        finite = np.isfinite(arr)
        out[finite] = arr[finite].astype(np.int64)
        return out
    return _pandas_to_us(pd.Series(arr, dtype=object))


def _arrow_to_us(arr: pa.Array | pa.ChunkedArray) -> I64:
    if pa.types.is_timestamp(arr.type):
        arr = arr.cast(pa.timestamp("us", tz=arr.type.tz), safe=False)
    elif not pa.types.is_integer(arr.type):
        return _pandas_to_us(arr.to_pandas())
    ints = arr.cast(pa.int64()).fill_null(NAT_US)
    return np.asarray(ints.to_numpy(), dtype=np.int64)


def _pandas_to_us(series: pd.Series) -> I64:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return to_epoch_us(series.to_numpy(dtype=np.float64, na_value=np.nan))
    parsed = pd.to_datetime(series, utc=True, errors="coerce", format="mixed")
    return np.asarray(parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")).view(np.int64)


def _as_float(values: Any) -> F64:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = values.to_pandas()
    try:
        return np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        coerced = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(values, dtype=object))), errors="coerce")
        return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_tag_ids(values: Any) -> I64:
    if isinstance(values, pa.ChunkedArray | pa.Array) and pa.types.is_integer(values.type):
        return np.asarray(values.cast(pa.int64()).fill_null(UNKNOWN_TAG).to_numpy(), dtype=np.int64)
    arr = np.atleast_1d(np.asarray(values))
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    as_float = _as_float(arr)
    integral = np.isfinite(as_float) & (as_float == np.round(as_float))
    return np.where(integral, as_float, UNKNOWN_TAG).astype(np.int64)


def _as_quality(values: Any) -> I16:
    as_float = _as_float(values)
    return np.where(np.isfinite(as_float), as_float, QUALITY_GOOD).astype(np.int16)


def _broadcast(arr: NDArray[Any], n: int) -> NDArray[Any]:
    return np.broadcast_to(arr, (n,)) if len(arr) == 1 and n != 1 else arr


def _full(value: int, n: int) -> I16:
    return np.full(n, value, dtype=np.int16)


def _pairs_increase(major: I64, minor: I64) -> bool:
    """Whether (major, minor) pairs strictly increase row to row (so no pair repeats)."""
    d_major, d_minor = np.diff(major), np.diff(minor)
    return bool(np.all((d_major > 0) | ((d_major == 0) & (d_minor > 0))))


DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("tag_id", pa.int64(), nullable=False),
        pa.field("ts", TS_TYPE),
        pa.field("value", pa.float64()),
        pa.field("quality", pa.int16()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("message_en", pa.string(), nullable=False),
        pa.field("message_ko", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
    ]
)
"""Rejected rows as the pipeline hands them to a store: the row as received, a reason code and its text, and
(``raw``) the text it came in, cut short, when it could not be read as a row at all (e.g. a bad line)."""
