"""Where a machine's data comes from: registry rows (protocol, endpoint, tag address) → connector configs.

The registry says how each machine is connected (``Equipment.protocol``, ``Equipment.endpoint``) and where
each tag is read (``Tag.address``). One connector serves all tags behind one endpoint. The conventions:

==========  ===============================  ==========================================================================
protocol    machine endpoint                 tag address
==========  ===============================  ==========================================================================
opcua       ``opc.tcp://host:4840/path``     node id: ``ns=2;s=Plant/가공라인/MCT-01/SpindleLoad``
            (``?security=Basic256Sha256``
            ``&mode=Sign`` secures it)
modbus      ``modbus://host:502/1`` (unit)   ``table:address[:type][:option=value…]``: ``holding:0:uint16:scale=0.1``
mqtt        ``mqtt://host:1883``             ``topic#json.path``: ``smart365/ansan/injection/IMM-01#values.x``
sparkplug   ``mqtt://host:1883/group``       ``edge/device/metric``: ``hanbit-ansan/IMM-01/mould_temp``
==========  ===============================  ==========================================================================

Modbus tables are ``holding`` (FC 3), ``input`` (FC 4), ``coil`` (FC 1) and ``discrete`` (FC 2); types
``int16``, ``uint16`` (default), ``int32``, ``uint32``, ``float32``, ``int64``, ``uint64``, ``float64``, ``bool``.
Options after the type: ``word=big|little`` (CDAB devices send the low word first), ``byte=big|little``
(``swap`` means ``little``: BADC devices swap the bytes of each register), ``scale=`` and ``offset=``
(``value = raw * scale + offset``): ``holding:0:uint16:scale=0.1`` stores 174.1 t for the register 1741.

A row that breaks its convention is reported with the tag and the reason, and the other tags still run;
:func:`refuse_unreadable_sources` refuses such a row when it is written (a 422 naming the tag and the
rule), so the registry never holds a source its connector cannot read.

>>> configs, problems = connector_configs([
...     SourceRow("modbus", "modbus://127.0.0.1:5020/1", 7, "holding:10:float32:big"),
...     SourceRow("modbus", "modbus://127.0.0.1:5020/1", 8, "coil:x"),
... ])
>>> configs[0].kind, configs[0].config["tags"], problems[0].tag_id
('modbus', [{'tag_id': 7, 'table': 'holding', 'address': 10, 'dtype': 'float32', 'word_order': 'big'}], 8)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from smart365.core.errors import AppError
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.redact import redact_url
from smart365.registry.models import Equipment, Tag
from smart365.telemetry.connectors import create


class SourceRow(NamedTuple):
    """One tag as the registry describes its source."""

    protocol: str
    endpoint: str
    tag_id: int
    address: str


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector to start: its kind, a name for people, and its config (validated when created)."""

    kind: str
    name: str
    config: dict[str, Any]


@dataclass(frozen=True)
class SourceProblem:
    """A source its connector cannot read: the tag, why (a msgid) and the msgid's fields."""

    tag_id: int
    message: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceIdentity:
    """Who collects: the installation (part of every MQTT client id, so two installations on one broker never
    share one) and the Sparkplug primary host id its Sparkplug connectors announce (``None``: listen only)."""

    installation: str = ""
    sparkplug_host_id: str | None = None
    opcua_pki: str | None = None  # the installation's OPC UA certificates and trust list (<data_dir>/opcua)


class _BadAddress(ValueError):
    pass


_MODBUS_FORMAT = N_(
    "A Modbus address reads table:address[:type][:option=value…], e.g. holding:10:float32:word=little:scale=0.1."
)
_ORDERS = {"big": "big", "little": "little", "swap": "little"}


