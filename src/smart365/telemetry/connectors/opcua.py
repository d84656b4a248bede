"""OPC UA connector (asyncua): browse for tag suggestions, subscribe to data changes with an absolute deadband.

:func:`browse` walks the server's Objects folder and offers every variable as a :class:`TagSuggestion`
(node id, browse path, data type, engineering unit). :class:`OpcUaConnector` subscribes (no polling) to the
mapped nodes; a tag's ``deadband`` is asked of the server as a DataChangeFilter and, where the server refuses
it, applied on the client. Anonymous or username/password sessions, unsecured or secured with Basic256Sha256
(``Sign`` or ``SignAndEncrypt``, the installation's certificate and trust list: :mod:`~smart365.telemetry.opcua_pki`);
reconnects are the base's job.

>>> passes_deadband(None, 1.0, 0.5), passes_deadband(1.0, 1.3, 0.5), passes_deadband(1.0, 1.6, 0.5)
(True, False, True)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from smart365.core.lazy import lazy
from smart365.telemetry.batch import QUALITY_BAD, QUALITY_GOOD, QUALITY_UNCERTAIN, Batch
from smart365.telemetry.connectors.base import Connector, ConnectorConfig, TagPoint

if TYPE_CHECKING:
    import asyncua
    from asyncua import Client, Node, ua
    from asyncua.crypto import security_policies
else:  # asyncua (about 25 MB) loads with the first OPC UA machine, not with every process
    asyncua, ua = lazy("asyncua"), lazy("asyncua.ua")
    security_policies = lazy("asyncua.crypto.security_policies")


class OpcUaTag(TagPoint):
    """A variable node and the smallest change worth reporting (engineering units of the raw value)."""

    node_id: str = Field(min_length=1)
    deadband: float = Field(default=0.0, ge=0)


class OpcUaConfig(ConnectorConfig):
    """Endpoint, login and the node → tag mapping."""

    endpoint: str = Field(pattern=r"^opc\.tcp://")
    username: str | None = None
    password: str | None = None
    publishing_interval_ms: float = Field(default=500, gt=0)
    timeout_s: float = Field(default=4.0, gt=0)
    security: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    pki_dir: str | None = None  # the installation's certificates (<data_dir>/opcua); needed when secured
    installation: str = ""  # part of this client's application URI
    tags: list[OpcUaTag] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class TagSuggestion:
    """A variable found by :func:`browse`, offered to the user as a tag."""

    node_id: str
    browse_path: str
    data_type: str
    unit: str
    low: float | None = None  # the variable's EURange, where it has one (an AnalogItemType)
    high: float | None = None


def passes_deadband(last: float | None, value: float, deadband: float) -> bool:
    """Whether ``value`` differs from the last reported one by more than ``deadband`` (the first always does)."""
    return last is None or deadband <= 0 or abs(value - last) > deadband


def quality_of(status: ua.StatusCode | None) -> int:
    """OPC DA quality (192 good, 64 uncertain, 0 bad) of an OPC UA status code.

    >>> quality_of(ua.StatusCode(ua.StatusCodes.Good)), quality_of(ua.StatusCode(ua.StatusCodes.BadNoData))
    (192, 0)
    """
    if status is None or status.is_good():
        return QUALITY_GOOD
    return QUALITY_UNCERTAIN if status.is_uncertain() else QUALITY_BAD


async def _client(cfg: OpcUaConfig) -> Client:
    """A client for ``cfg``'s endpoint and login, secured when ``cfg.security`` asks (not connected yet)."""
    client = asyncua.Client(cfg.endpoint, timeout=cfg.timeout_s)
    if cfg.username:
        client.set_user(cfg.username)
        client.set_password(cfg.password or "")
    if cfg.security == "Basic256Sha256":
        from smart365.telemetry.opcua_pki import Pki  # only secured sessions load the certificate machinery

        mode = getattr(ua.MessageSecurityMode, cfg.mode)
        await Pki(Path(cfg.pki_dir or ".smart365/opcua")).secure(
            client, cfg.installation, security_policies.SecurityPolicyBasic256Sha256, mode
        )
    return client


async def browse(endpoint: str, max_depth: int = 10, **login: Any) -> list[TagSuggestion]:
    """Every variable under the Objects folder (the Server object skipped), with its browse path; ``login`` takes
    the session fields of :class:`OpcUaConfig` (``username``, ``password``, ``security``, ``mode``, ``pki_dir``…).

    Example (against a running server)::

        suggestions = await browse("opc.tcp://127.0.0.1:4840/smart365/")
        [s.node_id for s in suggestions if s.browse_path.endswith("MCT-01/SpindleLoad")]
        # ['ns=2;s=Plant/가공라인/MCT-01/SpindleLoad']
    """
    cfg = OpcUaConfig(endpoint=endpoint, timeout_s=10.0, tags=[OpcUaTag(tag_id=0, node_id="i=84")], **login)
    async with await _client(cfg) as client:
        found: list[TagSuggestion] = []
        await _walk(client, client.nodes.objects, "", max_depth, found)
        return found


