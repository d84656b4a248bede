"""Telemetry: machine data from connector to storage (Level 2, 중간1 — 실시간 모니터링).

Owns the connectors, the ingest pipeline (validate → unit scale → dedupe → dead-letter, with backpressure)
and the time-series store (DuckDB embedded, PostgreSQL server) with its 1-minute and 1-hour rollups.
Tags are plain integer ``tag_id`` values: this package never imports the registry.

May import ``smart365.core`` only.
"""