def _modbus_tag(tag_id: int, address: str) -> dict[str, Any]:
    """A Modbus tag entry from ``table:address[:type][:word order][:key=value…]``.

    Options: ``word`` and ``byte`` (``big``, or ``little``/``swap``: low word or byte first), ``scale`` and
    ``offset`` (``value = raw * scale + offset``). The fourth part may still be a bare word order.

    >>> _modbus_tag(1, "input:30:uint32:word=little:byte=swap:scale=0.1:offset=-40")
    {'tag_id': 1, 'table': 'input', 'address': 30, 'dtype': 'uint32', 'word_order': 'little', \
'byte_order': 'little', 'scale': 0.1, 'offset': -40.0}
    >>> _modbus_tag(1, "holding:0:uint16:gain=2")
    Traceback (most recent call last):
    ...
    smart365.telemetry.sources._BadAddress: ("The Modbus address option '{option}' is unknown: \
use word, byte, scale or offset.", {'option': 'gain'})
    """
    parts = address.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        raise _BadAddress(_MODBUS_FORMAT)
    tag: dict[str, Any] = {"tag_id": tag_id, "table": parts[0], "address": int(parts[1])}
    positional = [p for p in parts[2:] if "=" not in p]
    options = [p for p in parts[2:] if "=" in p]
    if len(positional) > 2 or parts[2 : 2 + len(positional)] != positional:
        raise _BadAddress(_MODBUS_FORMAT)  # type and word order come first, options after them
    if positional:
        tag["dtype"] = positional[0]
    if len(positional) > 1:
        tag["word_order"] = _order(positional[1])
    seen: set[str] = set()
    for option in options:
        key, _, value = option.partition("=")
        if key in seen:
            raise _BadAddress(N_("The Modbus address option '{option}' is given twice."), {"option": key})
        seen.add(key)
        if key in ("word", "byte"):
            tag[f"{key}_order"] = _order(value)
        elif key in ("scale", "offset"):
            tag[key] = _finite(value)
        else:
            raise _BadAddress(
                N_("The Modbus address option '{option}' is unknown: use word, byte, scale or offset."),
                {"option": key},
            )
    return tag


def _order(value: str) -> str:
    if value not in _ORDERS:
        raise _BadAddress(N_("A Modbus word or byte order is big or little (swap), not '{value}'."), {"value": value})
    return _ORDERS[value]


