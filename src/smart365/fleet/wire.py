"""What crosses the WAN: subjects scoped to a firm and plant, and the compact JSON messages on them.

A subject is ``s365.<business registration number>.<plant>.<kind>``. The centre takes the firm and plant from
the subject, which the hub's permissions vouch for, never from the payload.

>>> subject("1018600011", "plant-1", "rollup.1m")
's365.1018600011.plant-1.rollup.1m'
>>> address("s365.1018600011.plant-1.rollup.1m")
Address(brn='1018600011', plant='plant-1', kind='rollup.1m')
>>> decode_rollups(b'{"rows": [[7, 1765065600, 6, 2.5, 1.0, 4.0]]}')
[(7, 1765065600, 6, 2.5, 1.0, 4.0)]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ROOT = "s365"
HUB_STREAM = "S365_FLEET"  # the hub's JetStream stream of every firm's subjects
OUTBOX = "outbox"  # the plant's local subjects: ``outbox.<hub subject>``, never forwarded as they are
KINDS = ("rollup.1m", "rollup.1h", "tags", "alarms", "oee", "models", "evidence")
ROLLUP_KINDS = {"rollup.1m": 60, "rollup.1h": 3600}
ROWS_PER_MESSAGE = 1000  # 1,000 rollup rows are ~50 kB of JSON, well under NATS's 1 MB payload limit
_BRN = re.compile(r"^\d{10}$")
_PLANT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

#: (tag id, bucket start in epoch seconds, points, mean, min, max)
RollupRow = tuple[int, int, int, float, float, float]


class BadMessage(ValueError):
    """A message the centre cannot take, with the reason (it goes to the dead letters, never lost)."""


@dataclass(frozen=True)
class Address:
    brn: str
    plant: str
    kind: str


def plant_token(installation: str) -> str:
    """An installation id as a subject token (``.`` separates tokens in NATS).

    >>> plant_token("hanbit.main")
    'hanbit_main'
    """
    token = installation.replace(".", "_")
    if not _PLANT.match(token):
        raise ValueError(f"plant id {installation!r}: 1-32 of A-Z a-z 0-9 _ - .")
    return token


def subject(brn: str, plant: str, kind: str) -> str:
    """The hub subject for ``kind`` of one firm's plant."""
    if not _BRN.match(brn):
        raise ValueError(f"business registration number {brn!r}: 10 digits")
    if not _PLANT.match(plant) or kind not in KINDS:
        raise ValueError(f"plant {plant!r} or kind {kind!r}")
    return f"{ROOT}.{brn}.{plant}.{kind}"


def firm_subjects(brn: str) -> str:
    """Every subject a firm may publish on (its NATS permission).

    >>> firm_subjects("1018600011")
    's365.1018600011.>'
    """
    return f"{ROOT}.{brn}.>"


def address(hub_subject: str) -> Address:
    """The firm, plant and kind a hub subject names."""
    parts = hub_subject.split(".", 3)
    if len(parts) != 4 or parts[0] != ROOT or not _BRN.match(parts[1]) or not _PLANT.match(parts[2]):
        raise BadMessage(f"subject {hub_subject!r} is not s365.<brn>.<plant>.<kind>")
    if parts[3] not in KINDS:
        raise BadMessage(f"unknown kind {parts[3]!r} (known: {', '.join(KINDS)})")
    return Address(parts[1], parts[2], parts[3])


def encode(key: str, rows: Iterable[Sequence[Any]]) -> bytes:
    """One message body: ``{key: rows}`` as compact JSON (NaN is not JSON: rows never carry it)."""
    return json.dumps({key: [list(row) for row in rows]}, separators=(",", ":"), allow_nan=False).encode()


def _list(payload: bytes, key: str) -> list[Any]:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadMessage(f"not JSON: {exc}") from exc
    rows = body.get(key) if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise BadMessage(f"no {key!r} list")
    return rows


def _rows(payload: bytes, key: str, width: int) -> list[list[Any]]:
    rows = _list(payload, key)
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list) or len(row) != width:
            raise BadMessage(f"row {number}: {width} values expected")
    return rows


def _number(value: Any, row: int, name: str) -> float:
    try:
        finite = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise BadMessage(f"row {row}: {name} {value!r} is not a finite number")
    return float(value)


