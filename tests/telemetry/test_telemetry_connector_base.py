"""The connector contract: config validated before connecting, backoff in the base, emit → ingest queue."""

from __future__ import annotations

import asyncio
import random
from typing import ClassVar

import pytest

from smart365.telemetry.batch import Batch
from smart365.telemetry.connectors import (
    KINDS,
    Connector,
    ConnectorConfig,
    ConnectorConfigError,
    create,
    emit_to,
)
from smart365.telemetry.connectors.base import DeadLetter, backoff_delay
from smart365.telemetry.pipeline import IngestOutcome, IngestQueue
from tests.telemetry.connector_helpers import Recorder, run, wait_until


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("modbus", {"host": "plc", "tags": [{"tag_id": 1, "address": -1}]}, "tags.0.address"),
        ("modbus", {"host": "plc", "tags": [{"tag_id": 1, "address": 0, "dtype": "float128"}]}, "tags.0.dtype"),
        ("opcua", {"endpoint": "http://x", "tags": [{"tag_id": 1, "node_id": "i=1"}]}, "endpoint"),
        ("mqtt", {"client_id": "c", "tags": [{"tag_id": 1, "topic": "a/#"}]}, "tags.0.path"),
        ("sparkplug", {"client_id": "c", "group": "a/b"}, "group"),
        ("modbus", {"host": "plc", "tags": [{"tag_id": 1, "address": 0}], "colour": "red"}, "colour"),
    ],
)
def test_bad_config_is_refused_before_connecting_and_names_the_field(kind: str, config: dict, field: str) -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        create(kind, config, Recorder().emit)
    assert caught.value.params["field"] == field
    assert f"'{field}'" in str(caught.value)
    assert caught.value.to_dict()["code"] == "connector_config_invalid"


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConnectorConfigError, match="'kind'"):
        create("profibus", {}, Recorder().emit)
    assert set(KINDS) == {"opcua", "mqtt", "sparkplug", "modbus"}


def test_backoff_grows_exponentially_caps_and_jitters() -> None:
    rng = random.Random(42)
    plain = [backoff_delay(i, 0.5, 8.0, 0.0, rng) for i in range(7)]
    assert plain == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    jittered = {round(backoff_delay(2, 0.5, 8.0, 0.2, rng), 6) for _ in range(20)}
    assert len(jittered) > 1
    assert all(1.6 <= d <= 2.4 for d in jittered)


class _Flaky(Connector[ConnectorConfig]):
    """Fails ``failures`` times, then delivers one batch and stays connected."""

    kind: ClassVar[str] = "flaky"
    failures = 3

    async def _run_once(self) -> None:
        if self.errors < self.failures:
            raise ConnectionError("device unreachable")
        self._connected()
        await self._emit(Batch.from_columns(1, [0], [1.0]))
        await self._dead_letter("dev", "not_numeric", b"x")
        await asyncio.Event().wait()


def test_base_retries_with_backoff_until_the_source_answers() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        connector = _Flaky({"backoff_initial_s": 0.01, "backoff_max_s": 0.05}, recorder.emit, **recorder.callbacks())
        assert connector.health()["state"] == "stopped"
        await connector.start()
        await wait_until(lambda: connector.health()["state"] == "connected", what="connected")
        health = connector.health()
        await connector.stop()
        assert health["errors"] == 3
        assert health["last_error"] == "ConnectionError: device unreachable"
        assert health["points"] == 1 and health["dead_letters"] == 1
        assert health["last_data_at"] is not None
        assert connector.health()["state"] == "stopped"
        assert recorder.dead[0].as_record()["message_ko"] == "값이 숫자가 아닙니다."

    run(scenario())


def test_emit_to_returns_only_once_the_batch_is_stored() -> None:
    async def scenario() -> None:
        queue = IngestQueue(max_points=10)
        emit = emit_to(queue)
        acknowledged = asyncio.create_task(emit(Batch.from_columns(1, [0, 1], [1.0, 2.0])))
        pending = await queue.get()
        assert pending is not None
        await asyncio.sleep(0.05)
        assert not acknowledged.done()
        queue.complete(pending, IngestOutcome(stored=2, dead=0))
        await asyncio.wait_for(acknowledged, 5)

    run(scenario())


def test_dead_letter_speaks_korean_and_english() -> None:
    letter = DeadLetter("sparkplug", "spBv1.0/g/DDATA/e/d", "no_birth", b"\x00")
    record = letter.as_record()
    assert record["reason"] == "no_birth"
    assert record["message_en"].startswith("Data arrived for a Sparkplug node")
    assert "Birth" in record["message_ko"] and record["message_ko"] != record["message_en"]
