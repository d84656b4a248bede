"""InfluxDB line protocol, the lingua franca of small data loggers and gateways.

``measurement[,tag=value...] field=value[,field=value...] [timestamp]``. Smart365 reads one machine per
line: the tag set must carry ``equipment_id`` and each numeric field is one of that machine's tags (by
name). Integers (``12i``), floats and booleans are read; strings are rejected with the line number.

Parsing costs time linear in the body: a line is cut at its unescaped spaces and commas in one scan of its
special characters (no pattern that looks ahead to the end of the line for each comma), a line with more
than :data:`MAX_FIELDS_PER_LINE` fields is refused as a whole, and a body is read only up to ``max_points``
readings, rejections and lines before :class:`TooManyPoints` stops it. Numbers, ids and timestamps are
ASCII digits only (``int("١٢")`` would read Arabic-Indic digits) and ids and timestamps must fit 64 bits.

>>> lines = parse_lines('mct,equipment_id=3 spindle_load=55.5,part_count=120i 1700000000000000000')
>>> lines.readings, lines.errors
([(1, 3, 'spindle_load', 1700000000000000, 55.5), (1, 3, 'part_count', 1700000000000000, 120.0)], [])
>>> [(e.line, e.code) for e in parse_lines('mct,equipment_id=١٢ x=1').errors]
[(1, 'no_equipment_id')]
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from smart365.core.i18n import N_

_Parsed = TypeVar("_Parsed", "ParsedLines", "_SeriesRows")  # what a pass over the lines fills

PRECISION_TO_US = {"ns": 1e-3, "us": 1, "ms": 1e3, "s": 1e6}
INFLUX_PRECISIONS = ("ns", "u", "us", "µ", "ms", "s", "m", "h")
"""What InfluxDB's ``precision`` takes (1.x: ``n``/``ns``, ``u``, ``ms``, ``s``, ``m``, ``h``; 2.x: ``ns``, ``us``,
``ms``, ``s``)."""
_MULTIPLY = {  # (times, divided by) from the precision's unit to µs
    "ns": (1, 1000),
    "n": (1, 1000),
    "us": (1, 1),
    "u": (1, 1),
    "µ": (1, 1),
    "ms": (1000, 1),
    "s": (1_000_000, 1),
    "m": (60_000_000, 1),
    "h": (3_600_000_000, 1),
}
MAX_SERIES_CHARS = 1000
"""Longest series name (measurement, tags and field) the signal inbox keeps; a longer one refuses its line."""
MAX_FIELDS_PER_LINE = 10_000
"""More fields than this on one line (a machine with ten thousand signals, or junk) refuse the line."""
MAX_RAW_CHARS = 1000
"""How much of a rejected line the dead-letter table keeps."""
MAX_VALUE_CHARS = 100
"""How much of a bad value or field name an error message repeats."""
INT64_MAX = 2**63 - 1

REASONS: dict[str, str] = {
    "malformed_line": N_("Expected 'measurement,tags fields [timestamp]'."),
    "no_equipment_id": N_("The tag set needs equipment_id=<number>."),
    "bad_timestamp": N_("The timestamp is not a whole number in range."),
    "not_a_number": N_("A field is not a number."),
    "too_many_fields": N_("The line has more fields than one line may carry."),
    "text_field": N_("A field holds text; Smart365 stores numbers only."),
    "series_too_long": N_("The measurement, tags and field name are too long."),
    "inbox_full": N_("The firm's new-signal inbox is full; assign or map its signals first."),
}
"""Reason code → English message id for lines the parser rejects (one text per code, for counts)."""

_SPECIAL = re.compile(r'[\\" ,]')
_DIGITS = re.compile(r"-?[0-9]{1,19}")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"[-+]?[0-9]+[iu]")
_NON_BLANK = re.compile(r"[^\n]+")
_BOOL = {
    "t": 1.0,
    "true": 1.0,
    "T": 1.0,
    "True": 1.0,
    "TRUE": 1.0,
    "f": 0.0,
    "false": 0.0,
    "F": 0.0,
    "False": 0.0,
    "FALSE": 0.0,
}


class TooManyPoints(ValueError):
    """A body with more readings, rejections or lines than the caller allows; nothing of it is kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} points or lines")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class LineError:
    """A rejected line (or one field of it): its number, a reason code, the message with its fields, the raw line."""

    line: int
    code: str
    message: str
    params: dict[str, str]
    raw: str


