"""InfluxDB line protocol, the lingua franca of small data loggers and gateways.

``measurement[,tag=value...] field=value[,field=value...] [timestamp]``. Smart365 reads one machine per
line: the tag set must carry ``equipment_id`` and each numeric field is one of that machine's tags (by
name). Integers (``12i``), floats and booleans are read; strings are rejected with the line number.

>>> lines = parse_lines('mct,equipment_id=3 spindle_load=55.5,part_count=120i 1700000000000000000')
>>> lines.readings, lines.errors
([(1, 3, 'spindle_load', 1700000000000000, 55.5), (1, 3, 'part_count', 1700000000000000, 120.0)], [])
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from smart365.core.i18n import N_

PRECISION_TO_US = {"ns": 1e-3, "us": 1, "ms": 1e3, "s": 1e6}
_SPLIT_SPACE = re.compile(r'(?<!\\) (?=(?:[^"]*"[^"]*")*[^"]*$)')
_SPLIT_COMMA = re.compile(r'(?<!\\),(?=(?:[^"]*"[^"]*")*[^"]*$)')
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


@dataclass
class ParsedLines:
    """Readings ``(line, equipment_id, tag name, ts µs, value)`` and errors ``(line, msgid, params)``."""

    readings: list[tuple[int, int, str, int, float]] = field(default_factory=list)
    errors: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)


def parse_lines(text: str, precision: str = "ns", now_us: int | None = None) -> ParsedLines:
    """Parse a body of line protocol; a bad line is reported by number and the rest still read."""
    scale = PRECISION_TO_US[precision]
    now_us = now_us if now_us is not None else int(time.time() * 1e6)
    parsed = ParsedLines()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            _parse_line(number, line.strip(), scale, now_us, parsed)
    return parsed


def _parse_line(number: int, line: str, scale: float, now_us: int, out: ParsedLines) -> None:
    parts = _SPLIT_SPACE.split(line)
    if len(parts) not in (2, 3):
        out.errors.append((number, N_("Expected 'measurement,tags fields [timestamp]'."), {}))
        return
    tags = dict(_pair(item) for item in _SPLIT_COMMA.split(parts[0])[1:])
    if not tags.get("equipment_id", "").isdigit():
        out.errors.append((number, N_("The tag set needs equipment_id=<number>."), {}))
        return
    try:
        ts_us = int(int(parts[2]) * scale) if len(parts) == 3 else now_us
    except ValueError:
        out.errors.append((number, N_("The timestamp '{value}' is not an integer."), {"value": parts[2]}))
        return
    for key, raw in (_pair(item) for item in _SPLIT_COMMA.split(parts[1])):
        value = _number(raw)
        if value is None:
            out.errors.append((number, N_("Field '{field}' is not a number: {value}"), {"field": key, "value": raw}))
        else:
            out.readings.append((number, int(tags["equipment_id"]), key, ts_us, value))


def _pair(item: str) -> tuple[str, str]:
    key, _sep, value = item.partition("=")
    return key.replace("\\", ""), value


def _number(raw: str) -> float | None:
    if raw in _BOOL:
        return _BOOL[raw]
    try:
        return float(raw[:-1]) if raw.endswith(("i", "u")) else float(raw)
    except ValueError:
        return None
