"""The centre's writer on the real PostgreSQL: idempotent rollups, newer alarm states, dead letters, partitions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from smart365.fleet.centre import CentreWriter
from smart365.fleet.partitions import ROLLUP_1M, maintain
from smart365.fleet.wire import BadMessage, decode_records, decode_rollups, encode, subject
from tests.conftest import postgres_records

BRN = "1018600011"
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
T = int(NOW.timestamp()) - 3600


@pytest.fixture
def writer() -> Iterator[CentreWriter]:
    with postgres_records() as url:
        centre = CentreWriter(url)
        yield centre
        centre.close()


def _rollups(*rows: list[object]) -> tuple[str, bytes]:
    return subject(BRN, "p1", "rollup.1m"), encode("rows", rows)


def _count(writer: CentreWriter, sql: str) -> object:
    row = writer.conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_a_batch_delivered_twice_is_stored_once_and_counted_as_already_stored(writer: CentreWriter) -> None:
    batch = [_rollups([1, T, 6, 2.5, 1.0, 4.0], [2, T, 6, 7.0, 6.0, 8.0]), _rollups([1, T + 60, 6, 3.0, 2.0, 4.0])]
    first = writer.write(batch, NOW)
    again = writer.write(batch, NOW)
    assert (first.stored, first.already, again.stored, again.already) == (3, 0, 0, 3)
    assert _count(writer, "SELECT count(*) FROM fleet_rollup_1m") == 3
    assert _count(writer, "SELECT avg FROM fleet_rollup_1m WHERE tag_id = 2") == 7.0


def test_an_alarm_takes_only_a_later_state(writer: CentreWriter) -> None:
    def alarm(cleared: float | None, as_of: float) -> tuple[str, bytes]:
        row = [9, 2, "MCT-01", "high", "진동 > 8 mm/s", T, cleared, None, as_of]
        return subject(BRN, "p1", "alarms"), encode("alarms", [row])

    writer.write([alarm(None, T)], NOW)
    writer.write([alarm(T + 300, T + 300)], NOW)
    writer.write([alarm(None, T)], NOW)  # the raise, delivered again late, does not reopen it
    cleared = _count(writer, "SELECT cleared_at FROM fleet_alarms WHERE alarm_id = 9")
    assert cleared == datetime.fromtimestamp(T + 300, UTC)


def test_what_cannot_be_stored_goes_to_the_dead_letters_with_the_reason(writer: CentreWriter) -> None:
    good = _rollups([1, T, 6, 2.5, 1.0, 4.0])
    old = _rollups([1, T - 40 * 86400, 6, 2.5, 1.0, 4.0], [1, T + 120, 6, 2.5, 1.0, 4.0])
    bad = [
        (subject(BRN, "p1", "rollup.1m"), b"{not json"),
        (subject(BRN, "p1", "rollup.1m"), encode("rows", [[1, T, "six", 2.5, 1.0, 4.0]])),
        ("s365.12345.p1.rollup.1m", encode("rows", [])),
        (subject(BRN, "p1", "rollup.1m").replace("rollup.1m", "rollup.5m"), encode("rows", [])),
    ]
    written = writer.write([good, old, *bad], NOW)
    assert (written.stored, written.dead) == (2, 5)
    reasons = [r for (r,) in writer.conn.execute("SELECT reason FROM fleet_dead_letters ORDER BY id")]
    assert reasons[0] == "1 of 2 rows outside the kept window"
    assert reasons[1].startswith("not JSON")
    assert reasons[2] == "row 1: points 'six' is not an integer"
    assert "s365.<brn>.<plant>.<kind>" in reasons[3]
    assert reasons[4].startswith("unknown kind 'rollup.5m'")
    payloads = [bytes(p) for (p,) in writer.conn.execute("SELECT payload FROM fleet_dead_letters ORDER BY id")]
    assert payloads[1] == b"{not json"  # kept as it came, to look at and replay


def test_a_value_the_database_refuses_spoils_only_its_own_message(writer: CentreWriter) -> None:
    too_big = _rollups([2**63, T, 6, 2.5, 1.0, 4.0])  # JSON allows it; a bigint does not
    written = writer.write([_rollups([1, T, 6, 2.5, 1.0, 4.0]), too_big], NOW)
    assert (written.stored, written.dead) == (1, 1)
    reason = _count(writer, "SELECT reason FROM fleet_dead_letters")
    assert isinstance(reason, str) and reason.startswith("refused by the database")


def test_partitions_are_made_ahead_and_dropped_after_retention(writer: CentreWriter) -> None:
    def partitions() -> list[str]:
        return sorted(
            name
            for (name,) in writer.conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'fleet_rollup_1m'"
            )
        )

    now = datetime.now(UTC)
    made = partitions()
    assert made[0] == ROLLUP_1M.partition_name(ROLLUP_1M.kept_window(now)[0])
    assert made[-1] == ROLLUP_1M.partition_name(ROLLUP_1M.bounds(now + timedelta(days=2))[0])
    assert len(made) == 35 + 3  # 35 days back, today, two ahead
    later = now + timedelta(days=3)
    assert maintain(writer.conn, later) == (3, 3)
    assert partitions()[0] == ROLLUP_1M.partition_name(ROLLUP_1M.kept_window(later)[0])


def test_several_workers_maintaining_at_once_make_each_partition_once() -> None:
    with postgres_records() as url:
        first, second = CentreWriter(url), CentreWriter(url)  # both made the partitions at start
        assert maintain(second.conn) == (0, 0)
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"rows": [[1, 2, 3, NaN, 1, 1]]}', "row 1: mean nan is not a finite number"),
        (b'{"rows": [[1, 2, 3, 1.0, 1]]}', "row 1: 6 values expected"),
        (b'{"rows": [[true, 2, 3, 1.0, 1, 1]]}', "row 1: tag True is not an integer"),
        (b'{"alarms": []}', "no 'rows' list"),
        (b"[]", "no 'rows' list"),
    ],
)
def test_a_bad_rollup_message_names_the_row_and_value(payload: bytes, reason: str) -> None:
    with pytest.raises(BadMessage) as caught:
        decode_rollups(payload)
    assert str(caught.value) == reason


def test_an_alarm_without_a_time_is_refused() -> None:
    body = json.dumps({"alarms": [[9, 2, "MCT-01", "high", "x", None, None, None, 5.0]]}).encode()
    with pytest.raises(BadMessage, match="row 1: raised None is not a finite number"):
        decode_records("alarms", body)


def test_oee_models_and_evidence_keep_the_latest_state_per_key(writer: CentreWriter) -> None:
    def oee(availability: float, as_of: int) -> tuple[str, bytes]:
        row = [
            3,
            T,
            "MCT-01",
            "Day shift",
            availability,
            0.9,
            0.99,
            availability * 0.9 * 0.99,
            410,
            406,
            43200,
            38000,
            as_of,
        ]
        return subject(BRN, "p1", "oee"), encode("oee", [row])

    def evidence(stage: int | None, as_of: int) -> tuple[str, bytes]:
        row = ["D2.3", stage, "{share} of machines send data", {"share": "75%"}, as_of]
        return subject(BRN, "p1", "evidence"), encode("evidence", [row])

    model = [11, "MCT-01", "진동 이상 탐지", "anomaly.pca", 2, "deployed", T, T]
    writer.write([oee(0.8, T), evidence(3, T), (subject(BRN, "p1", "models"), encode("models", [model]))], NOW)
    writer.write([oee(0.7, T + 60), evidence(None, T + 60)], NOW)
    writer.write([oee(0.6, T - 60), evidence(2, T - 60)], NOW)  # older states, delivered late, change nothing
    assert writer.conn.execute("SELECT availability, parts FROM fleet_oee").fetchall() == [(0.7, 410.0)]
    assert writer.conn.execute("SELECT stage, params FROM fleet_evidence").fetchall() == [(None, {"share": "75%"})]
    assert writer.conn.execute("SELECT name, status, version FROM fleet_models").fetchall() == [
        ("진동 이상 탐지", "deployed", 2)
    ]
