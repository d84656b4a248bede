"""Who runs which connector: every connector runs in exactly one process.

Embedded, the one process runs them all (:class:`SoleCollector`). In the server shape several ``smart365
worker`` processes share the registry's connectors through leases in the records database
(:class:`DatabaseLeases`): each worker beats a heartbeat, renews the leases it holds and claims free or
expired ones up to its fair share (connectors ÷ live workers), and gives back what is above its share
*after* it has stopped those connectors, so a newly started worker gets its part. A worker that dies stops
renewing: its leases expire after ``ttl_s`` and the others claim them at their next round, so with the
defaults (renewal every 5 s, 15 s leases) its connectors run again elsewhere within 20 s.

Claims are atomic upserts (``INSERT … ON CONFLICT DO UPDATE … WHERE expired``), so two workers never hold
one lease. Lease times come from each worker's clock: keep the workers' clocks in sync (NTP), well within
``ttl_s``. If a worker cannot reach the database it stops its connectors before its leases could expire
(see :class:`~smart365.monitoring.runtime.Collection`). Both kinds keep one contract, :class:`Leases`.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from smart365.core.db import Base, Database, as_utc, utcnow
from smart365.core.tenancy import SYSTEM
from smart365.telemetry.models import CollectorHeartbeat, ConnectorLease


class Leases(Protocol):
    """The contract: which of the wanted connectors this process runs now."""

    holder: str

    def hold(self, wanted: Sequence[str]) -> tuple[set[str], set[str]]:
        """Renew and claim: ``(run, give_up)``: the connectors to run now, and those to stop and then
        :meth:`release` (above this process's share)."""

    def release(self, names: Iterable[str]) -> None:
        """Give back leases on connectors this process has stopped."""

    def close(self) -> None:
        """Give back every lease (a clean stop: the others take over at once)."""


class SoleCollector:
    """The embedded shape: this process runs every connector.

    >>> SoleCollector().hold(["opcua a", "modbus b"])[0] == {"opcua a", "modbus b"}
    True
    """

    holder = "embedded"

    def hold(self, wanted: Sequence[str]) -> tuple[set[str], set[str]]:
        return set(wanted), set()

    def release(self, names: Iterable[str]) -> None:
        return None

    def close(self) -> None:
        return None


def lease_key(name: str) -> str:
    """The lease key of a connector name.

    >>> lease_key("opcua opc.tcp://plc:4840/")
    'dc1991cbd0445f2f7c184e7da4d08fb43943e574'
    """
    return hashlib.sha1(name.encode()).hexdigest()


def new_holder() -> str:
    """A name for this process that says where it runs: ``host:pid:random``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DatabaseLeases:
    """Leases in the records database (PostgreSQL in the server shape; SQLite works for tests)."""

    def __init__(
        self,
        db: Database,
        holder: str | None = None,
        ttl_s: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.holder, self.ttl, self.clock = db, holder or new_holder(), timedelta(seconds=ttl_s), clock

    def hold(self, wanted: Sequence[str]) -> tuple[set[str], set[str]]:
        names = {lease_key(name): name for name in wanted}
        with self.db.session(SYSTEM) as session:
            now = self.clock()
            live = self._beat(session, now)
            mine = self._renew(session, names, now)
            share = math.ceil(len(names) / live) if names else 0
            if len(mine) < share:
                mine |= self._claim(session, names, now, share - len(mine))
        run = sorted(mine, key=lambda key: names[key])
        keep, above = run[:share], run[share:]
        return {names[k] for k in keep}, {names[k] for k in above}

    def release(self, names: Iterable[str]) -> None:
        keys = [lease_key(name) for name in names]
        if keys:
            with self.db.session(SYSTEM) as session:
                session.execute(delete(ConnectorLease).where(ConnectorLease.holder == self.holder,
                                                             ConnectorLease.key.in_(keys)))  # fmt: skip

    def close(self) -> None:
        with self.db.session(SYSTEM) as session:
            session.execute(delete(ConnectorLease).where(ConnectorLease.holder == self.holder))
            session.execute(delete(CollectorHeartbeat).where(CollectorHeartbeat.holder == self.holder))

    def _beat(self, session: Session, now: datetime) -> int:
        """Record this collector as alive; how many are alive (this one included)."""
        session.execute(_upsert(session, CollectorHeartbeat, {"holder": self.holder, "seen_at": now}, ["holder"]))
        session.execute(delete(CollectorHeartbeat).where(CollectorHeartbeat.seen_at < now - 4 * self.ttl))
        alive = select(func.count()).where(CollectorHeartbeat.seen_at >= now - self.ttl)
        return max(1, session.scalar(alive) or 0)

    def _renew(self, session: Session, names: dict[str, str], now: datetime) -> set[str]:
        """Extend this collector's leases on wanted connectors; drop its leases on connectors gone away."""
        session.execute(delete(ConnectorLease).where(ConnectorLease.holder == self.holder,
                                                     ConnectorLease.key.not_in(names)))  # fmt: skip
        session.execute(
            update(ConnectorLease)
            .where(ConnectorLease.holder == self.holder, ConnectorLease.expires_at >= now)
            .values(expires_at=now + self.ttl)
        )
        held = select(ConnectorLease.key).where(ConnectorLease.holder == self.holder,
                                                ConnectorLease.expires_at >= now)  # fmt: skip
        return set(session.scalars(held))

    def _claim(self, session: Session, names: dict[str, str], now: datetime, room: int) -> set[str]:
        """Claim up to ``room`` free or expired leases, atomically (a live lease of another is never taken)."""
        taken = {
            key
            for key, expires in session.execute(select(ConnectorLease.key, ConnectorLease.expires_at))
            if as_utc(expires) >= now
        }
        claimed: set[str] = set()
        for key in sorted(set(names) - taken, key=lambda k: names[k]):
            if len(claimed) >= room:
                break
            row = {"key": key, "connector": names[key][:700], "holder": self.holder, "expires_at": now + self.ttl}
            statement = _upsert(session, ConnectorLease, row, ["key"], where=ConnectorLease.expires_at < now)
            if session.execute(statement).rowcount:  # type: ignore[attr-defined]
                claimed.add(key)
        return claimed


def _upsert(session: Session, table: type[Base], row: dict[str, Any], keys: list[str], where: Any = None) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` in the session's dialect (PostgreSQL or SQLite)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**row)
    changes = {k: v for k, v in row.items() if k not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changes, where=where)
