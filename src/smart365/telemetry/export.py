"""Stored points out: a tag selection over a time range as CSV or Parquet, streamed a slice of time at a time.

Memory stays bounded whatever the range: each slice (``SLICE``, six hours) is read, written and sent before
the next is read. CSV starts with a UTF-8 byte-order mark so Excel opens Korean names as they are; Parquet
is one file with a row group a slice. Rows are in time order, then by tag.

>>> from smart365.telemetry.batch import Batch
>>> from smart365.telemetry.store import DuckDBStore
>>> store = DuckDBStore(":memory:")
>>> _ = store.append(Batch.from_columns(7, [0, 1_000_000], [1.5, 2.5]))
>>> tags = [ExportTag(7, "주축 부하", "MCT-01", "%")]
>>> print(b"".join(csv_chunks(store, tags, 0, 10_000_000)).decode("utf-8-sig"))
time,tag_id,tag,machine,unit,value,quality
"1970-01-01T00:00:00.000000Z",7,"주축 부하","MCT-01","%",1.5,192
"1970-01-01T00:00:01.000000Z",7,"주축 부하","MCT-01","%",2.5,192
<BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from smart365.telemetry.store import TimeSeriesStore

SLICE_US = 6 * 3600 * 1_000_000
COLUMNS = ("time", "tag_id", "tag", "machine", "unit", "value", "quality")


@dataclass(frozen=True)
class ExportTag:
    """A tag as the file names it."""

    id: int
    label: str
    machine: str
    unit: str | None


def _windows(start_us: int, end_us: int) -> Iterator[tuple[int, int]]:
    lo = start_us
    while lo < end_us:
        yield lo, min(end_us, lo + SLICE_US)
        lo += SLICE_US


def _tables(store: TimeSeriesStore, tags: Sequence[ExportTag], start_us: int, end_us: int) -> Iterator[pa.Table]:
    """One table a slice (empty slices skipped), rows by time then tag."""
    ids = np.array([tag.id for tag in tags], dtype=np.int64)
    by_id = np.argsort(ids)
    labels, machines = pa.array([t.label for t in tags]), pa.array([t.machine for t in tags])
    units = pa.array([t.unit for t in tags], pa.string())
    for lo, hi in _windows(start_us, end_us):
        batch = store.read(ids.tolist(), lo, hi)
        if not len(batch):
            continue
        order = np.lexsort((batch.tag_id, batch.ts_us))
        position = pa.array(by_id[np.searchsorted(ids, batch.tag_id[order], sorter=by_id)])  # each row's tag
        yield pa.table(
            {
                "time": pa.array(batch.ts_us[order], pa.timestamp("us", tz="UTC")),
                "tag_id": pa.array(batch.tag_id[order]),
                "tag": labels.take(position),
                "machine": machines.take(position),
                "unit": units.take(position),
                "value": pa.array(batch.value[order]),
                "quality": pa.array(batch.quality[order]),
            }
        )


def csv_chunks(store: TimeSeriesStore, tags: Sequence[ExportTag], start_us: int, end_us: int) -> Iterator[bytes]:
    """The CSV file in pieces: the header, then a piece a slice."""
    yield ("\ufeff" + ",".join(COLUMNS) + "\n").encode()
    options = pa_csv.WriteOptions(include_header=False)  # text quoted: a name may hold a comma
    for table in _tables(store, tags, start_us, end_us):
        sink = pa.BufferOutputStream()
        times = pc.strftime(table.column("time"), "%Y-%m-%dT%H:%M:%SZ")  # microseconds kept: 00:00:01.250000Z
        pa_csv.write_csv(table.set_column(0, "time", times), sink, write_options=options)
        yield sink.getvalue().to_pybytes()


class _Sink:
    """A write-only file that hands over what was written since the last ``take``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


SCHEMA = pa.schema(
    [
        ("time", pa.timestamp("us", tz="UTC")),
        ("tag_id", pa.int64()),
        ("tag", pa.string()),
        ("machine", pa.string()),
        ("unit", pa.string()),
        ("value", pa.float64()),
        ("quality", pa.int16()),
    ]
)


def parquet_chunks(store: TimeSeriesStore, tags: Sequence[ExportTag], start_us: int, end_us: int) -> Iterator[bytes]:
    """The Parquet file in pieces: a row group a slice, then the footer."""
    sink = _Sink()
    with pq.ParquetWriter(sink, SCHEMA, compression="zstd") as writer:
        for table in _tables(store, tags, start_us, end_us):
            writer.write_table(table.cast(SCHEMA))
            yield sink.take()
    yield sink.take()