def _finite(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _BadAddress(N_("A Modbus scale or offset is a finite number, not '{value}'."), {"value": value})
    return number


def _mqtt_tag(tag_id: int, address: str) -> dict[str, Any]:
    topic, sep, path = address.partition("#")
    if not sep or not topic or not path:
        raise _BadAddress(N_("An MQTT address reads topic#json.path."))
    return {"tag_id": tag_id, "topic": topic, "path": path}


def sparkplug_node(address: str) -> tuple[str, str | None] | None:
    """The (edge node, device or ``None``) a Sparkplug tag address reads from; ``None`` when it is unreadable.

    >>> sparkplug_node("hanbit-ansan/IMM-01/mould_temp"), sparkplug_node("hanbit-ansan/uptime")
    (('hanbit-ansan', 'IMM-01'), ('hanbit-ansan', None))
    """
    try:
        tag = _sparkplug_tag(0, address)
    except _BadAddress:
        return None
    return tag["edge"], tag["device"]


def _sparkplug_tag(tag_id: int, address: str) -> dict[str, Any]:
    parts = address.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise _BadAddress(N_("A Sparkplug address reads edge/device/metric (or edge/metric for the node)."))
    edge, device, metric = (parts[0], None, parts[1]) if len(parts) == 2 else parts
    return {"tag_id": tag_id, "edge": edge, "device": device, "metric": metric}


def connector_name(protocol: str, endpoint: str | None) -> str:
    """How a connector is named in health, metrics and logs: protocol and address, its password masked.

    >>> connector_name("opcua", "opc.tcp://op:s3cret@plc:4840")
    'opcua opc.tcp://op:****@plc:4840'
    """
    return f"{protocol} {redact_url(endpoint)}"


def client_id(endpoint: str, installation: str = "") -> str:
    """The MQTT client id of the connector for ``endpoint`` in this installation: stable across restarts (the
    MQTT connector's persistent session lives under it), different between installations, 23 characters (the
    most every MQTT 3.1.1 broker must accept).

    >>> a, b = client_id("mqtt://broker:1883", "plant-a"), client_id("mqtt://broker:1883", "plant-b")
    >>> a != b and a == client_id("mqtt://broker:1883", "plant-a") and len(a)
    23
    """
    return "smart365-" + hashlib.sha1(f"{installation}|{endpoint}".encode()).hexdigest()[:14]


def opcua_session(url: SplitResult, identity: SourceIdentity) -> dict[str, Any]:
    """An OPC UA endpoint's session settings: ``?security=Basic256Sha256&mode=Sign`` (``SignAndEncrypt`` when no
    mode is given) asks for a secured session, a login rides in the URL (``opc.tcp://user:password@host…``).

    >>> opcua_session(urlsplit("opc.tcp://plc:4840/ua?security=Basic256Sha256"), SourceIdentity("p1", None, "/pki"))
    {'endpoint': 'opc.tcp://plc:4840/ua', 'security': 'Basic256Sha256', 'mode': 'SignAndEncrypt', \
'pki_dir': '/pki', 'installation': 'p1'}
    """
    options = dict(parse_qsl(url.query))
    session: dict[str, Any] = {"endpoint": urlunsplit(url._replace(query="", fragment=""))}
    if unknown := set(options) - {"security", "mode"}:
        raise _BadAddress(N_("An OPC UA endpoint takes only ?security= and &mode=, not {option}."),
                          {"option": ", ".join(sorted(unknown))})  # fmt: skip
    if options:
        session |= {"security": options.get("security", "None"), "mode": options.get("mode", "SignAndEncrypt")}
        session |= {"pki_dir": identity.opcua_pki, "installation": identity.installation}
    return session


def _base_config(protocol: str, endpoint: str, identity: SourceIdentity | None = None) -> dict[str, Any]:
    """The connector settings implied by a machine endpoint (and who collects it)."""
    identity = identity or SourceIdentity()
    url = urlsplit(endpoint)
    if protocol == "opcua":
        return opcua_session(url, identity)
    if protocol == "modbus" and url.hostname:
        unit = url.path.strip("/") or "1"
        return {"host": url.hostname, "port": url.port or 502, "device_id": int(unit)}
    if protocol == "mqtt" and url.hostname:
        return {"host": url.hostname, "port": url.port or 1883, "client_id": client_id(endpoint, identity.installation)}
    if protocol == "sparkplug" and url.hostname and url.path.strip("/"):
        group = url.path.strip("/")
        mqtt = client_id(endpoint, identity.installation)
        config = {"host": url.hostname, "port": url.port or 1883, "client_id": mqtt, "group": group}
        return config | ({"host_id": identity.sparkplug_host_id} if identity.sparkplug_host_id else {})
    raise _BadAddress(N_("The machine's endpoint does not fit its protocol."))


_TAG_BUILDERS = {
    "opcua": lambda tag_id, address: {"tag_id": tag_id, "node_id": address},
    "modbus": _modbus_tag,
    "mqtt": _mqtt_tag,
    "sparkplug": _sparkplug_tag,
}


def connector_configs(
    rows: Iterable[SourceRow], identity: SourceIdentity | None = None
) -> tuple[list[ConnectorSpec], list[SourceProblem]]:
    """Group source rows into one connector config per (protocol, endpoint); report the rows that break rules
    (each row is checked as its connector would read it, so one bad row never stops its neighbours)."""
    configs: dict[tuple[str, str], ConnectorSpec] = {}
    problems: list[SourceProblem] = []
    for row in rows:
        try:
            base, tag = _readable(row, identity)
        except _BadAddress as exc:
            problems.append(SourceProblem(row.tag_id, *exc.args))
            continue
        key = (row.protocol, row.endpoint)
        if key not in configs:
            configs[key] = ConnectorSpec(row.protocol, connector_name(row.protocol, row.endpoint), base | {"tags": []})
        configs[key].config["tags"].append(tag)
    return list(configs.values()), problems


def _readable(row: SourceRow, identity: SourceIdentity | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The connector settings and tag entry of ``row``, checked by building (not starting) its connector."""
    base = _base_config(row.protocol, row.endpoint, identity)
    tag = _TAG_BUILDERS[row.protocol](row.tag_id, row.address)
    try:
        create(row.protocol, base | {"tags": [tag]}, emit=_never)
    except Exception as exc:  # the connector's own check: a pydantic field, a node id it cannot parse
        detail = exc.english() if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
        raise _BadAddress(N_("The connector cannot read this source: {detail}"), {"detail": detail}) from exc
    return base, tag


async def _never(_batch: Any) -> None:
    raise AssertionError("a connector built for checking never runs")


def check_source(protocol: str, endpoint: str | None, address: str | None) -> SourceProblem | None:
    """Why the connector of ``protocol`` cannot read this source, or ``None`` when it can or when the source is
    not connected (no connector protocol or no endpoint; without an address only the endpoint is checked).

    >>> check_source("modbus", "modbus://plc:502/1", "holding:10:float32:big") is None
    True
    >>> check_source("modbus", "modbus://plc:502/1", "holding:ten").message
    'A Modbus address reads table:address[:type][:option=value…], e.g. holding:10:float32:word=little:scale=0.1.'
    >>> check_source("modbus", "modbus://plc:502/1", "holding:10:int16:scale=x").params
    {'value': 'x'}
    >>> check_source("modbus", "modbus://plc:502/1", "register:10").params["detail"][:40]
    "Invalid connector configuration at 'tags"
    """
    if protocol not in _TAG_BUILDERS or not endpoint:
        return None
    try:
        if address:
            _readable(SourceRow(protocol, endpoint, 0, address))
        else:
            _base_config(protocol, endpoint)
    except _BadAddress as exc:
        return SourceProblem(0, *exc.args)
    return None


class UnreadableSource(AppError):
    """A machine endpoint or tag address its connector cannot read, refused when it is written."""

    status = 422
    code = "unreadable_source"
    default_message = N_("{what} '{name}': {reason}")

    def __init__(self, what: str, name: str, problem: SourceProblem) -> None:
        self.problem = problem
        super().__init__(what=what, name=name, reason=problem.message)

    def localized(self) -> str:
        return self._text(gettext)

    def english(self) -> str:
        return self._text(lambda msgid: translate_in("en", msgid))

    def _text(self, translate: Callable[[str], str]) -> str:
        reason = translate(self.problem.message).format(**self.problem.params)
        what, name = translate(self.params["what"]), self.params["name"]
        return translate(self.message).format(what=what, name=name, reason=reason)


def _refuse_unreadable(session: Session, _context: Any, _instances: Any) -> None:
    """``before_flush``: check every machine and tag about to be written (see :func:`refuse_unreadable_sources`)."""
    for row in [*session.new, *session.dirty]:
        if isinstance(row, Tag) and row.address:
            machine = row.equipment or (session.get(Equipment, row.equipment_id) if row.equipment_id else None)
            if machine is not None:
                _refuse(N_("Tag"), row.name, check_source(machine.protocol or "", machine.endpoint, row.address))
        elif isinstance(row, Equipment):
            tags = [t.address for t in row.tags if t.address] if row.id else []
            checks = (check_source(row.protocol or "", row.endpoint, address) for address in [*tags, None])
            _refuse(N_("Machine"), row.name, next(filter(None, checks), None))


def _refuse(what: str, name: str, problem: SourceProblem | None) -> None:
    if problem is not None:
        raise UnreadableSource(what, name, problem)


def refuse_unreadable_sources() -> None:
    """From now on, refuse (422) every write of a machine endpoint or tag address its connector cannot read,
    whichever path writes it (API, page, import): one bad address once made the server fail to start."""
    if not event.contains(Session, "before_flush", _refuse_unreadable):
        event.listen(Session, "before_flush", _refuse_unreadable)


def registry_sources(session: Session) -> list[SourceRow]:
    """Every tag in the session's scope whose machine has a connector protocol, an endpoint and an address."""
    query = (
        select(Equipment.protocol, Equipment.endpoint, Tag.id, Tag.address)
        .join(Tag, Tag.equipment_id == Equipment.id)
        .where(Equipment.protocol.in_(_TAG_BUILDERS), Equipment.endpoint.is_not(None), Tag.address.is_not(None))
        .order_by(Tag.id)
    )
    return [
        SourceRow(protocol, endpoint, tag_id, address)
        for protocol, endpoint, tag_id, address in session.execute(query)
        if endpoint and address
    ]
