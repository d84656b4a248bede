"""Fixtures for the telemetry tests: every store test runs on DuckDB and on PostgreSQL.

PostgreSQL: one uniquely named database per test session (dropped at the end), one schema per test.
The server is ``SMART365_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); when it
cannot be reached the PostgreSQL cases fail under ``CI=true`` and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from smart365.telemetry.store import TimeSeriesStore, open_store

ADMIN_URL = os.environ.get("SMART365_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this session."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL at {ADMIN_URL} is unreachable ({error}); set SMART365_TEST_PG_URL"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"smart365_ts_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=BACKENDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a DuckDB file path, or a PostgreSQL URL bound to a schema of its own."""
    if request.param == "duckdb":
        return str(tmp_path / "telemetry.duckdb")
    url = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def store(store_target: str) -> Iterator[TimeSeriesStore]:
    """An empty store on each backend."""
    with open_store(store_target) as opened:
        yield opened
