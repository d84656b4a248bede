"""OPC UA server (asyncua) exposing the CNC machining centres as ``Objects/Plant/<line>/<machine>/<Variable>``.

Each machine folder holds one ``AnalogItemType`` variable per tag (``SpindleLoad``, ``SpindleTemp``, …,
Double, with its ``EURange`` and ``EngineeringUnits``, as a real machine's server describes its signals),
plus ``State`` and ``StateReason`` strings and their numeric codes ``StateCode`` (0 idle, 1 run, 2 down) and
``ReasonCode`` (see ``REASON_CODES``). Node ids are strings in the simulator namespace, e.g.
``ns=2;s=Plant/가공라인/MCT-01/SpindleLoad``. Anonymous and username/password logins are accepted; unsecured by
default, or (``secure=True``) only Basic256Sha256 Sign and SignAndEncrypt with a certificate of its own, as a
machine's server set up by the book is.

>>> browse_name("spindle_load"), node_path("가공라인", "MCT-01", "SpindleLoad")
('SpindleLoad', 'Plant/가공라인/MCT-01/SpindleLoad')
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from asyncua import Node, Server, ua
from asyncua.common.instantiate_util import instantiate
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

from smart365.sim.factory.physics import RANGES, REASON_CODES, STATE_CODES, UNITS, Reading

# instantiating AnalogItemType logs each of the type's attributes a variable does not copy: not worth reading
logging.getLogger("asyncua.common.copy_node_util").setLevel(logging.ERROR)

NAMESPACE_URI = "urn:smart365:sim:factory"
DEFAULT_USERS = {"operator": "smart365"}
#: UNECE Rec. 20 common codes (as OPC UA EUInformation UnitId) for the units used.
_UNECE = {"%": "P1", "°C": "CEL", "rpm": "RPM", "s": "SEC", "ea": "C62", "mm/s": "C16", "bar": "BAR", "t": "TNE"}


def browse_name(tag: str) -> str:
    """``spindle_load`` → ``SpindleLoad``."""
    return "".join(part.capitalize() for part in tag.split("_"))


def node_path(*parts: str) -> str:
    """The string node id of a folder or variable under ``Plant``."""
    return "/".join(("Plant", *parts))


def eu_information(unit: str) -> ua.EUInformation:
    """OPC UA engineering units for a unit symbol (UNECE code where known).

    >>> eu_information("°C").UnitId
    4408652
    """
    code = _UNECE.get(unit, "")
    unit_id = int.from_bytes(code.encode("ascii"), "big") if code else -1
    return ua.EUInformation(
        NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
        UnitId=unit_id,
        DisplayName=ua.LocalizedText(unit),
        Description=ua.LocalizedText(unit),
    )


class PasswordUserManager:
    """Accepts anonymous sessions (when allowed) and the configured username/password pairs."""

    def __init__(self, users: Mapping[str, str], allow_anonymous: bool = True) -> None:
        self.users = dict(users)
        self.allow_anonymous = allow_anonymous

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        """The session's user, or None to refuse it."""
        if username is None:
            return User(role=UserRole.User) if self.allow_anonymous else None
        if self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class PlantOpcUaServer:
    """An OPC UA server whose variables follow the machines' readings."""

    def __init__(
        self,
        machines: Mapping[str, tuple[str, tuple[str, ...]]],
        port: int = 4840,
        host: str = "127.0.0.1",
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool = True,
        secure_in: Path | None = None,
    ) -> None:
        """``machines`` maps a machine name to ``(line, tags)``; ``secure_in`` names a folder for the server's
        certificate and makes every session secured."""
        self.machines = dict(machines)
        self.secure_in = secure_in
        self.endpoint = f"opc.tcp://{host}:{port}/smart365/"
        self.allow_anonymous = allow_anonymous
        manager = PasswordUserManager(users or DEFAULT_USERS, allow_anonymous)
        self.server = Server(user_manager=manager)  # type: ignore[arg-type]
        self.nodes: dict[tuple[str, str], Node] = {}
        self.ns = 0

    async def start(self) -> None:
        """Build the address space and listen."""
        await self.server.init()
        self.server.set_endpoint(self.endpoint)
        self.server.set_server_name("Smart365 factory simulator")
        if self.secure_in is None:
            self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            await self._certificate(self.secure_in)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self.allow_anonymous:
            tokens.insert(0, ua.AnonymousIdentityToken)
        self.server.set_identity_tokens(tokens)
        self.ns = await self.server.register_namespace(NAMESPACE_URI)
        plant = await self.server.nodes.objects.add_folder(self._nodeid(), f"{self.ns}:Plant")
        lines: dict[str, Node] = {}
        for name, (line, tags) in self.machines.items():
            if line not in lines:
                lines[line] = await plant.add_folder(self._nodeid(line), f"{self.ns}:{line}")
            await self._add_machine(lines[line], line, name, tags)
        await self.server.start()

    async def _certificate(self, folder: Path) -> None:
        """The server's own certificate (made once) and only the Basic256Sha256 policies."""
        uri = "urn:smart365:sim:opcua-server"
        await self.server.set_application_uri(uri)
        key, cert = folder / "server-key.pem", folder / "server-cert.der"
        folder.mkdir(parents=True, exist_ok=True)
        uses = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        await setup_self_signed_certificate(key, cert, uri, socket.gethostname(), uses, {})
        await self.server.load_certificate(str(cert))
        await self.server.load_private_key(str(key))
        self.server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_Sign,
                                         ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])  # fmt: skip

    def _nodeid(self, *parts: str) -> ua.NodeId:
        return ua.NodeId(ua.String(node_path(*parts)), ua.Int16(self.ns))

    async def _add_machine(self, parent: Node, line: str, name: str, tags: tuple[str, ...]) -> None:
        folder = await parent.add_object(self._nodeid(line, name), f"{self.ns}:{name}")
        for tag in tags:
            self.nodes[(name, tag)] = await self._analog(folder, line, name, tag)
        for tag, bname in (("state", "State"), ("reason", "StateReason")):
            self.nodes[(name, tag)] = await self._variable(folder, line, name, bname, "", ua.VariantType.String)
        # Numeric twins of the state, as PLCs expose them: a connector stores numbers only.
        for tag, bname in (("state_code", "StateCode"), ("reason_code", "ReasonCode")):
            self.nodes[(name, tag)] = await self._variable(folder, line, name, bname, 0.0, ua.VariantType.Double)

    async def _analog(self, folder: Node, line: str, name: str, tag: str) -> Node:
        """A Double ``AnalogItemType`` variable with its range (``EURange``) and unit (``EngineeringUnits``)."""
        bname = browse_name(tag)
        analog = self.server.get_node(ua.NodeId(ua.Int32(ua.ObjectIds.AnalogItemType)))
        nodeid, qualified = self._nodeid(line, name, bname), f"{self.ns}:{bname}"
        [var, *_] = await instantiate(folder, analog, nodeid=nodeid, bname=qualified, dname=ua.LocalizedText(bname),
                                      instantiate_optional=False)  # fmt: skip
        double = ua.NodeId(ua.Int32(ua.ObjectIds.Double))
        await var.write_attribute(ua.AttributeIds.DataType, ua.DataValue(ua.Variant(double, ua.VariantType.NodeId)))
        await var.write_value(ua.Variant(0.0, ua.VariantType.Double))
        low, high = RANGES.get(tag, (0.0, 0.0))
        await (await var.get_child("0:EURange")).write_value(ua.Range(Low=low, High=high))
        eu = await var.add_property(self._nodeid(line, name, bname, "EngineeringUnits"), "0:EngineeringUnits",
                                    eu_information(UNITS.get(tag, "")))  # fmt: skip
        await eu.set_read_only()
        return var

    async def _variable(
        self, folder: Node, line: str, name: str, bname: str, initial: Any, vtype: ua.VariantType
    ) -> Node:
        nodeid = self._nodeid(line, name, bname)
        return await folder.add_variable(nodeid, f"{self.ns}:{bname}", ua.Variant(initial, vtype))

    async def update(self, readings: Mapping[str, Reading]) -> None:
        """Write the current readings (source timestamp = simulated time) so subscriptions fire."""
        for name in self.machines:
            reading = readings.get(name)
            if reading is None:
                continue
            source_ts = cast(ua.DateTime, reading.ts.replace(tzinfo=None))
            values: dict[str, Any] = {**reading.values, "state": str(reading.state), "reason": str(reading.reason)}
            values |= {
                "state_code": float(STATE_CODES[reading.state]),
                "reason_code": float(REASON_CODES[reading.reason]),
            }
            for tag, value in values.items():
                node = self.nodes.get((name, tag))
                if node is None:
                    continue
                vtype = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
                dv = ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=source_ts)
                await self.server.write_attribute_value(node.nodeid, dv)

    async def stop(self) -> None:
        """Stop the server."""
        await self.server.stop()
