"""The plant's side: what leaves the plant goes into a JetStream outbox on its own NATS server, then to the hub.

The plant's NATS server is a leaf node of the centre's hub (:func:`smart365.fleet.nats_config.leaf_config`)
with JetStream in its own domain. :class:`Uplink` publishes, every ``every_s``, the firm's closed 1-minute and
1-hour rollup buckets, its tag catalogue when it changes and its alarm events, into the local stream
``S365_OUTBOX`` (subjects ``outbox.<hub subject>``); the stream is on disk, so a plant that lost its link
keeps everything. The forwarder publishes each outbox message to the hub's stream over the leaf link and
acknowledges it locally only after the hub's own acknowledgement: a message is in one of the two streams at
every moment. Where to go on after a restart is read back from the outbox (its last message per subject).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pyarrow as pa
from nats.js.api import ConsumerConfig, StorageType, StreamConfig
from prometheus_client import Counter, Gauge

from smart365.core.db import Database
from smart365.fleet import plant
from smart365.fleet.nats_config import inbox_prefix, log_nats_error
from smart365.fleet.wire import HUB_STREAM, KINDS, OUTBOX, ROLLUP_KINDS, ROWS_PER_MESSAGE, encode, subject
from smart365.telemetry.store import TimeSeriesStore

log = logging.getLogger(__name__)
FORWARDED = Counter("smart365_fleet_forwarded", "Outbox messages the hub acknowledged")
WAITING = Gauge("smart365_fleet_outbox_waiting", "Outbox messages not yet acknowledged by the hub")

OUTBOX_STREAM = "S365_OUTBOX"
FORWARDER = "forwarder"
UNTIL = "S365-Until"  # header: the end (epoch s) of what the message covers, so a restart goes on from there
DIGEST = "S365-Digest"  # header of a tag catalogue: republished only when it changes
SLICE_S = 3600  # rollups are read and published an hour of buckets at a time
EVIDENCE_EVERY_S = 3600  # measured maturity is measured again hourly (and sent when it changed)


def outbox_config(max_age_s: float = 14 * 86400) -> StreamConfig:
    """The plant's outbox: kept two weeks (a plant cut off that long still loses nothing), on disk."""
    return StreamConfig(name=OUTBOX_STREAM, subjects=[f"{OUTBOX}.>"], max_age=max_age_s, storage=StorageType.FILE)


def _digest(rows: Sequence[Sequence[Any]], kind: str) -> str:
    """What a snapshot holds, without its as-of time (which changes every time it is read)."""
    content = rows if kind == "tags" else [row[:-1] for row in rows]
    return hashlib.sha256(encode(kind, content)).hexdigest()[:16]


