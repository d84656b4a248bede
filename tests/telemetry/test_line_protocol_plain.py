"""The column-by-column reading of plain line protocol agrees with the line-by-line reader on every body it
accepts, and leaves every other body (a bad line, an escape, a text field) to the line-by-line reader."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smart365.telemetry import line_protocol as lp

names = st.sampled_from(["m", "cpu", "a", "b", "x", "host", "2라인", ""])
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**40), 2**40).map(lambda i: f"{i}i"),
    st.integers(0, 99).map(lambda i: f"{i}u"),
    st.sampled_from(["t", "false", "T", "1e5", ".5", "-.5e-3", "5.", "+1", "e", "1.2.3", ""]),
    st.sampled_from(["nan", "inf", '"on"', "1_0", "0x1f", "١٢"]),
)
fields = st.lists(st.tuples(names, values).map(lambda kv: "=".join(kv)), min_size=0, max_size=4).map(",".join)
tags = st.lists(st.tuples(names, names).map(lambda kv: "=".join(kv)), max_size=3)
stamps = st.one_of(
    st.just(""), st.integers(0, 2**63).map(str), st.sampled_from(["-5", "1.5", "١٢٣", "99999999999999999999"])
)
lines = st.one_of(
    st.builds(lambda m, t, f, ts: " ".join(p for p in (",".join([m, *t]), f, ts) if p), names, tags, fields, stamps),
    st.sampled_from(["", "   ", "# a comment", "m,a=1 x=1 5 6", "m  x=1", "m,a\\ b=1 x=1", "m,a=b=c x=1"]),
)


def _line_by_line(text: str, precision: str) -> lp.SeriesLines:
    parse = lambda n, line, out: lp._parse_series_line(n, line, precision, 7, out)  # noqa: E731
    return lp._each_line(text, None, lp._SeriesRows(), parse).columns()


@settings(max_examples=500, deadline=None)
@given(st.lists(lines, min_size=1, max_size=6), st.sampled_from(["ns", "u", "ms", "s", "h"]))
def test_plain_bodies_read_the_same_both_ways(body_lines: list[str], precision: str) -> None:
    text = "\n".join(body_lines)
    plain = lp._plain_series_lines(text, precision, 7, None)
    if plain is None:
        return  # the line-by-line reader judges it, and names each bad line
    slow = _line_by_line(text, precision)
    assert slow.errors == [], f"the plain reader accepted a body with a bad line: {text!r}"
    assert plain.names == slow.names
    for column in ("series", "line", "ts_us", "value"):
        np.testing.assert_array_equal(getattr(plain, column), getattr(slow, column))


def test_a_gateways_body_is_read_column_by_column() -> None:
    text = "\n".join(f"press,line=1,host=gw-{m} temp={20 + m}.5,count={m}i,run=true 170000000{m}" for m in range(3))
    plain = lp._plain_series_lines(text, "s", 0, None)
    assert plain is not None
    assert plain.names[:3] == [f"press,host=gw-0,line=1 {f}" for f in ("temp", "count", "run")]
    assert plain.value.tolist()[:3] == [20.5, 0.0, 1.0]
    assert plain.line.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_a_bad_line_sends_the_whole_body_line_by_line_and_is_named() -> None:
    parsed = lp.parse_series_lines("m x=1 5\nm x=oops 6\nm x=2 7", "s")
    assert [(e.line, e.code) for e in parsed.errors] == [(2, "not_a_number")]
    assert parsed.value.tolist() == [1.0, 2.0] and parsed.line.tolist() == [1, 3]