@dataclass
class ParsedLines:
    """Readings ``(line, equipment_id, tag name, ts µs, value)`` and the rejected lines (:class:`LineError`)."""

    readings: list[tuple[int, int, str, int, float]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.readings) + len(self.errors)


def parse_lines(
    text: str, precision: str = "ns", now_us: int | None = None, max_points: int | None = None
) -> ParsedLines:
    """Parse a body of line protocol; a bad line is reported by number and the rest still read.

    Raises :class:`TooManyPoints` as soon as the body holds more than ``max_points`` readings and
    rejections, or more lines than that, so an oversized body costs no more than the limit.

    >>> try:
    ...     parse_lines("m,equipment_id=1 a=1,b=2\\nm,equipment_id=1 c=3", max_points=2)
    ... except TooManyPoints as error:
    ...     print(error)
    more than 2 points or lines
    """
    now_us = now_us if now_us is not None else int(time.time() * 1e6)
    return _each_line(
        text, max_points, ParsedLines(), lambda n, line, out: _parse_line(n, line, precision, now_us, out)
    )


def _each_line(
    text: str, max_points: int | None, parsed: _Parsed, parse: Callable[[int, str, _Parsed], None]
) -> _Parsed:
    """Feed every non-blank, non-comment line of ``text`` with its 1-based number to ``parse`` (which adds to
    ``parsed``), in one pass; past ``max_points`` points or lines, :class:`TooManyPoints`."""
    number, position = 1, 0
    for count, match in enumerate(_NON_BLANK.finditer(text), start=1):
        number += text.count("\n", position, match.start())
        position = match.start()
        line = match.group().strip()
        if line and not line.startswith("#"):
            parse(number, line, parsed)
        if max_points is not None and (len(parsed) > max_points or count > max_points):
            raise TooManyPoints(max_points)
    return parsed


def split_line(line: str) -> list[list[str]] | None:
    """The line's space-separated sections, each cut at its commas; escaped characters and quoted strings
    stay whole. ``None`` when a section has more than :data:`MAX_FIELDS_PER_LINE` items.

    >>> split_line('m,a=1 f="x y,z",g=2\\\\,3 5')
    [['m', 'a=1'], ['f="x y,z"', 'g=2\\\\,3'], ['5']]
    """
    sections: list[list[str]] = []
    items: list[str] = []
    start, escaped_until, quoted = 0, -1, False
    for match in _SPECIAL.finditer(line):
        at = match.start()
        if at < escaped_until:
            continue
        char = line[at]
        if char == "\\":
            escaped_until = at + 2
        elif char == '"':
            quoted = not quoted
        elif not quoted:
            items.append(line[start:at])
            start = at + 1
            if len(items) > MAX_FIELDS_PER_LINE:
                return None
            if char == " ":
                sections.append(items)
                items = []
    items.append(line[start:])
    sections.append(items)
    return sections


def _parse_line(number: int, line: str, precision: str, now_us: int, out: ParsedLines) -> None:
    sections = split_line(line)
    if sections is None:
        message = N_("The line has more than {limit} fields.")
        out.errors.append(_error(number, "too_many_fields", line, message, limit=str(MAX_FIELDS_PER_LINE)))
        return
    if len(sections) not in (2, 3):
        out.errors.append(_error(number, "malformed_line", line))
        return
    tags = dict(_pair(item) for item in sections[0][1:])
    equipment = _id(tags.get("equipment_id", ""))
    if equipment is None:
        out.errors.append(_error(number, "no_equipment_id", line))
        return
    ts_us = _timestamp(sections[2], precision) if len(sections) == 3 else now_us
    if ts_us is None:
        message = N_("The timestamp '{value}' is not a whole number in range.")
        out.errors.append(_error(number, "bad_timestamp", line, message, value=_clip(",".join(sections[2]))))
        return
    for key, raw in (_pair(item) for item in sections[1]):
        value = _number(raw)
        if value is None:
            message = N_("Field '{field}' is not a number: {value}")
            out.errors.append(_error(number, "not_a_number", line, message, field=_clip(key), value=_clip(raw)))
        else:
            out.readings.append((number, equipment, key, ts_us, value))