async def _walk(client: Client, node: Node, path: str, depth: int, found: list[TagSuggestion]) -> None:
    if depth < 0:
        return
    refs = await node.get_references(refs=ua.ObjectIds.HierarchicalReferences, direction=ua.BrowseDirection.Forward)
    for ref in refs:
        server, has_property = (ua.NodeId(ua.Int32(i)) for i in (ua.ObjectIds.Server, ua.ObjectIds.HasProperty))
        if ref.NodeId == server or ref.ReferenceTypeId == has_property:
            continue
        child = client.get_node(ref.NodeId)
        child_path = f"{path}/{ref.BrowseName.Name}" if path else ref.BrowseName.Name
        if ref.NodeClass == ua.NodeClass.Variable:
            found.append(await _suggestion(client, child, child_path))
        elif ref.NodeClass == ua.NodeClass.Object:
            await _walk(client, child, child_path, depth - 1, found)


async def _suggestion(client: Client, node: Node, path: str) -> TagSuggestion:
    data_type = ""
    with contextlib.suppress(ua.UaError):
        data_type = (await client.get_node(await node.read_data_type()).read_browse_name()).Name
    unit = ""
    with contextlib.suppress(ua.UaError):
        eu = await (await node.get_child("0:EngineeringUnits")).read_value()
        unit = eu.DisplayName.Text or ""
    low = high = None
    with contextlib.suppress(ua.UaError, AttributeError):
        span = await (await node.get_child("0:EURange")).read_value()
        low, high = float(span.Low), float(span.High)
    return TagSuggestion(node.nodeid.to_string(), path, data_type, unit, low, high)


class _Handler:
    """asyncua subscription handler: queues data changes for the connector's flush loop."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, Any, ua.DataValue]] = []

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.pending.append((node.nodeid.to_string(), val, data.monitored_item.Value))


class OpcUaConnector(Connector[OpcUaConfig]):
    """Subscribes to the mapped nodes and emits the changes as batches (every ``publishing_interval_ms``)."""

    kind: ClassVar[str] = "opcua"
    config_model: ClassVar[type[ConnectorConfig]] = OpcUaConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tags = {ua.NodeId.from_string(t.node_id).to_string(): t for t in self.config.tags}
        self.client_side_deadband: set[str] = set()
        self._last: dict[str, float] = {}

    async def _run_once(self) -> None:
        cfg = self.config
        client = await _client(cfg)
        await client.connect()
        try:
            handler = _Handler()
            subscription = await client.create_subscription(cfg.publishing_interval_ms, handler)
            for node_id, tag in self._tags.items():
                await self._monitor(subscription, client.get_node(node_id), tag)
            self._connected()
            await self._pump(client, handler)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), cfg.timeout_s)

    async def _monitor(self, subscription: Any, node: Node, tag: OpcUaTag) -> None:
        node_id = node.nodeid.to_string()
        if tag.deadband > 0:
            try:
                await subscription.deadband_monitor(node, tag.deadband)
                self.client_side_deadband.discard(node_id)
                return
            except ua.UaStatusCodeError:
                self.client_side_deadband.add(node_id)
        await subscription.subscribe_data_change(node)

    async def _pump(self, client: Client, handler: _Handler) -> None:
        """Flush queued changes each publishing interval; a failed liveness read means the link is gone."""
        interval = self.config.publishing_interval_ms / 1000
        next_check = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            changes, handler.pending = handler.pending, []
            await self._emit(await self._batch(changes))
            if time.monotonic() >= next_check:
                await asyncio.wait_for(client.nodes.server_state.read_value(), self.config.timeout_s)
                next_check = time.monotonic() + 1.0

    async def _batch(self, changes: list[tuple[str, Any, ua.DataValue]]) -> Batch:
        ids: list[int] = []
        ts: list[datetime] = []
        values: list[float] = []
        qualities: list[int] = []
        for node_id, value, data in changes:
            tag = self._tags.get(node_id)
            if tag is None:
                continue
            if isinstance(value, str | bytes) or value is None:
                await self._dead_letter(node_id, "not_numeric", repr(value), node_id)
                continue
            number = float(value)
            filtered = node_id in self.client_side_deadband
            if filtered and not passes_deadband(self._last.get(node_id), number, tag.deadband):
                continue
            self._last[node_id] = number
            ids.append(tag.tag_id)
            ts.append(_timestamp(data))
            values.append(number * tag.scale + tag.offset)
            qualities.append(quality_of(data.StatusCode))
        return Batch.from_columns(ids, ts, values, qualities) if ids else Batch.empty()


def _timestamp(data: ua.DataValue) -> datetime:
    moment = data.SourceTimestamp or data.ServerTimestamp or datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
