"""Connectors: protocol plug-ins with one contract, fed by a plain tag map, emitting columnar batches.

Kinds by name: ``opcua``, ``mqtt`` (plain JSON), ``sparkplug`` (Sparkplug B), ``modbus``. Each validates its
config before anything connects (:class:`ConnectorConfigError` names the bad field) and reconnects with
backoff in the shared base. Imports ``smart365.core``, ``smart365.telemetry`` and the Sparkplug codec only.

>>> sorted(KINDS)
['modbus', 'mqtt', 'opcua', 'sparkplug']
>>> create("modbus", {"host": "plc", "tags": []}, emit=None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
smart365.telemetry.connectors.base.ConnectorConfigError: Invalid connector configuration at 'tags': ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smart365.telemetry.connectors.base import (
    Connector,
    ConnectorConfig,
    ConnectorConfigError,
    ConnectorEvent,
    DeadLetter,
    Emit,
    TagPoint,
    emit_to,
    validate_config,
)
from smart365.telemetry.connectors.modbus import ModbusConnector
from smart365.telemetry.connectors.mqtt import MqttJsonConnector
from smart365.telemetry.connectors.opcua import OpcUaConnector, TagSuggestion, browse
from smart365.telemetry.connectors.sparkplug import SparkplugConnector

KINDS: dict[str, type[Connector[Any]]] = {
    "opcua": OpcUaConnector,
    "mqtt": MqttJsonConnector,
    "sparkplug": SparkplugConnector,
    "modbus": ModbusConnector,
}
"""Connector classes by kind name."""


def create(kind: str, config: Mapping[str, Any], emit: Emit, **callbacks: Any) -> Connector[Any]:
    """A connector of ``kind`` with a validated ``config``.

    ``callbacks`` are the keyword arguments of :class:`Connector`: ``on_dead_letter``, ``on_event``, ``name``.
    """
    if kind not in KINDS:
        raise ConnectorConfigError(field="kind", problem=f"unknown connector kind {kind!r}")
    return KINDS[kind](config, emit, **callbacks)


__all__ = [
    "KINDS",
    "Connector",
    "ConnectorConfig",
    "ConnectorConfigError",
    "ConnectorEvent",
    "DeadLetter",
    "Emit",
    "TagPoint",
    "TagSuggestion",
    "browse",
    "create",
    "emit_to",
    "validate_config",
]