def _error(number: int, code: str, line: str, message: str | None = None, **params: str) -> LineError:
    """A rejected line: ``message`` (the code's own text by default) with its fields, the line cut short."""
    return LineError(number, code, message or REASONS[code], params, line[:MAX_RAW_CHARS])


def _pair(item: str) -> tuple[str, str]:
    key, _sep, value = item.partition("=")
    return key.replace("\\", ""), value


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _id(raw: str) -> int | None:
    """A registry id: ASCII digits that fit a 64-bit integer."""
    if not _DIGITS.fullmatch(raw) or raw.startswith("-"):
        return None
    value = int(raw)
    return value if value <= INT64_MAX else None


def _timestamp(section: list[str], precision: str) -> int | None:
    """Epoch µs from the timestamp section; ``None`` unless it is ASCII digits that fit 64 bits."""
    raw = section[0] if len(section) == 1 else ""
    if not _DIGITS.fullmatch(raw):
        return None
    times, divided_by = _MULTIPLY[precision]
    value = int(raw) * times // divided_by
    return value if -INT64_MAX <= value <= INT64_MAX else None


def _number(raw: str) -> float | None:
    if raw in _BOOL:
        return _BOOL[raw]
    if _INTEGER.fullmatch(raw):
        return float(raw[:-1])
    return float(raw) if _FLOAT.fullmatch(raw) else None


# -- any line protocol (the InfluxDB-compatible write): series by measurement, tag set and field -----------


@dataclass
class SeriesLines:
    """Readings column by column, and the rejected lines, from :func:`parse_series_lines`.

    ``names`` holds each distinct series once, in the order first seen: its canonical name,
    ``measurement,tag=value,… field`` with the tags sorted and escaped as line protocol escapes them, so the same
    signal always has the same name however a client orders its tags. Per reading: ``series`` (an index into
    ``names``), ``line`` (1-based), ``ts_us`` and ``value``.
    """

    names: list[str] = field(default_factory=list)
    series: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    line: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    ts_us: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    value: NDArray[np.float64] = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    errors: list[LineError] = field(default_factory=list)

    def readings(self) -> list[tuple[int, str, int, float]]:
        """The readings as ``(line, series, ts µs, value)`` rows (for reading them, not for speed)."""
        names = [self.names[i] for i in self.series.tolist()]
        return list(zip(self.line.tolist(), names, self.ts_us.tolist(), self.value.tolist(), strict=True))


@dataclass
class _SeriesRows:
    """What the line-by-line reader fills; :meth:`columns` turns it into :class:`SeriesLines`."""

    readings: list[tuple[int, str, int, float]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.readings) + len(self.errors)

    def columns(self) -> SeriesLines:
        index: dict[str, int] = {}
        series = [index.setdefault(name, len(index)) for _line, name, _ts, _value in self.readings]
        return SeriesLines(
            list(index),
            np.array(series, dtype=np.int64),
            np.array([r[0] for r in self.readings], dtype=np.int64),
            np.array([r[2] for r in self.readings], dtype=np.int64),
            np.array([r[3] for r in self.readings], dtype=np.float64),
            self.errors,
        )


def parse_series_lines(
    text: str, precision: str = "ns", now_us: int | None = None, max_points: int | None = None
) -> SeriesLines:
    """Parse any line protocol into one reading per numeric field, named by its series.

    Unlike :func:`parse_lines` nothing is asked of the tag set: the measurement, every tag and the field
    name together say which signal a value belongs to (the way InfluxDB keys its series). A text field is
    refused with its line number (the store keeps numbers); booleans read as 1 and 0.

    A body without escapes, quotes or a single bad line (what gateways send) is read column by column
    (:func:`_plain_series_lines`); any other body line by line, which names each bad line. Both read the same.

    >>> parsed = parse_series_lines('cpu,host=press-01,cpu=cpu-total usage_idle=97.5,usage_user=1i 1700000000')
    >>> [(line, series, value) for line, series, _ts, value in parsed.readings()]
    [(1, 'cpu,cpu=cpu-total,host=press-01 usage_idle', 97.5), (1, 'cpu,cpu=cpu-total,host=press-01 usage_user', 1.0)]
    >>> parse_series_lines('weather,site=2\\\\ 공장 temp=21.5').names
    ['weather,site=2\\\\ 공장 temp']
    >>> [(e.line, e.code) for e in parse_series_lines('m v=1\\nm s="up 3 days"\\nm v=x').errors]
    [(2, 'text_field'), (3, 'not_a_number')]
    """
    now_us = now_us if now_us is not None else int(time.time() * 1e6)
    if (plain := _plain_series_lines(text, precision, now_us, max_points)) is not None:
        return plain
    parse = lambda n, line, out: _parse_series_line(n, line, precision, now_us, out)  # noqa: E731
    return _each_line(text, max_points, _SeriesRows(), parse).columns()


