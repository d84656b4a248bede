"""Prometheus metrics of the data plane, shared by the HTTP ingest, file imports and the ingest workers.

``smart365_ingest_points_total{source}`` counts every point stored, by where it came from (``opcua``,
``modbus``, ``sparkplug``, ``mqtt``, ``http``, ``file``); the connector gauges are read from the running
workers' health at scrape time, so a stopped connector disappears instead of lingering.
"""

from __future__ import annotations

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
    >>> [(m.name, m.samples[0].value) for m in metrics.collect()][:2]
    [('smart365_connector_up', 0.0), ('smart365_connector_state', 1.0)]
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
        now = datetime.now(UTC)
        for health in list(self._sources):
            for c in health():
                key = [c["name"], c["kind"]]
                up.add_metric(key, 1.0 if c["state"] == "connected" else 0.0)
                state.add_metric([*key, c["state"]], 1.0)
                if c.get("last_data_at") is not None:
                    age.add_metric(key, (now - c["last_data_at"]).total_seconds())
                connects.add_metric(key, float(c.get("connects", 0)))
        yield from (up, state, age, connects)


CONNECTORS = ConnectorMetrics()
REGISTRY.register(CONNECTORS)