def _chunks(rows: Sequence[Any], size: int = ROWS_PER_MESSAGE) -> list[Sequence[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


class Uplink:
    """Publishes what leaves one firm's plant into the local outbox and forwards the outbox to the hub."""

    def __init__(
        self,
        db: Database,
        store: TimeSeriesStore,
        *,
        leaf_url: str,
        brn: str,
        plant: str,
        every_s: float = 60.0,
        backfill_s: float = 86400.0,
        lag_s: float = 120.0,
    ) -> None:
        self.db, self.store, self.leaf_url, self.brn, self.plant = db, store, leaf_url, brn, plant
        self.every_s, self.backfill_s, self.lag_s = every_s, backfill_s, lag_s
        self.forwarded = 0
        self.clock = time.time  # what "now" is (a test moves it on)
        self._until: dict[str, float] = {}
        self._digests: dict[str, str] = {}
        self._evidence_at = float("-inf")
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._nc: Any = None

    async def start(self) -> None:
        self._nc = await nats.connect(
            self.leaf_url,
            inbox_prefix=inbox_prefix(self.brn).encode(),
            max_reconnect_attempts=-1,
            error_cb=log_nats_error,
            name=f"smart365-uplink-{self.plant}",
        )
        self._js = self._nc.jetstream()
        await self._ensure_outbox()
        await self._read_back()
        config = ConsumerConfig(ack_wait=30, max_ack_pending=4096, max_deliver=-1)
        self._forward = await self._js.pull_subscribe(
            f"{OUTBOX}.>", durable=FORWARDER, stream=OUTBOX_STREAM, config=config
        )
        self._tasks = [
            asyncio.create_task(self._every(self._round), name="fleet-publish"),
            asyncio.create_task(self._forward_loop(), name="fleet-forward"),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._nc is not None:
            await self._nc.close()

    async def _ensure_outbox(self) -> None:
        try:
            await self._js.stream_info(OUTBOX_STREAM)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(outbox_config())

    def _subject(self, kind: str) -> str:
        return subject(self.brn, self.plant, kind)

    async def _read_back(self) -> None:
        """Where the last run stopped: the ``S365-Until`` of the outbox's last message per kind."""
        for kind in KINDS:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                last = await self._js.get_last_msg(OUTBOX_STREAM, f"{OUTBOX}.{self._subject(kind)}")
                headers = last.headers or {}
                if DIGEST in headers:
                    self._digests[kind] = headers[DIGEST]
                elif UNTIL in headers:
                    self._until[kind] = float(headers[UNTIL])

    async def _every(self, step: Any) -> None:
        while not self._stopping.is_set():
            try:
                await step()
            except Exception:  # a failed round is tried again next time; the log says why
                log.exception("fleet uplink: publishing failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.every_s)

    async def _round(self) -> None:
        await self.publish_due()
        await self.waiting()

    async def publish_due(self, now_s: float | None = None) -> int:
        """Publish everything due into the outbox; returns the messages published."""
        now_s = self.clock() if now_s is None else now_s
        published = 0
        for kind in self._snapshots_due(now_s):
            rows = await asyncio.to_thread(self._snapshot, kind, now_s)
            if kind == "tags":
                tag_ids = [row[0] for row in rows]
            if (digest := _digest(rows, kind)) != self._digests.get(kind):
                published += await self._publish(kind, rows, {DIGEST: digest}, now_s)
                self._digests[kind] = digest
        for kind, width in ROLLUP_KINDS.items():
            published += await self._publish_rollups(kind, width, tag_ids, now_s)
        since = self._since("alarms", now_s)
        if rows := await asyncio.to_thread(plant.alarms, self.db, self.brn, since):
            self._until["alarms"] = max(row[-1] for row in rows)
            published += await self._publish("alarms", rows, {UNTIL: repr(self._until["alarms"])}, now_s)
        since, boundary = self._since("oee", now_s), plant.shift_boundary(now_s - self.lag_s)
        if since < boundary:
            rows = await asyncio.to_thread(plant.oee, self.db, self.store, self.brn, since, boundary)
            published += await self._publish("oee", rows, {UNTIL: repr(boundary)}, boundary) if rows else 0
            self._until["oee"] = boundary
        return published

    def _snapshots_due(self, now_s: float) -> list[str]:
        if now_s - self._evidence_at < EVIDENCE_EVERY_S:
            return ["tags", "models"]
        self._evidence_at = now_s
        return ["tags", "models", "evidence"]

    def _snapshot(self, kind: str, now_s: float) -> plant.Rows:
        if kind == "tags":
            return plant.tags(self.db, self.brn)
        if kind == "models":
            return plant.models(self.db, self.brn, now_s)
        return plant.evidence(self.db, self.store, self.brn, now_s)

    def _since(self, kind: str, now_s: float) -> float:
        """Where ``kind`` goes on from: the last message's end, else ``backfill_s`` back."""
        return self._until.get(kind, now_s - self.backfill_s)

    async def _publish_rollups(self, kind: str, width: int, tag_ids: list[int], now_s: float) -> int:
        closed = int((now_s - self.lag_s) // width * width)  # buckets that ended at least lag_s ago
        start = int(self._since(kind, now_s) // width * width)
        published = 0
        while start < closed and tag_ids:
            end = min(closed, (start // SLICE_S + 1) * SLICE_S)  # whole hours: the same slices after a restart
            table = await asyncio.to_thread(
                self.store.rollup, tag_ids, start * 1_000_000, end * 1_000_000, "1m" if width == 60 else "1h"
            )
            buckets = (table.column("bucket").cast(pa.int64()).to_numpy() // 1_000_000).tolist()
            rows = list(
                zip(
                    table.column("tag_id").to_pylist(),
                    buckets,
                    table.column("count").to_pylist(),
                    table.column("avg").to_pylist(),
                    table.column("min").to_pylist(),
                    table.column("max").to_pylist(),
                    strict=True,
                )
            )
            if rows:
                published += await self._publish(kind, rows, {UNTIL: str(end)}, end, f"{start}-{end}")
            start = end
        self._until[kind] = start
        return published

    async def _publish(
        self, kind: str, rows: Sequence[Any], headers: dict[str, str], at: float, span: str | None = None
    ) -> int:
        key = "rows" if kind in ROLLUP_KINDS else kind
        chunks = _chunks(rows)
        for number, chunk in enumerate(chunks):
            msg_id = f"{self.brn}.{self.plant}.{kind}.{span or repr(at)}.{number}"  # unique across firms
            await self._js.publish(
                f"{OUTBOX}.{self._subject(kind)}",
                encode(key, chunk),
                headers={"Nats-Msg-Id": msg_id, **headers},
                stream=OUTBOX_STREAM,
            )
        return len(chunks)

    async def _forward_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = await self._forward.fetch(256, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            if await self.forward(messages) < len(messages):
                await asyncio.sleep(1.0)  # the link is down or the hub is away: the outbox keeps them

    async def forward(self, messages: list[Any]) -> int:
        """Publish outbox messages to the hub; acknowledge locally those the hub acknowledged."""
        results = await asyncio.gather(
            *(
                self._js.publish(
                    m.subject.removeprefix(f"{OUTBOX}."),
                    m.data,
                    timeout=5,
                    stream=HUB_STREAM,
                    headers={"Nats-Msg-Id": (m.headers or {}).get("Nats-Msg-Id", "")},
                )
                for m in messages
            ),
            return_exceptions=True,
        )
        done = 0
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, BaseException):
                await message.nak(delay=1.0)
            else:
                await message.ack()
                done += 1
        self.forwarded += done
        FORWARDED.inc(done)
        return done

    async def waiting(self) -> int:
        """Outbox messages the hub has not acknowledged yet (what a cut link holds back)."""
        info = await self._forward.consumer_info()
        count = int((info.num_pending or 0) + (info.num_ack_pending or 0))
        WAITING.set(count)
        return count
