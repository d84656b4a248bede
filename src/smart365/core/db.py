"""Records database: SQLAlchemy engine, declarative base and the shared column mixins.

SQLite file by default, PostgreSQL when ``SMART365_DATABASE_URL`` names it. Every session carries
a :class:`~smart365.core.tenancy.Principal`; :mod:`smart365.core.tenancy` scopes its queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Engine, ForeignKey, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker

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


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


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
