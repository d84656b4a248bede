"""The ingest log: a batch is acknowledged once it is synced to disk here, and stored by the store's writer in
large groups behind it, the way a historian's write-ahead log works (InfluxDB's WAL, PostgreSQL's own).

Why: storing a batch (the anti-join that keeps re-sends idempotent, the rollups, the latest values, DuckDB's
commit) costs tens of milliseconds whatever its size, while writing and syncing its bytes costs well under one.
With the log, a request's answer waits for the sync only; the writer stores whatever the log holds by then in
one transaction, on the other core, while the next requests are read.

Records are appended to numbered segment files (``00000001.log``…): a header (magic, points, CRC-32 of the
payload) and the batch's four columns as raw little-endian arrays. A segment is deleted once every record in it
is stored and a newer segment has taken over; what is left when the store opens is stored again before
anything else (appends are idempotent, so a record stored twice changes nothing) and a record cut short by a
crash ends its segment's replay. The log bounds what waits: past ``max_waiting_points`` a writer waits for the
store to catch up, so memory and the distance behind stay bounded under any load.

>>> import tempfile
>>> log = IngestLog(Path(tempfile.mkdtemp()))
>>> segment = log.write(Batch.from_columns(7, [0, 1_000_000], [1.5, 2.5]))
>>> [b.value.tolist() for b in IngestLog(log.directory).recovered()]  # what a restart would store
[[1.5, 2.5]]
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from smart365.telemetry.batch import Batch

log = logging.getLogger(__name__)

MAGIC = b"S365"
HEADER = struct.Struct("<4sII")  # magic, points, CRC-32 of the payload
COLUMNS = (("tag_id", "<i8"), ("ts_us", "<i8"), ("value", "<f8"), ("quality", "<i2"))
POINT_BYTES = sum(np.dtype(kind).itemsize for _name, kind in COLUMNS)
SEGMENT_BYTES = 64 * 1024 * 1024
"""A segment is closed past this size, so a stored one can be deleted while new records go to the next."""
MAX_WAITING_POINTS = 1_000_000
"""Points written but not yet stored before a writer waits (the log's bound on memory and lag)."""


class IngestLog:
    """Segment files in ``directory``; thread-safe. :meth:`write` returns once the record is synced."""

    def __init__(self, directory: Path, max_waiting_points: int = MAX_WAITING_POINTS) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.max_waiting_points = max_waiting_points
        self._lock = threading.Condition()
        self._found = sorted(directory.glob("*.log"))  # left by the last run: stored again at open
        self._active = (int(self._found[-1].stem) if self._found else 0) + 1
        self._file = (directory / f"{self._active:08d}.log").open("ab")
        self._written: dict[int, int] = {self._active: 0}  # records per segment of this run
        self._stored: dict[int, int] = {self._active: 0}
        self._kept: set[int] = set()  # segments with a record the store failed: replayed at the next start
        self.waiting_points = 0

    def recovered(self) -> Iterator[Batch]:
        """The records of the segments left by the last run, oldest first; a torn record ends its segment."""
        for path in self._found:
            data = path.read_bytes()
            at = 0
            while at + HEADER.size <= len(data):
                magic, points, crc = HEADER.unpack_from(data, at)
                end = at + HEADER.size + points * POINT_BYTES
                payload = data[at + HEADER.size : end]
                if magic != MAGIC or end > len(data) or zlib.crc32(payload) != crc:
                    log.warning("ingest log %s: a record cut short at byte %d ends its replay", path, at)
                    break
                yield _decode(payload, points)
                at = end

    def forget_recovered(self) -> None:
        """The recovered records are stored: their segments go."""
        for path in self._found:
            path.unlink(missing_ok=True)
        self._found = []

    def write(self, batch: Batch) -> int:
        """Append ``batch`` and sync it; returns its segment. Waits first while too much waits to be stored."""
        payload = b"".join(np.ascontiguousarray(getattr(batch, name), dtype=kind).tobytes() for name, kind in COLUMNS)
        record = HEADER.pack(MAGIC, len(batch), zlib.crc32(payload)) + payload
        with self._lock:
            while self.waiting_points and self.waiting_points + len(batch) > self.max_waiting_points:
                self._lock.wait()
            if self._file.tell() > SEGMENT_BYTES:
                self._rotate()
            self._file.write(record)
            self._file.flush()
            os.fdatasync(self._file.fileno())
            self._written[self._active] += 1
            self.waiting_points += len(batch)
            return self._active

    def stored(self, segment: int, points: int, *, failed: bool = False) -> None:
        """A record of ``segment`` is stored (or, ``failed``, could not be: its segment is kept for a replay)."""
        with self._lock:
            self._stored[segment] += 1
            self.waiting_points -= points
            if failed:
                self._kept.add(segment)
            for done in [s for s in self._written if s != self._active and self._stored[s] == self._written[s]]:
                if done not in self._kept:
                    (self.directory / f"{done:08d}.log").unlink(missing_ok=True)
                del self._written[done], self._stored[done]
            self._lock.notify_all()

    def close(self) -> None:
        """Close the active segment; deleted when everything in it was stored."""
        with self._lock:
            self._file.close()
            if self._stored[self._active] == self._written[self._active] and self._active not in self._kept:
                (self.directory / f"{self._active:08d}.log").unlink(missing_ok=True)

    def _rotate(self) -> None:
        self._file.close()
        done = self._stored[self._active] == self._written[self._active]
        if done and self._active not in self._kept:
            (self.directory / f"{self._active:08d}.log").unlink(missing_ok=True)
            del self._written[self._active], self._stored[self._active]
        self._active += 1
        self._file = (self.directory / f"{self._active:08d}.log").open("ab")
        self._written[self._active] = self._stored[self._active] = 0


def _decode(payload: bytes, points: int) -> Batch:
    columns, at = {}, 0
    for name, kind in COLUMNS:
        size = points * np.dtype(kind).itemsize
        columns[name] = np.frombuffer(payload, dtype=kind, count=points, offset=at)
        at += size
    return Batch(columns["tag_id"], columns["ts_us"], columns["value"], columns["quality"])