_NUMBER_CHARACTERS = b"0123456789.eE+-"
_BOOL_TEXT = {key: str(int(value)) for key, value in _BOOL.items()}


def _plain_series_lines(text: str, precision: str, now_us: int, max_points: int | None) -> SeriesLines | None:
    """The fast reading of a plain body, or ``None`` for :func:`parse_series_lines` to read it line by line.

    Plain: no backslash or quote anywhere, and every line ``measurement[,k=v…] k=v[,k=v…] [timestamp]`` with
    numbers only. Each line costs a few string splits; a machine's field list, seen again on its next line, is
    one dictionary lookup; all values are converted at once by Arrow. A body over ``max_points`` raises
    :class:`TooManyPoints` as the line reader does.

    >>> plain = _plain_series_lines('m,b=2,a=1 x=1,y=2i 5\\nm,a=1,b=2 x=3 6', 's', 0, None)
    >>> plain.names, plain.series.tolist(), plain.ts_us.tolist(), plain.value.tolist()
    (['m,a=1,b=2 x', 'm,a=1,b=2 y'], [0, 1, 0], [5000000, 5000000, 6000000], [1.0, 2.0, 3.0])
    >>> _plain_series_lines('m x="on"', 's', 0, None) is None
    True
    """
    if "\\" in text or '"' in text:
        return None
    times, divided_by = _MULTIPLY[precision]
    names: dict[str, int] = {}
    prefixes: dict[str, str] = {}
    layouts: dict[tuple[str, str], NDArray[np.int64]] = {}  # (measurement and tags, field names) → series
    series: list[NDArray[np.int64]] = []
    values: list[str] = []
    numbers: list[int] = []
    stamps: list[int] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, _sep, rest = line.partition(" ")
        fields, _sep, stamp = rest.partition(" ")
        items = fields.replace("=", ",").split(",")
        count = len(items) // 2
        if len(items) != 2 * (fields.count(",") + 1) or count > MAX_FIELDS_PER_LINE or " " in stamp:
            return None
        prefix = prefixes.get(head)
        if prefix is None and (prefix := _plain_prefix(head)) is None:
            return None
        prefixes[head] = prefix
        keys = items[0::2]
        layout = layouts.get((prefix, fields_key := ",".join(keys)))
        if layout is None:
            if not all(keys) or len(prefix) + 1 + max(map(len, keys)) > MAX_SERIES_CHARS:
                return None
            layout = np.array([names.setdefault(f"{prefix} {k}", len(names)) for k in keys], dtype=np.int64)
            layouts[(prefix, fields_key)] = layout
        if stamp:
            if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 19):
                return None
            ts_us = int(stamp) * times // divided_by
        else:
            ts_us = now_us
        series.append(layout)
        values += items[1::2]
        numbers.append(number)
        stamps.append(ts_us)
        if max_points is not None and (len(values) > max_points or len(numbers) > max_points):
            raise TooManyPoints(max_points)
    parsed = _plain_numbers(values)
    if parsed is None or (numbers and max(stamps) > INT64_MAX):
        return None
    counts = np.array([len(s) for s in series], dtype=np.int64)
    return SeriesLines(
        list(names),
        np.concatenate(series) if series else np.empty(0, dtype=np.int64),
        np.repeat(np.array(numbers, dtype=np.int64), counts),
        np.repeat(np.array(stamps, dtype=np.int64), counts),
        parsed,
    )


def _plain_prefix(head: str) -> str | None:
    """``measurement,tags`` with the tags sorted by key; ``None`` when a tag lacks its key or value."""
    measurement, *tags = head.split(",")
    pairs = [tag.partition("=") for tag in tags]
    if not measurement or any(not key or not sep or not value or "=" in value for key, sep, value in pairs):
        return None
    return ",".join([measurement, *(f"{k}={v}" for k, _s, v in sorted(pairs, key=lambda p: p[0]))])


