"""Audit log (감사 기록): an append-only trail of who did what, when, from where, and how it ended.

Features call :func:`record` with the session that does the act, so the act and its trail commit together
(a rolled-back deletion leaves no "deleted" row). Acts that fail, such as a wrong password, are recorded
in a session of their own (:func:`record_in`), since the failing session rolls back.

Who acts comes from ``session.info["actor"]`` (the web layer puts the logged-in user and the client
address there for every request session), else from the session's principal (the CLI, the demo seeder
and workers act as the system).

Append-only: this module offers no update or delete, and refuses to flush one; the database refuses
them too (a trigger from migration 0008), so even a raw ``UPDATE`` fails.

Core imports no feature: action codes are plain strings that features pass in.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from sqlalchemy import JSON, DateTime, Integer, Select, String, event, func, select
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from smart365.core.db import Base, Database, to_local, utcnow
from smart365.core.i18n import N_, gettext
from smart365.core.tenancy import SYSTEM, Role, principal_of

TABLE = "audit_log"


class Action(StrEnum):
    """What was done. The code is stored; :data:`ACTION_LABELS` says it in words."""

    LOGIN = "auth.login"
    LOGOUT = "auth.logout"
    USER_CREATE = "user.create"
    USER_ROLE = "user.role"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    DELETE = "record.delete"
    EXPORT = "data.export"
    IMPORT = "data.import"
    MODEL_DEPLOY = "model.deploy"
    MODEL_ROLLBACK = "model.rollback"
    TESTBED_DEPLOY = "testbed.deploy"
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    SIGNAL_ASSIGN = "signal.assign"
    CORRECTION_POLICY = "ingest.correction_policy"
    NOTIFY_CHANNEL = "notify.channel"
    NOTIFY = "notify.delivery"
    OPCUA_TRUST = "opcua.trust"
    OPCUA_UNTRUST = "opcua.untrust"
    CALL_CREATE = "programme.call_create"
    CALL_OPEN = "programme.call_open"
    APPLICATION_SUBMIT = "programme.apply"
    SELECTION_RUN = "programme.select"
    COLLAB_OFFER = "collab.offer"
    COLLAB_AGREEMENT = "collab.agreement"
    COLLAB_PULL = "collab.pull"
    COLLAB_REVOKE = "collab.revoke"
    COLLAB_BENCH_JOIN = "collab.bench_join"
    COLLAB_BENCH_LEAVE = "collab.bench_leave"
    SOURCING_NEED = "sourcing.need"
    SOURCING_PROFILE = "sourcing.profile"
    SOURCING_ANSWER = "sourcing.answer"
    SOURCING_STAGE = "sourcing.stage"


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    BLOCKED = "blocked"  # refused before it was tried, e.g. a login while throttled


ACTION_LABELS: dict[str, str] = {
    Action.LOGIN: N_("Login"),
    Action.LOGOUT: N_("Logout"),
    Action.USER_CREATE: N_("User added"),
    Action.USER_ROLE: N_("Role changed"),
    Action.USER_DISABLE: N_("User disabled"),
    Action.USER_ENABLE: N_("User enabled"),
    Action.DELETE: N_("Deleted"),
    Action.EXPORT: N_("Exported"),
    Action.IMPORT: N_("Imported"),
    Action.MODEL_DEPLOY: N_("Model deployed"),
    Action.MODEL_ROLLBACK: N_("Model rolled back"),
    Action.TESTBED_DEPLOY: N_("Test-bed model deployed"),
    Action.API_KEY_CREATE: N_("API key created"),
    Action.API_KEY_REVOKE: N_("API key revoked"),
    Action.NOTIFY_CHANNEL: N_("Alarm channel added"),
    Action.NOTIFY: N_("Alarm notification"),
    Action.OPCUA_TRUST: N_("OPC UA server trusted"),
    Action.OPCUA_UNTRUST: N_("OPC UA server no longer trusted"),
    Action.SIGNAL_ASSIGN: N_("Signal mapped to a tag"),
    Action.CORRECTION_POLICY: N_("Correction policy changed"),
    Action.CALL_CREATE: N_("Support call created"),
    Action.CALL_OPEN: N_("Support call opened"),
    Action.APPLICATION_SUBMIT: N_("Application submitted"),
    Action.SELECTION_RUN: N_("Selection run"),
    Action.COLLAB_OFFER: N_("Data offer published or withdrawn"),
    Action.COLLAB_AGREEMENT: N_("Data agreement step"),
    Action.COLLAB_PULL: N_("Shared data pulled"),
    Action.COLLAB_REVOKE: N_("Data agreement revoked"),
    Action.COLLAB_BENCH_JOIN: N_("Joined the peer-benchmark pool"),
    Action.COLLAB_BENCH_LEAVE: N_("Left the peer-benchmark pool"),
    Action.SOURCING_NEED: N_("Sourcing need posted or closed"),
    Action.SOURCING_PROFILE: N_("Supplier profile or quality consent changed"),
    Action.SOURCING_ANSWER: N_("Sourcing need answered"),
    Action.SOURCING_STAGE: N_("Sourcing pipeline stage changed"),
}
OUTCOME_LABELS: dict[str, str] = {
    Outcome.OK: N_("Succeeded"),
    Outcome.FAILED: N_("Failed"),
    Outcome.BLOCKED: N_("Blocked"),
}


class AuditEntry(Base):
    """One audited act. No foreign keys: a trail must outlive the user or firm it names."""

    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    user_email: Mapped[str | None] = mapped_column(String(254))  # as it was then: emails change
    address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    company_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(10), default=Outcome.OK)


class AuditTampering(RuntimeError):
    """Code tried to change or delete an audit row: a programming error, never a user's."""


