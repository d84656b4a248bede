"""Tenancy: who may see and change which firm's rows, enforced once for every query.

A :class:`Principal` rides on each session (``session.info["principal"]``). Two session hooks do the
rest, so no route or service repeats a check:

* every ORM SELECT, UPDATE and DELETE gets ``WHERE <tenant_key> IN (visible companies)`` added for
  each :class:`~smart365.core.db.TenantScoped` table it touches;
* every flush refuses to insert, change or delete a row of a company the principal may not change.

A session without a principal fails closed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from smart365.core.db import Base, TenantScoped
from smart365.core.errors import Forbidden


class Role(StrEnum):
    """User roles. The centre runs the programme; firms and partners see only their share."""

    CENTRE_ADMIN = "centre_admin"
    CONSULTANT = "consultant"
    COMPANY_MEMBER = "company_member"
    DATA_PARTNER = "data_partner"
    SYSTEM = "system"  # the CLI, the demo seeder and workers; never a login


@dataclass(frozen=True)
class Principal:
    """Who is acting, and which companies that reaches.

    ``api_key_id`` marks a firm's API key (a machine or gateway, no person): the web layer lets such a
    principal send data for its firm and nothing else.

    >>> p = Principal(user_id=7, role=Role.CONSULTANT, assigned=frozenset({1, 2}))
    >>> sorted(p.visible_companies()), p.can_change(3)
    ([1, 2], False)
    """

    user_id: int | None
    role: Role
    company_id: int | None = None
    assigned: frozenset[int] = field(default_factory=frozenset)
    shared: frozenset[int] = field(default_factory=frozenset)
    api_key_id: int | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.CENTRE_ADMIN, Role.SYSTEM)

    def visible_companies(self) -> frozenset[int] | None:
        """Company ids this principal may read; ``None`` means all of them."""
        if self.sees_everything:
            return None
        if self.role is Role.CONSULTANT:
            return self.assigned
        if self.role is Role.COMPANY_MEMBER:
            return frozenset({self.company_id}) if self.company_id is not None else frozenset()
        return self.shared  # data partner: only what firms agreed to share

    def changeable_companies(self) -> frozenset[int] | None:
        """Company ids this principal may write; ``None`` means all. Partners never write firm data."""
        if self.role is Role.DATA_PARTNER:
            return frozenset()
        return self.visible_companies()

    def can_change(self, company_id: int | None) -> bool:
        """Whether rows of ``company_id`` may be changed; a new company (``None``) needs the centre."""
        allowed = self.changeable_companies()
        if allowed is None:
            return True
        return company_id is not None and company_id in allowed

    def require(self, *roles: Role) -> None:
        """Raise :class:`Forbidden` unless this principal has one of ``roles`` (SYSTEM always passes)."""
        if self.role is not Role.SYSTEM and self.role not in roles:
            raise Forbidden()


SYSTEM = Principal(user_id=None, role=Role.SYSTEM)


def principal_of(session: Session) -> Principal:
    """The session's principal; an unscoped session is a programming error and fails closed."""
    principal = session.info.get("principal")
    if not isinstance(principal, Principal):
        raise RuntimeError("session has no principal: open it with Database.session(principal)")
    return principal


def _tenant_classes() -> list[type[TenantScoped]]:
    """Every mapped class holding firm data (looked up each time: features may map more later)."""
    return [m.class_ for m in Base.registry.mappers if issubclass(m.class_, TenantScoped)]


def _tenant_criteria(companies: frozenset[int]) -> tuple[Any, ...]:
    """The loader criteria that keep a statement to ``companies``, built once per set of firms (and per set of
    mapped classes): building them for every class on every statement cost about a millisecond each."""
    return _criteria_for(companies, len(Base.registry.mappers))


@functools.lru_cache(maxsize=4096)
def _criteria_for(companies: frozenset[int], _mapped: int) -> tuple[Any, ...]:
    ids = sorted(companies)
    return tuple(
        with_loader_criteria(cls, getattr(cls, cls.tenant_key).in_(ids), include_aliases=True)
        for cls in _tenant_classes()
    )


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if state.is_column_load:
        return
    principal = principal_of(state.session)
    if state.is_select:
        allowed = principal.visible_companies()
    elif state.is_update or state.is_delete:
        allowed = principal.changeable_companies()
    else:
        return
    if allowed is not None:
        state.statement = state.statement.options(*_tenant_criteria(allowed))


@event.listens_for(Session, "before_flush")
def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    principal = principal_of(session)
    if principal.sees_everything:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, TenantScoped) and not principal.can_change(getattr(obj, obj.tenant_key)):
            raise Forbidden()
