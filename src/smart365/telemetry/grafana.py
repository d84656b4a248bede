"""Grafana on the server shape's PostgreSQL store (the recipe is ``docs/grafana.md``).

Dashboards read the ``grafana_points``, ``grafana_rollup_1m`` and ``grafana_rollup_1h`` views of the store
(:data:`~smart365.telemetry.store.TAG_NAMES_SCHEMA` names the columns they add), never the tables behind
them. The store holds numbers only, so :class:`TagNames` copies the registry's firm, machine and tag names
into the store whenever they change; the views join them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlalchemy import select

from smart365.core.db import Database
from smart365.core.i18n import use_locale
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Equipment, Tag
from smart365.telemetry.store import TAG_NAMES_SCHEMA, TimeSeriesStore

if TYPE_CHECKING:
    from smart365.bootstrap import System

log = logging.getLogger(__name__)


def tag_names(db: Database) -> pa.Table:
    """Every tag of the registry with its firm, machine and name as people read it, in Korean first."""
    with db.session(SYSTEM) as session, use_locale("ko"):
        rows = session.execute(select(Tag, Equipment.name).join(Equipment, Equipment.id == Tag.equipment_id))
        names = [{"tag_id": tag.id, "company_id": tag.company_id, "equipment": machine, "tag": tag.name,
                  "label": tag.label, "unit": tag.unit} for tag, machine in rows]  # fmt: skip
    return pa.Table.from_pylist(names, schema=TAG_NAMES_SCHEMA)


class TagNames:
    """A plug-in of the server shape: keeps the store's copy of the tag names current (checked every
    ``every_s``, written only when something changed)."""

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self._digest = b""
        self._task: asyncio.Task[None] | None = None

    def sync(self, db: Database, store: TimeSeriesStore) -> bool:
        """Copy the names into the store if they changed since the last call; True when it wrote.

        >>> import pathlib, tempfile
        >>> from smart365.core import migrate
        >>> from smart365.telemetry.store import DuckDBStore
        >>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'r.db'}"; migrate.upgrade(url)
        >>> names, db, store = TagNames(), Database(url), DuckDBStore(":memory:")
        >>> names.sync(db, store), names.sync(db, store)  # an empty registry, then nothing new
        (True, False)
        """
        names = tag_names(db)
        digest = hashlib.sha256(str(names.to_pydict()).encode()).digest()
        if digest == self._digest:
            return False
        store.name_tags(names)
        self._digest = digest
        return True

    async def start(self, system: System) -> None:
        await asyncio.to_thread(self.sync, system.db, system.store)
        self._task = asyncio.create_task(self._keep(system.db, system.store))

    async def _keep(self, db: Database, store: TimeSeriesStore) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await asyncio.to_thread(self.sync, db, store)
            except Exception:  # the next round tries again; dashboards show the old names meanwhile
                log.exception("copying the tag names into the store failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
