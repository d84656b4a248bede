"""Telemetry: machine data from connector to storage (Level 2, 중간1 — 실시간 모니터링).

Owns the connectors, the ingest pipeline (validate → unit scale → dedupe → dead-letter, with backpressure)
and the time-series store (DuckDB embedded, PostgreSQL server) with its 1-minute and 1-hour rollups.
The store and the pipeline know tags only as integer ``tag_id`` values; two modules meet the registry:
``sources`` (registry rows → connector configs, and the check that refuses an unreadable address) and
``api`` (tags by name and the caller's tenancy, through the web seam ``web.deps``).

Imports ``core``, ``registry`` and the web seam; never ``analytics`` (data flows up). The import contract
in ``pyproject.toml`` holds this.
"""
