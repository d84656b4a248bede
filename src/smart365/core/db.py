"""Records database: SQLAlchemy engine, declarative base and the shared column mixins.

SQLite file by default, PostgreSQL when ``SMART365_DATABASE_URL`` names it. Every session carries
a :class:`~smart365.core.tenancy.Principal`; :mod:`smart365.core.tenancy` scopes its queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Engine, ForeignKey, MetaData, create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from smart365.core.errors import Invalid
from smart365.core.i18n import N_

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


SEOUL = ZoneInfo("Asia/Seoul")


def utcnow() -> datetime:
    """Timezone-aware now in UTC: the one clock every timestamp column uses."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored moment as aware UTC (SQLite hands back naive datetimes; every stored time is UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_local(moment: datetime) -> datetime:
    """A stored moment in Korean time, as every page shows it.

    >>> to_local(datetime(2026, 1, 1, 0, 0)).strftime("%Y-%m-%d %H:%M")
    '2026-01-01 09:00'
    """
    return as_utc(moment).astimezone(SEOUL)


class Base(DeclarativeBase):
    """Declarative base of every Smart365 table."""

    metadata = MetaData(naming_convention=NAMING)


@event.listens_for(Base, "load", propagate=True)
def _zoned_on_load(target: Base, _context: Any) -> None:
    _zone_naive_moments(target)


@event.listens_for(Base, "refresh", propagate=True)
def _zoned_on_refresh(target: Base, _context: Any, _attrs: Any) -> None:
    _zone_naive_moments(target)


def _zone_naive_moments(row: Base) -> None:
    """Give every time a row loads its zone (UTC), in this one place for every table.

    SQLite hands ``DateTime(timezone=True)`` columns back naive; every stored moment is UTC, so a loaded row
    carries aware times on both databases and an answer serialises them with ``+00:00``.
    """
    state = sa_inspect(row)
    for key in _zoned_columns(type(row)):
        value = state.dict.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            set_committed_value(row, key, value.replace(tzinfo=UTC))


@cache
def _zoned_columns(model: type[Base]) -> tuple[str, ...]:
    mapper = sa_inspect(model)
    return tuple(
        attr.key
        for attr in mapper.column_attrs
        if any(isinstance(c.type, DateTime) and c.type.timezone for c in attr.columns)
    )


class Timestamped:
    """Adds ``created_at`` / ``updated_at``."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class TenantScoped:
    """A row that belongs to one company. ``tenant_key`` names the column holding that company's id.

    Every query on a subclass is filtered to the companies the session's principal may see, and every
    write is checked against those it may change (see :mod:`smart365.core.tenancy`).
    """

    tenant_key = "company_id"


class CompanyOwned(TenantScoped):
    """A firm-owned row: carries ``company_id`` itself, so scoping never needs a join."""

    @declared_attr
    def company_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr is a class-level hook
        return mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class OutOfRange(Invalid):
    """A whole number no column can hold (past 64 bits), e.g. ``/api/v1/companies/99999999999999999999``."""

    code = "out_of_range"
    default_message = N_("A number in the request is too large: at most {limit}.")


def libpq_url(url: str) -> str:
    """A PostgreSQL URL as libpq (psycopg, ``psql``) takes it: SQLAlchemy's driver suffix dropped.

    >>> libpq_url("postgresql+psycopg://smart365@db/smart365")
    'postgresql://smart365@db/smart365'
    """
    return url.replace("postgresql+psycopg://", "postgresql://")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout.

    Every statement's integer parameters are checked against the 64-bit range first, in this one place:
    an id, page or count from a path, a query, a form or a JSON body that no column can hold is a 422
    with the reason on every route, new ones included, instead of SQLite's ``OverflowError`` (a 500).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "before_cursor_execute", _check_int_range)
    return engine


def _check_int_range(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _executemany: bool
) -> None:
    """Refuse an integer parameter past 64 bits (:class:`OutOfRange`) before the driver sees it.

    >>> try:
    ...     _check_int_range(None, None, "", (1, "x", 2**63), None, False)
    ... except OutOfRange as error:
    ...     print(error)
    A number in the request is too large: at most 9223372036854775807.
    """
    many = isinstance(parameters, list | tuple) and bool(parameters) and isinstance(parameters[0], list | tuple | dict)
    for row in parameters if many else (parameters,):
        for value in row.values() if isinstance(row, dict) else row or ():
            if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
                raise OutOfRange(limit=INT64_MAX)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An engine plus its session factory.

    >>> from smart365.core.tenancy import SYSTEM
    >>> db = Database("sqlite://")
    >>> with db.session(SYSTEM) as s:
    ...     s.info["principal"] is SYSTEM
    True
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self, principal: Any) -> Iterator[Session]:
        """A session acting for ``principal``: commits on success, rolls back on error."""
        with self._factory(info={"principal": principal}) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
