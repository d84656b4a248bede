"""The column-by-column JSON reader agrees with the strict Pydantic path on every body it accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smart365.telemetry.api import IngestIn
from smart365.telemetry.batch import Batch
from smart365.telemetry.json_batch import plain_points

zones = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30)), None])
moments = st.builds(
    lambda base, zone: base.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 1, 1)),
    zones,
)
points = st.fixed_dictionaries(
    {
        "tag_id": st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(), st.text(max_size=3), st.booleans()),
        "ts": st.one_of(moments.map(lambda m: m.isoformat()), st.integers(0, 2**40), st.text(max_size=12)),
        "value": st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-(2**53), 2**53), st.text(max_size=3)),
    },
    optional={"quality": st.one_of(st.integers(-5, 40_000), st.just("192"))},
)


def _strict(body: bytes) -> Batch | None:
    try:
        data = IngestIn.model_validate_json(body)
    except ValueError:
        return None
    return Batch.from_records([p.model_dump() for p in data.points])


@settings(max_examples=300, deadline=None)
@given(st.lists(points, min_size=1, max_size=8))
def test_plain_bodies_read_the_same_both_ways(batch_points: list[dict[str, object]]) -> None:
    body = json.dumps({"points": batch_points}).encode()
    plain = plain_points(body)
    if plain is None:
        return  # the strict path judges it (and names the point that is wrong)
    strict = _strict(body)
    assert strict is not None, f"the column reader accepted what the strict path refuses: {body!r}"
    for column in ("tag_id", "ts_us", "value", "quality"):
        np.testing.assert_array_equal(getattr(plain, column), getattr(strict, column))


def test_a_point_without_quality_is_good_on_both_paths() -> None:
    body = b'{"points": [{"tag_id": 1, "ts": "2026-01-01T00:00:00Z", "value": 1.5}]}'
    plain, strict = plain_points(body), _strict(body)
    assert plain is not None and strict is not None
    assert plain.quality.tolist() == strict.quality.tolist() == [192]


def test_anything_not_plain_goes_the_strict_way() -> None:
    for body in (b"not json", b"[]", b'{"points": []}', b'{"points": [1]}', b'{"points": [{"tag_id": 1}]}'):
        assert plain_points(body) is None
    lax = b'{"points": [{"tag_id": "7", "ts": "2026-01-01T00:00:00Z", "value": "1.5"}]}'
    assert plain_points(lax) is None and _strict(lax) is not None  # the strict path still accepts it
