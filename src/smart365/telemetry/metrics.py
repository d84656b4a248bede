"""Prometheus metrics of the data plane, shared by the HTTP ingest, file imports and the ingest workers.

``smart365_ingest_points_total{source}`` counts every point stored, by where it came from (``opcua``,
``modbus``, ``sparkplug``, ``mqtt``, ``http``, ``file``); the connector gauges are read from the running
workers' health at scrape time, so a stopped connector disappears instead of lingering. Sparkplug connectors
add ``smart365_sparkplug_host_online`` (their primary-host STATE), ``smart365_sparkplug_node_online`` and
``smart365_sparkplug_device_online`` (1 after a birth, 0 after a death, absent until first seen; a node whose
host lost the broker is unknown: NaN) and the ``seq_gaps``, ``bdseq_gaps`` and ``rebirth_requests`` counters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

INGEST_POINTS = Counter("smart365_ingest_points", "Points stored in the time-series store", ["source"])
DEAD_LETTERS = Counter("smart365_dead_letter", "Rows rejected into the dead-letter table", ["reason"])
INGEST_LATENCY = Histogram(
    "smart365_ingest_latency_seconds",
    "From a connector batch's newest reading time to the moment it is stored",
    ["source"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

Health = Callable[[], list[dict[str, Any]]]


class ConnectorMetrics(Collector):
    """State, last-reading age and reconnects of every connector of the workers it watches.

    >>> metrics = ConnectorMetrics()
    >>> metrics.watch(lambda: [{"name": "modbus plc", "kind": "modbus", "state": "backoff", "connects": 2}])
    >>> [(m.name, m.samples[0].value) for m in list(metrics.collect())[:2]]
    [('smart365_connector_up', 0.0), ('smart365_connector_state', 1.0)]
    >>> metrics.watch(lambda: [{"name": "sparkplug x", "kind": "sparkplug", "state": "connected", "host_id": "h",
    ...     "host_online": True, "nodes": [{"edge": "e", "device": None, "online": False}], "seq_gaps": 2}])
    >>> {m.name: m.samples[0].value for m in metrics.collect() if m.name.startswith("smart365_sparkplug")}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'smart365_sparkplug_host_online': 1.0, 'smart365_sparkplug_node_online': 0.0,
     'smart365_sparkplug_seq_gaps': 2.0, 'smart365_sparkplug_bdseq_gaps': 0.0,
     'smart365_sparkplug_rebirth_requests': 0.0}
    """

    def __init__(self) -> None:
        self._sources: list[Health] = []

    def watch(self, health: Health) -> None:
        self._sources.append(health)

    def forget(self, health: Health) -> None:
        if health in self._sources:
            self._sources.remove(health)

    def collect(self) -> Iterator[Metric]:
        labels = ["connector", "kind"]
        up = GaugeMetricFamily(
            "smart365_connector_up", "1 when the connector is connected to its source", labels=labels
        )
        state = GaugeMetricFamily(
            "smart365_connector_state", "The connector's state (value 1)", labels=[*labels, "state"]
        )
        age = GaugeMetricFamily(
            "smart365_connector_last_reading_age_seconds",
            "Seconds since the connector last delivered data",
            labels=labels,
        )
        connects = CounterMetricFamily(
            "smart365_connector_connects", "Connections made (the first one and every reconnect)", labels=labels
        )
        sparkplug = _SparkplugFamilies()
        now = datetime.now(UTC)
        for health in list(self._sources):
            for c in health():
                key = [c["name"], c["kind"]]
                up.add_metric(key, 1.0 if c["state"] == "connected" else 0.0)
                state.add_metric([*key, c["state"]], 1.0)
                if c.get("last_data_at") is not None:
                    age.add_metric(key, (now - c["last_data_at"]).total_seconds())
                connects.add_metric(key, float(c.get("connects", 0)))
                if c["kind"] == "sparkplug" and "nodes" in c:
                    sparkplug.add(c)
        yield from (up, state, age, connects)
        if sparkplug.seen:
            yield from sparkplug.families()


class _SparkplugFamilies:
    """The Sparkplug host's own view: its STATE, each node's and device's presence, gaps and rebirths."""

    def __init__(self) -> None:
        self.seen = False
        self.host = GaugeMetricFamily(
            "smart365_sparkplug_host_online",
            "1 while the connector's primary-host STATE (online) is published",
            labels=["connector", "host_id"],
        )
        self.node = GaugeMetricFamily(
            "smart365_sparkplug_node_online",
            "1 after the edge node's NBIRTH, 0 after its NDEATH, NaN while unknown (the host lost the broker)",
            labels=["connector", "edge"],
        )
        self.device = GaugeMetricFamily(
            "smart365_sparkplug_device_online",
            "1 after the device's DBIRTH, 0 after its DDEATH or its node's NDEATH, NaN while unknown",
            labels=["connector", "edge", "device"],
        )
        self.seq_gaps = CounterMetricFamily(
            "smart365_sparkplug_seq_gaps", "Sparkplug messages whose seq did not follow", labels=["connector"]
        )
        self.bd_seq_gaps = CounterMetricFamily(
            "smart365_sparkplug_bdseq_gaps", "NBIRTHs whose bdSeq skipped a session", labels=["connector"]
        )
        self.rebirths = CounterMetricFamily(
            "smart365_sparkplug_rebirth_requests",
            "Node Control/Rebirth commands sent (after a seq gap or data before a birth)",
            labels=["connector"],
        )

    def add(self, c: dict[str, Any]) -> None:
        self.seen = True
        name = c["name"]
        if c.get("host_id"):
            self.host.add_metric([name, c["host_id"]], 1.0 if c.get("host_online") else 0.0)
        for n in c["nodes"]:
            value = math.nan if n["online"] is None else float(n["online"])
            if n["device"] is None:
                self.node.add_metric([name, n["edge"]], value)
            else:
                self.device.add_metric([name, n["edge"], n["device"]], value)
        self.seq_gaps.add_metric([name], float(c.get("seq_gaps", 0)))
        self.bd_seq_gaps.add_metric([name], float(c.get("bd_seq_gaps", 0)))
        self.rebirths.add_metric([name], float(c.get("rebirths_requested", 0)))

    def families(self) -> Iterator[Metric]:
        families = (self.host, self.node, self.device, self.seq_gaps, self.bd_seq_gaps, self.rebirths)
        yield from (family for family in families if family.samples)


CONNECTORS = ConnectorMetrics()
REGISTRY.register(CONNECTORS)
