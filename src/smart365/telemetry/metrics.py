"""Prometheus counters of the data plane, shared by the HTTP ingest and the ingest workers."""

from __future__ import annotations

from prometheus_client import Counter

INGEST_POINTS = Counter("smart365_ingest_points", "Points stored in the time-series store", ["source"])
DEAD_LETTERS = Counter("smart365_dead_letter", "Rows rejected into the dead-letter table", ["reason"])
