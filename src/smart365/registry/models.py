"""Registry tables: a company and its ISA-95 hierarchy. Every row carries ``company_id``."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from smart365.core.db import Base, CompanyOwned, TenantScoped, Timestamped
from smart365.core.i18n import gettext
from smart365.core.redact import keep_password, redact_url
from smart365.registry.vocab import SIGNAL_LABELS


class Company(TenantScoped, Timestamped, Base):
    """A manufacturer (기업). Its own id is its tenant key."""

    __tablename__ = "companies"
    tenant_key = "id"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    brn: Mapped[str] = mapped_column(String(10), unique=True)
    ksic_code: Mapped[str] = mapped_column(String(6), index=True)
    sobujang: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    sobujang_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    region: Mapped[str] = mapped_column(String(20), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    employees: Mapped[int | None] = mapped_column(Integer)
    revenue_band: Mapped[str | None] = mapped_column(String(20))
    systems: Mapped[list[str]] = mapped_column(JSON, default=list)
    smart_factory_year: Mapped[int | None] = mapped_column(Integer)
    #: a point re-sent with another value: keep_first, overwrite or keep_both (telemetry.corrections)
    correction_policy: Mapped[str] = mapped_column(String(12), default="keep_first", server_default="keep_first")

    sites: Mapped[list[Site]] = relationship(
        back_populates="company", cascade="all, delete-orphan", order_by="Site.name"
    )


class Site(CompanyOwned, Timestamped, Base):
    """A plant or site (사업장)."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("company_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))

    company: Mapped[Company] = relationship(back_populates="sites")
    lines: Mapped[list[Line]] = relationship(back_populates="site", cascade="all, delete-orphan", order_by="Line.name")


class Line(CompanyOwned, Timestamped, Base):
    """A production line or work centre (라인·공정)."""

    __tablename__ = "lines"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    process: Mapped[str | None] = mapped_column(String(200))

    site: Mapped[Site] = relationship(back_populates="lines")
    equipment: Mapped[list[Equipment]] = relationship(
        back_populates="line", cascade="all, delete-orphan", order_by="Equipment.name"
    )


class Equipment(CompanyOwned, Timestamped, Base):
    """A machine (설비) and how it is connected."""

    __tablename__ = "equipment"
    __table_args__ = (UniqueConstraint("line_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), default="other")
    maker: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    year: Mapped[int | None] = mapped_column(Integer)
    protocol: Mapped[str] = mapped_column(String(20), default="none")
    endpoint: Mapped[str | None] = mapped_column(String(300))

    line: Mapped[Line] = relationship(back_populates="equipment")
    tags: Mapped[list[Tag]] = relationship(
        back_populates="equipment", cascade="all, delete-orphan", order_by="Tag.name"
    )

    @validates("endpoint")
    def _keep_password(self, _key: str, endpoint: str | None) -> str | None:
        """An address sent back with its password masked keeps the password it had (:mod:`~smart365.core.redact`)."""
        return keep_password(endpoint, self.endpoint)

    @property
    def shown_endpoint(self) -> str | None:
        """The address as pages and API answers show it: its password masked."""
        return redact_url(self.endpoint)


class Tag(CompanyOwned, Timestamped, Base):
    """A measured signal of a machine (태그): what connectors read and the store keeps."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("equipment_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))  # what people read (태그 표시 이름), e.g. 주축 부하
    unit: Mapped[str | None] = mapped_column(String(30))
    data_type: Mapped[str] = mapped_column(String(10), default="float")
    address: Mapped[str | None] = mapped_column(String(300))
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)

    equipment: Mapped[Equipment] = relationship(back_populates="tags")

    @property
    def label(self) -> str:
        """The tag as people read it: its display name, else a known signal's name in the current language,
        else its name (``spindle_load`` → 주축 부하)."""
        if self.display_name:
            return self.display_name
        return gettext(SIGNAL_LABELS[self.name]) if self.name in SIGNAL_LABELS else self.name

    @property
    def machine_label(self) -> str:
        """The tag with its machine, as people read it: ``MACHINE/label`` (MCT-01/주축 부하)."""
        return f"{self.equipment.name}/{self.label}"
