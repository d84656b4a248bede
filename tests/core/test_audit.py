"""The audit log is append-only in the ORM and in the database itself, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from smart365.core import audit
from smart365.core.audit import Action, AuditEntry, AuditTampering, Outcome
from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM


def _one_entry(db: Database) -> int:
    with db.session(SYSTEM) as session:
        entry = audit.record(session, Action.LOGIN, "user:1", details={"via": "browser"}, outcome=Outcome.FAILED)
        session.flush()
        return entry.id


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"])
def test_the_database_refuses_to_change_or_delete_audit_rows(db: Database, statement: str) -> None:
    ident = _one_entry(db)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement))
    with db.session(SYSTEM) as session:
        entry = session.get(AuditEntry, ident)
        assert entry is not None and entry.outcome == "failed" and entry.details == {"via": "browser"}


@pytest.mark.parametrize("records_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgres_refuses_truncate_too(db: Database) -> None:  # SQLite has no TRUNCATE
    _one_entry(db)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_log"))


def test_the_orm_refuses_to_change_or_delete_audit_rows(db: Database) -> None:
    ident = _one_entry(db)
    with pytest.raises(AuditTampering), db.session(SYSTEM) as session:
        session.get(AuditEntry, ident).outcome = "ok"  # type: ignore[union-attr]
    with pytest.raises(AuditTampering), db.session(SYSTEM) as session:
        session.delete(session.get(AuditEntry, ident))
    with pytest.raises(AuditTampering), db.session(SYSTEM) as session:
        session.execute(update(AuditEntry).values(outcome="ok"))
    with pytest.raises(AuditTampering), db.session(SYSTEM) as session:
        session.execute(delete(AuditEntry))
    with db.session(SYSTEM) as session:
        assert session.scalars(select(AuditEntry.outcome)).all() == ["failed"]


def test_an_entry_rolls_back_with_its_act_and_a_failure_is_kept_on_its_own(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session(SYSTEM) as session:
        audit.record(session, Action.DELETE, "sites:1")
        raise RuntimeError("the deletion failed")
    audit.record_in(db, Action.LOGIN, outcome=Outcome.FAILED, actor=audit.Actor(None, "x@test.kr", "203.0.113.9"))
    with db.session(SYSTEM) as session:
        (entry,) = session.scalars(select(AuditEntry)).all()
        assert (entry.action, entry.user_email, entry.address) == ("auth.login", "x@test.kr", "203.0.113.9")


def test_forwarded_for_counts_only_behind_a_trusted_proxy() -> None:
    assert audit.client_address("203.0.113.9", "198.51.100.1", []) == "203.0.113.9"
    assert audit.client_address("203.0.113.9", "198.51.100.1", ["10.0.0.0/8"]) == "203.0.113.9"
    assert audit.client_address("10.0.0.2", "198.51.100.1", ["10.0.0.0/8"]) == "198.51.100.1"
    assert audit.client_address("10.0.0.2", "garbage", ["10.0.0.0/8"]) == "10.0.0.2"
