"""The usage log: append-only, hash-chained records of every cross-firm step, one chain per firm.

Each record's hash is SHA-256 over the previous record's hash and the canonical JSON of the record's content
(chain, sequence number, time in microseconds, kind, offer, agreement, actor, details): change, remove or
reorder any record and :func:`verify` names the first one that no longer fits.

One chain per firm (the firm whose data the step concerns), not one per deployment: a firm's page verifies its
own chain without reading anyone else's, appends for different firms never wait on each other, and a firm's log
can be handed to it (or to an auditor) whole. The deployment's check (``smart365 collab verify``) walks every
chain. A chain proves its records are intact and in order; that nothing was cut off its end needs its head
(:func:`head`) kept elsewhere too, which the page shows and the audit log records.

>>> from smart365.core.db import Database
>>> from smart365.core.tenancy import SYSTEM
>>> from smart365.core import migrate
>>> import tempfile, pathlib
>>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'r.db'}"
>>> migrate.upgrade(url)
>>> db = Database(url)
>>> with db.session(SYSTEM) as s:
...     _ = append(s, 1, "offer.published", actor="system", offer_id=5, details={"title": "가공 데이터"})
...     _ = append(s, 1, "transfer.pull", actor="system", offer_id=5, agreement_id=2, details={})
>>> verify(db).ok, verify(db).records
(True, 2)
>>> with db.engine.begin() as c:  # the database refuses changes; a DBA drops its guard to change a record anyway
...     lift_guard(c)
...     _ = c.exec_driver_sql("UPDATE collab_usage_log SET actor = 'someone' WHERE seq = 1")
>>> found = verify(db)
>>> found.ok, found.first_bad.seq, found.first_bad.reason
(False, 1, 'hash')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from smart365.collab.models import UsageRecord
from smart365.core.db import Database, utcnow

GENESIS = "0" * 64
BATCH = 20_000


class LogTampering(RuntimeError):
    """Code tried to change or delete a usage record: a programming error, never a user's."""


def canonical(details: dict[str, Any]) -> str:
    """Details as canonical JSON: sorted keys, no spaces, UTF-8 as it is.

    >>> canonical({"b": 1, "a": "가"})
    '{"a":"가","b":1}'
    """
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(prev_hash: str, company_id: int, seq: int, at_us: int, kind: str, offer_id: int | None,
           agreement_id: int | None, actor: str, details: str) -> str:  # fmt: skip
    """The record's hash: SHA-256 of the previous hash and the canonical JSON array of its content.

    >>> a = digest(GENESIS, 1, 1, 0, "offer.published", 5, None, "system", "{}")
    >>> a == digest(GENESIS, 1, 1, 0, "offer.published", 5, None, "system", '{"x":1}'), len(a)
    (False, 64)
    """
    content = json.dumps(
        [company_id, seq, at_us, kind, offer_id, agreement_id, actor, details],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def head(session: Session, company_id: int) -> UsageRecord | None:
    """The chain's last record."""
    query = select(UsageRecord).where(UsageRecord.company_id == company_id).order_by(UsageRecord.seq.desc()).limit(1)
    return session.scalars(query).first()


def append(session: Session, company_id: int, kind: str, *, actor: str, offer_id: int | None = None,
           agreement_id: int | None = None, details: dict[str, Any] | None = None,
           at: datetime | None = None) -> UsageRecord:  # fmt: skip
    """Add a record to ``company_id``'s chain in ``session``'s transaction. Two appends racing for one place
    fail on the unique (chain, seq) rather than forking the chain."""
    last = head(session, company_id)
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.hash
    at_us = int((at or utcnow()).timestamp() * 1_000_000)
    text = canonical(details or {})
    record = UsageRecord(
        company_id=company_id, seq=seq, at_us=at_us, kind=kind, offer_id=offer_id, agreement_id=agreement_id,
        actor=actor[:254], details=text, prev_hash=prev,
        hash=digest(prev, company_id, seq, at_us, kind, offer_id, agreement_id, actor[:254], text),
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record


@dataclass(frozen=True)
class Broken:
    """The first record that does not fit: its chain, place, row id, and why (``hash``: its content or hash was
    changed; ``link``: its previous hash is not the record before it; ``gap``: records are missing before it)."""

    company_id: int
    seq: int
    id: int
    reason: str


@dataclass(frozen=True)
class Verified:
    ok: bool
    records: int
    chains: int
    first_bad: Broken | None = None


COLUMNS = "id, company_id, seq, at_us, kind, offer_id, agreement_id, actor, details, prev_hash, hash"


def _rows(db: Database, company_id: int | None) -> Iterator[list[tuple[Any, ...]]]:
    """The log's rows in chain order, a batch at a time: the driver's own cursor (a server-side one on
    PostgreSQL), so a million rows never sit in memory and no row object is built per record."""
    where = "" if company_id is None else f" WHERE company_id = {int(company_id)}"
    sql = f"SELECT {COLUMNS} FROM collab_usage_log{where} ORDER BY company_id, seq"
    with db.engine.connect() as connection:
        raw: Any = connection.connection.dbapi_connection
        server_side = not db.url.startswith("sqlite")
        cursor = raw.cursor(name="smart365_verify") if server_side else raw.cursor()
        try:
            if server_side:
                cursor.itersize = BATCH
            cursor.execute(sql)
            while batch := cursor.fetchmany(BATCH):
                yield batch
        finally:
            cursor.close()
            if server_side:
                raw.rollback()  # the read-only transaction the named cursor opened


def verify(db: Database, company_id: int | None = None, progress: Callable[[int], None] | None = None) -> Verified:
    """Walk the chains (one firm's, or all) and report the first record that does not fit, streamed in batches."""
    sha256, dumps = hashlib.sha256, json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    chain, expected_prev, expected_seq, count, chains = None, GENESIS, 1, 0, 0
    for batch in _rows(db, company_id):
        for rid, cid, seq, at_us, kind, offer, agreement, actor, details, prev, stored in batch:
            if cid != chain:
                chain, expected_prev, expected_seq, chains = cid, GENESIS, 1, chains + 1
            if seq != expected_seq:
                return Verified(False, count, chains, Broken(cid, seq, rid, "gap"))
            if prev != expected_prev:
                return Verified(False, count, chains, Broken(cid, seq, rid, "link"))
            content = dumps([cid, seq, at_us, kind, offer, agreement, actor, details])
            if sha256((prev + content).encode()).hexdigest() != stored:
                return Verified(False, count, chains, Broken(cid, seq, rid, "hash"))
            expected_prev, expected_seq, count = stored, seq + 1, count + 1
        if progress is not None:
            progress(count)
    return Verified(True, count, chains)


def lift_guard(connection: Any) -> None:
    """Drop the database's refusal of UPDATE and DELETE on the log (migration 0018), as someone with the rights
    could: what the tests and the benchmark do before tampering, to show the chain catches it anyway."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS collab_usage_log_no_change ON collab_usage_log")
    else:
        for name in ("update", "delete"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS collab_usage_log_no_{name}")


# -- append-only, as far as the ORM goes ----------------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(obj, UsageRecord) for obj in (*session.dirty, *session.deleted)):
        raise LogTampering("the usage log is append-only: its records are never changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(m.class_ is UsageRecord for m in state.all_mappers):
        raise LogTampering("the usage log is append-only: its records are never changed or deleted")