def _only_number_characters(values: list[str]) -> bool:
    """Whether the values use digits, ``.``, ``e``, ``E``, ``+`` and ``-`` only (bytes: one pass in C)."""
    try:
        return not "".join(values).encode("ascii").translate(None, _NUMBER_CHARACTERS)
    except UnicodeEncodeError:
        return False


def _plain_numbers(values: list[str]) -> NDArray[np.float64] | None:
    """Float, integer (``12i``, ``7u``) and boolean field values as float64, or ``None`` if any is not one."""
    if not _only_number_characters(values):  # a letter somewhere: integers and booleans, or text
        values = [_BOOL_TEXT.get(v) or (v[:-1] if v[-1:] in ("i", "u") and _INTEGER.fullmatch(v) else v)
                  for v in values]  # fmt: skip
        if not _only_number_characters(values):
            return None
    try:
        return np.asarray(pa.array(values, pa.string()).cast(pa.float64()), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _parse_series_line(number: int, line: str, precision: str, now_us: int, out: _SeriesRows) -> None:
    sections = split_line(line)
    if sections is None:
        message = N_("The line has more than {limit} fields.")
        out.errors.append(_error(number, "too_many_fields", line, message, limit=str(MAX_FIELDS_PER_LINE)))
        return
    if len(sections) not in (2, 3) or not sections[0][0]:
        out.errors.append(_error(number, "malformed_line", line))
        return
    tags = [_split_pair(item) for item in sections[0][1:]]
    if any(not key or not value for key, value in tags):
        out.errors.append(_error(number, "malformed_line", line))
        return
    ts_us = _timestamp(sections[2], precision) if len(sections) == 3 else now_us
    if ts_us is None:
        message = N_("The timestamp '{value}' is not a whole number in range.")
        out.errors.append(_error(number, "bad_timestamp", line, message, value=_clip(",".join(sections[2]))))
        return
    prefix = ",".join([sections[0][0], *(f"{k}={v}" for k, v in sorted(tags, key=lambda kv: _unescape(kv[0])))])
    for key, raw in (_split_pair(item) for item in sections[1]):
        series = f"{prefix} {key}"
        if not key or not raw:
            out.errors.append(_error(number, "malformed_line", line))
        elif len(series) > MAX_SERIES_CHARS:
            out.errors.append(_error(number, "series_too_long", line))
        elif raw.startswith('"'):
            message = N_("Field '{field}' holds text; Smart365 stores numbers only.")
            out.errors.append(_error(number, "text_field", line, message, field=_clip(_unescape(key))))
        elif (value := _number(raw)) is None:
            message = N_("Field '{field}' is not a number: {value}")
            out.errors.append(_error(number, "not_a_number", line, message, field=_clip(key), value=_clip(raw)))
        else:
            out.readings.append((number, series, ts_us, value))


def _split_pair(item: str) -> tuple[str, str]:
    """``key=value`` cut at the first ``=`` that is not escaped; both parts stay escaped."""
    at = 0
    while (at := item.find("=", at)) > 0 and item[at - 1] == "\\":
        at += 1
    return (item[:at], item[at + 1 :]) if at > 0 else (item, "")


_UNESCAPE = re.compile(r"\\([ ,=\"\\])")


def _unescape(text: str) -> str:
    """A measurement, tag or field name as written before line protocol escaped it.

    >>> _unescape('host\\\\ name\\\\,x')
    'host name,x'
    """
    return _UNESCAPE.sub(r"\1", text)


def series_parts(series: str) -> tuple[str, dict[str, str], str]:
    """A canonical series name taken apart: measurement, tags and field, unescaped.

    >>> series_parts('cpu,host=press-01,region=2\\\\ 공장 usage_idle')
    ('cpu', {'host': 'press-01', 'region': '2 공장'}, 'usage_idle')
    """
    sections = split_line(series) or [[series]]
    head, field_name = sections[0], sections[-1][0] if len(sections) > 1 else ""
    tags = dict(_split_pair(item) for item in head[1:])
    return _unescape(head[0]), {_unescape(k): _unescape(v) for k, v in tags.items()}, _unescape(field_name)