@dataclass(frozen=True)
class Actor:
    """Who acts in a request: the user (id and email as they are now) and the client address."""

    user_id: int | None
    email: str | None
    address: str | None = None


def actor_of(session: Session) -> Actor:
    """The session's actor: the one the web layer set, else the principal (the system has no email)."""
    actor = session.info.get("actor")
    if isinstance(actor, Actor):
        return actor
    principal = principal_of(session)
    return Actor(user_id=principal.user_id, email="system" if principal.role is Role.SYSTEM else None)


def record(
    session: Session,
    action: Action,
    target: str | None = None,
    *,
    company_id: int | None = None,
    details: dict[str, Any] | None = None,
    outcome: Outcome = Outcome.OK,
    actor: Actor | None = None,
) -> AuditEntry:
    """Add one entry to the trail, in ``session``'s transaction (it commits or rolls back with the act).

    ``target`` names what was acted on, as ``kind:id`` (``"site:12"``) or a word (``"companies"``).
    """
    who = actor or actor_of(session)
    entry = AuditEntry(
        at=utcnow(),
        user_id=who.user_id,
        user_email=(who.email or "")[:254] or None,
        address=(who.address or "")[:64] or None,
        action=str(action),
        target=target[:200] if target else None,
        company_id=company_id,
        details=_jsonable(details or {}),
        outcome=str(outcome),
    )
    session.add(entry)
    return entry


def record_in(db: Database, action: Action, target: str | None = None, **kwargs: Any) -> None:
    """Record in a transaction of its own: for acts that fail (their own session rolls back)."""
    with db.session(SYSTEM) as session:
        record(session, action, target, **kwargs)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    """Details as JSON values (enums and dates as text), so every backend stores the same thing."""
    plain = (str, int, float, bool, type(None))
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, dict):
            out[str(key)] = _jsonable(value)
        elif isinstance(value, list | tuple):
            out[str(key)] = [v if isinstance(v, plain) else str(v) for v in value]
        else:
            out[str(key)] = value if isinstance(value, plain) and not isinstance(value, StrEnum) else str(value)
    return out


# -- append-only, as far as the ORM goes (the database trigger covers raw SQL) ------------------------------


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(obj, AuditEntry) for obj in (*session.dirty, *session.deleted)):
        raise AuditTampering("the audit log is append-only: its rows are never changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(m.class_ is AuditEntry for m in state.all_mappers):
        raise AuditTampering("the audit log is append-only: its rows are never changed or deleted")


# -- reading: the admin's page and its Excel export --------------------------------------------------------


@dataclass
class AuditFilter:
    """Filters of the audit page; every field is optional. Times are aware (the page converts 한국 시간)."""

    user: str | None = None  # part of the email
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def query(self) -> Select[AuditEntry]:
        query = select(AuditEntry)
        if self.user and self.user.strip():
            query = query.where(AuditEntry.user_email.ilike(f"%{self.user.strip().lower()}%"))
        if self.action:
            query = query.where(AuditEntry.action == self.action)
        if self.outcome:
            query = query.where(AuditEntry.outcome == self.outcome)
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until)
        return query


def search(session: Session, flt: AuditFilter, page: int = 1, size: int = 50) -> tuple[list[AuditEntry], int]:
    """One page of entries matching ``flt``, newest first, and how many match in all."""
    query = flt.query()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest_first = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return list(session.scalars(newest_first.offset((page - 1) * size).limit(size))), total


def export_rows(session: Session, flt: AuditFilter, limit: int = 100_000) -> Sequence[AuditEntry]:
    """Every entry matching ``flt`` (up to ``limit``), newest first, for the Excel export."""
    return session.scalars(flt.query().order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)).all()


#: Export columns: (Korean header, English header).
COLUMNS = (
    ("일시 (한국 시간)", "time (KST)"),
    ("사용자", "user"),
    ("사용자 번호", "user id"),
    ("접속 주소", "address"),
    ("작업", "action"),
    ("작업 코드", "action code"),
    ("대상", "target"),
    ("기업 번호", "company id"),
    ("결과", "outcome"),
    ("상세", "details"),
)


def export_workbook(entries: Iterable[AuditEntry]) -> bytes:
    """An Excel workbook of ``entries``: one row each, times in Korean time, labels in the current language."""
    import json

    book = Workbook(write_only=True)
    sheet = book.create_sheet("audit")
    sheet.append([f"{ko} ({en})" for ko, en in COLUMNS])
    for e in entries:
        sheet.append(
            [
                to_local(e.at).strftime("%Y-%m-%d %H:%M:%S"),
                e.user_email,
                e.user_id,
                e.address,
                gettext(ACTION_LABELS.get(e.action, e.action)),
                e.action,
                e.target,
                e.company_id,
                gettext(OUTCOME_LABELS.get(e.outcome, e.outcome)),
                json.dumps(e.details, ensure_ascii=False) if e.details else None,
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# -- where a request comes from --------------------------------------------------------------------------


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str | None:
    """The client's address: the peer, unless the peer is a trusted proxy; then the right-most address in
    ``X-Forwarded-For`` that is not a trusted proxy (a client can put anything on the left of that list).

    >>> client_address("10.0.0.5", "203.0.113.9", [])
    '10.0.0.5'
    >>> client_address("10.0.0.5", "198.51.100.1, 203.0.113.9", ["10.0.0.0/8"])
    '203.0.113.9'
    >>> client_address("10.0.0.5", "203.0.113.9, 10.0.0.7", ["10.0.0.0/8"])
    '203.0.113.9'
    """
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
    if not networks or not forwarded_for or not _within(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, networks):
            return hop if _is_ip(hop) else peer
    return hops[0] if hops else peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str | None, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if not address or not _is_ip(address):
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in networks)