def _integer(value: Any, row: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadMessage(f"row {row}: {name} {value!r} is not an integer")
    return value


#: the six columns of a message's rollup rows: tag ids, bucket starts, points, means, minima, maxima
RollupColumns = tuple[list[int], list[int], list[int], list[float], list[float], list[float]]
_INTEGER, _NUMBER = {int}, {int, float}


def decode_rollup_columns(payload: bytes) -> RollupColumns:
    """Rollup rows of a message as columns, checked a column at a time (what the centre writes from).

    The same values as :func:`decode_rollups` and the same refusals: when a column does not pass, the
    message is checked row by row, so the first bad value is named.

    >>> decode_rollup_columns(b'{"rows": [[7, 1765065600, 6, 2, 1.0, 4.0], [8, 1765065600, 6, 0.5, 0, 1]]}')
    ([7, 8], [1765065600, 1765065600], [6, 6], [2.0, 0.5], [1.0, 0.0], [4.0, 1.0])
    >>> decode_rollup_columns(b'{"rows": [[7, 1765065600, 6, 2.5, 1.0, true]]}')
    Traceback (most recent call last):
    ...
    smart365.fleet.wire.BadMessage: row 1: max True is not a finite number
    """
    rows = _list(payload, "rows")
    if not rows:
        return [], [], [], [], [], []
    try:
        columns = list(zip(*rows, strict=True))
        passed = (
            len(columns) == 6  # a row of JSON that is no list (text, an object) has no int or float in it
            and all(set(map(type, column)) <= _INTEGER for column in columns[:3])
            and all(set(map(type, column)) <= _NUMBER for column in columns[3:])
            and all(math.isfinite(sum(column)) for column in columns[3:])  # NaN and ±inf spread through a sum
        )
    except (TypeError, ValueError, OverflowError):  # a row that is no list, rows of unequal lengths, a huge value
        passed = False
    if not passed:
        return _columns(decode_rollups(payload))
    tags, buckets, points, avg, vmin, vmax = columns
    return (list(tags), list(buckets), list(points), list(map(float, avg)), list(map(float, vmin)),
            list(map(float, vmax)))  # fmt: skip


def _columns(rows: list[RollupRow]) -> RollupColumns:
    if not rows:
        return [], [], [], [], [], []
    tags, buckets, points, avg, vmin, vmax = (list(column) for column in zip(*rows, strict=True))
    return tags, buckets, points, avg, vmin, vmax


def decode_rollups(payload: bytes) -> list[RollupRow]:
    """Rollup rows of a message, each value checked (the first bad one is named)."""
    out: list[RollupRow] = []
    for n, row in enumerate(_rows(payload, "rows", 6), 1):
        tag, bucket, points = (_integer(row[i], n, name) for i, name in enumerate(("tag", "bucket", "points")))
        avg, vmin, vmax = (_number(row[i], n, name) for i, name in ((3, "mean"), (4, "min"), (5, "max")))
        out.append((tag, bucket, points, avg, vmin, vmax))
    return out


#: Record kinds (all but rollups): each row's fields as (name, type). Types: ``int``; ``num`` (finite);
#: ``time`` (epoch seconds); ``text`` (at most 200 characters); ``long`` (at most 2,000); ``json`` (an object);
#: a ``?`` after the type allows null. The centre keeps one row per key, the latest by ``as of``.
RECORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "tags": (("tag", "int"), ("name", "text"), ("label", "text"), ("unit", "text?"), ("equipment", "text")),
    "alarms": (
        ("alarm", "int"),
        ("tag", "int"),
        ("equipment", "text"),
        ("severity", "text"),
        ("condition", "text"),
        ("raised", "time"),
        ("cleared", "time?"),
        ("acknowledged", "time?"),
        ("as of", "time"),
    ),
    "oee": (
        ("machine", "int"),
        ("shift start", "time"),
        ("equipment", "text"),
        ("shift", "text"),
        ("availability", "num?"),
        ("performance", "num?"),
        ("quality", "num?"),
        ("oee", "num?"),
        ("parts", "num"),
        ("good", "num"),
        ("planned s", "num"),
        ("run s", "num"),
        ("as of", "time"),
    ),
    "models": (
        ("model", "int"),
        ("equipment", "text"),
        ("name", "text"),
        ("kind", "text"),
        ("version", "int"),
        ("status", "text"),
        ("deployed", "time?"),
        ("as of", "time"),
    ),
    "evidence": (("item", "text"), ("stage", "int?"), ("detail", "long"), ("params", "json"), ("as of", "time")),
}
_LIMITS = {"text": 200, "long": 2000}


def _value(value: Any, kind: str, row: int, name: str) -> Any:
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    if kind == "int":
        return _integer(value, row, name)
    if kind in ("num", "time"):
        return _number(value, row, name)
    if kind == "json":
        if not isinstance(value, dict):
            raise BadMessage(f"row {row}: {name} {value!r} is not an object")
        return value
    if isinstance(value, str) and len(value) <= _LIMITS[kind]:
        return value
    raise BadMessage(f"row {row}: {name} {value!r} is not text of at most {_LIMITS[kind]} characters")


def decode_records(kind: str, payload: bytes) -> list[tuple[Any, ...]]:
    """The rows of a record message, each value checked against :data:`RECORDS` (the first bad one named).

    >>> decode_records("tags", '{"tags": [[7, "spindle_load", "주축 부하", "%", "MCT-01"]]}'.encode())
    [(7, 'spindle_load', '주축 부하', '%', 'MCT-01')]
    >>> decode_records("tags", b'{"tags": [[7, "spindle_load", null, "%", "MCT-01"]]}')
    Traceback (most recent call last):
    smart365.fleet.wire.BadMessage: row 1: label None is not text of at most 200 characters
    """
    fields = RECORDS[kind]
    return [
        tuple(_value(value, type_, n, name) for value, (name, type_) in zip(row, fields, strict=True))
        for n, row in enumerate(_rows(payload, kind, len(fields)), 1)
    ]
