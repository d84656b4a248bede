"""Ticket categories (with SLA targets) and the synthetic seed tickets, both read from data files.

``data/categories.yaml`` is centre-editable: ids, Korean and English names, descriptions and the default
SLA targets in business hours per priority. ``data/seed_tickets.yaml`` holds labelled example tickets written
by the Smart365 developers (synthetic, not real firms' data) to bootstrap the classifier and similar cases.

>>> [c.id for c in load_categories()][:3]
['legacy_data', 'connectivity', 'mes_erp']
>>> load_categories()[0].sla["urgent"].first_response
2.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smart365.core.errors import Invalid, NotFound
from smart365.core.i18n import N_, current_locale

DATA_DIR = Path(__file__).resolve().parent / "data"
CATEGORIES_FILE = DATA_DIR / "categories.yaml"
SEED_TICKETS_FILE = DATA_DIR / "seed_tickets.yaml"

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[Priority, ...] = ("urgent", "high", "normal", "low")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


class SlaTarget(BaseModel):
    """Business hours allowed until the first response and until resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_response: float = Field(gt=0)
    resolution: float = Field(gt=0)

    @model_validator(mode="after")
    def _response_before_resolution(self) -> SlaTarget:
        if self.first_response > self.resolution:
            raise ValueError("first_response must not exceed resolution")
        return self


class Texts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ko: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Category(BaseModel):
    """One ticket category."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    ko: str = Field(min_length=1)
    en: str = Field(min_length=1)
    description: Texts
    sla: dict[Priority, SlaTarget]

    @model_validator(mode="after")
    def _every_priority(self) -> Category:
        missing = [p for p in PRIORITIES if p not in self.sla]
        if missing:
            raise ValueError(f"SLA targets missing for {missing}")
        return self

    def label(self, locale: str | None = None) -> str:
        """The name in ``locale`` (default: the current one)."""
        return self.en if (locale or current_locale.get()) == "en" else self.ko


class CategoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    categories: list[Category] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> CategoryFile:
        ids = [c.id for c in self.categories]
        if len(ids) != len(set(ids)):
            raise ValueError("category ids must be unique")
        return self


def read_data_file(path: Path) -> bytes:
    """The bytes of a data file, or :class:`NotFound`. Loaders cache on (path, bytes), so an edited file is
    picked up on the next call without a restart."""
    if not path.is_file():
        raise NotFound(N_("The data file {path} does not exist."), path=str(path))
    return path.read_bytes()


def _invalid_file(path: Path, error: ValidationError) -> Invalid:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return Invalid(
        N_("The data file {path} is not valid at {where}: {reason}"), path=str(path), where=where, reason=first["msg"]
    )


def load_categories(path: Path | None = None) -> list[Category]:
    """Categories from ``path`` (default: the packaged ``data/categories.yaml``), validated.

    >>> len(load_categories())
    11
    """
    path = path or CATEGORIES_FILE
    return list(_load_categories(path, read_data_file(path)))


@lru_cache(maxsize=8)
def _load_categories(path: Path, content: bytes) -> tuple[Category, ...]:
    try:
        return tuple(CategoryFile.model_validate(yaml.safe_load(content)).categories)
    except ValidationError as error:
        raise _invalid_file(path, error) from error


def categories_by_id(path: Path | None = None) -> dict[str, Category]:
    """``{id: Category}``.

    >>> categories_by_id()["quality"].label("ko")
    '품질·불량'
    """
    return {c.id: c for c in load_categories(path)}


def get_category(category_id: str, path: Path | None = None) -> Category:
    """One category, or :class:`NotFound`."""
    found = categories_by_id(path).get(category_id)
    if found is None:
        raise NotFound(N_("Unknown ticket category: {category}."), category=category_id)
    return found


@dataclass(frozen=True)
class SeedTicket:
    """A labelled example ticket: what the firm wrote and what the expert did."""

    id: str
    category: str
    topic: str
    text: str
    resolution: str

    @property
    def lang(self) -> str:
        """``ko`` when the ticket contains Hangul, else ``en``."""
        return "ko" if _HANGUL.search(self.text) else "en"


@dataclass(frozen=True)
class SeedSet:
    """The seed file's provenance notice and its tickets."""

    provenance: str
    notice: str
    tickets: tuple[SeedTicket, ...]


def load_seed_tickets(path: Path | None = None) -> SeedSet:
    """The seed tickets, ids ``<category>-<topic>-<n>`` in file order; categories checked against the list.

    >>> seed = load_seed_tickets()
    >>> seed.provenance, len(seed.tickets) >= 440
    ('synthetic', True)
    """
    path = path or SEED_TICKETS_FILE
    return _load_seed(path, read_data_file(path))


@lru_cache(maxsize=4)
def _load_seed(path: Path, content: bytes) -> SeedSet:
    raw = yaml.safe_load(content)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("tickets"), Mapping):
        raise Invalid(
            N_("The data file {path} is not valid at {where}: {reason}"),
            path=str(path),
            where="tickets",
            reason="a mapping category → topic → tickets is required",
        )
    known = set(categories_by_id())
    tickets: list[SeedTicket] = []
    for category, topics in raw["tickets"].items():
        if category not in known:
            raise NotFound(N_("Unknown ticket category: {category}."), category=str(category))
        for topic, items in topics.items():
            for n, item in enumerate(items, start=1):
                tickets.append(
                    SeedTicket(
                        f"{category}-{topic}-{n:02d}",
                        str(category),
                        str(topic),
                        str(item["q"]).strip(),
                        str(item["a"]).strip(),
                    )
                )
    return SeedSet(str(raw.get("provenance", "")), str(raw.get("notice", "")).strip(), tuple(tickets))
