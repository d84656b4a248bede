"""A simulated Sparkplug B edge node that numbers its messages the way the spec says (codec in telemetry).

>>> node = EdgeNode("g", "e", {"IMM-01": [("mould_temp", DataType.Double)]})
>>> topic, raw = node.nbirth(ts_ms=0)
>>> topic, decode(raw).seq
('spBv1.0/g/NBIRTH/e', 0)
>>> from smart365.telemetry.sparkplug_b import metric_value
>>> topic, raw = node.ddata("IMM-01", {"mould_temp": 60.5}, ts_ms=1)
>>> payload = decode(raw); (topic, payload.seq, payload.metrics[0].alias, metric_value(payload.metrics[0]))
('spBv1.0/g/DDATA/e/IMM-01', 1, 100, 60.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smart365.telemetry.sparkplug_b import (
    BD_SEQ,
    REBIRTH,
    DataType,
    Payload,
    decode,
    set_metric_value,
    topic,
)


class EdgeNode:
    """One Sparkplug edge node with devices; numbers messages (seq, bdSeq) and assigns metric aliases.

    ``devices`` maps a device id to its metrics ``(name, datatype)``; aliases are ``100 × (device index + 1) +
    metric index``, unique within the node. Data messages carry aliases only (names are in the births).
    """

    def __init__(
        self, group: str, edge: str, devices: Mapping[str, Sequence[tuple[str, DataType]]], bd_seq: int = 0
    ) -> None:
        self.group, self.edge = group, edge
        self.bd_seq = bd_seq % 256
        self.seq = 0
        self._skip = 0
        self.metrics: dict[str, dict[str, tuple[int, DataType]]] = {
            device: {name: (100 * (d + 1) + i, dtype) for i, (name, dtype) in enumerate(metrics)}
            for d, (device, metrics) in enumerate(devices.items())
        }

    def skip_seq(self, count: int = 1) -> None:
        """Leave out ``count`` seq numbers before the next message (a gap a host application must detect)."""
        self._skip += count

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1 + self._skip) % 256
        self._skip = 0
        return self.seq

    def _payload(self, ts_ms: int, seq: int | None) -> Any:
        payload = Payload(timestamp=ts_ms)
        if seq is not None:
            payload.seq = seq
        return payload

    def ndeath(self) -> tuple[str, bytes]:
        """The NDEATH (the MQTT Will): bdSeq only, no seq."""
        payload = Payload()
        set_metric_value(payload.metrics.add(name=BD_SEQ), DataType.Int64, self.bd_seq)
        return topic(self.group, "NDEATH", self.edge), payload.SerializeToString()

    def nbirth(self, ts_ms: int) -> tuple[str, bytes]:
        """The NBIRTH: seq 0, bdSeq and the rebirth control."""
        self.seq = 0
        payload = self._payload(ts_ms, 0)
        set_metric_value(payload.metrics.add(name=BD_SEQ, timestamp=ts_ms), DataType.Int64, self.bd_seq)
        set_metric_value(payload.metrics.add(name=REBIRTH, timestamp=ts_ms), DataType.Boolean, False)
        return topic(self.group, "NBIRTH", self.edge), payload.SerializeToString()

    def dbirth(self, device: str, values: Mapping[str, Any], ts_ms: int) -> tuple[str, bytes]:
        """A DBIRTH with every metric's name, alias, datatype and current value."""
        payload = self._payload(ts_ms, self._next_seq())
        for name, (alias, dtype) in self.metrics[device].items():
            set_metric_value(payload.metrics.add(name=name, alias=alias, timestamp=ts_ms), dtype, values.get(name))
        return topic(self.group, "DBIRTH", self.edge, device), payload.SerializeToString()

    def ddata(self, device: str, values: Mapping[str, Any], ts_ms: int) -> tuple[str, bytes]:
        """A DDATA with the given metrics by alias."""
        payload = self._payload(ts_ms, self._next_seq())
        known = self.metrics[device]
        for name, value in values.items():
            alias, dtype = known[name]
            set_metric_value(payload.metrics.add(alias=alias, timestamp=ts_ms), dtype, value)
        return topic(self.group, "DDATA", self.edge, device), payload.SerializeToString()

    def ddeath(self, device: str, ts_ms: int) -> tuple[str, bytes]:
        """A DDEATH for one device."""
        payload = self._payload(ts_ms, self._next_seq())
        return topic(self.group, "DDEATH", self.edge, device), payload.SerializeToString()

    def is_rebirth_request(self, raw: bytes) -> bool:
        """True when an NCMD payload asks for a rebirth."""
        return any(m.name == REBIRTH and m.boolean_value for m in decode(raw).metrics)
