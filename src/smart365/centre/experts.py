"""The expert registry and the centre's own priority weights: both edited by the centre administrator.

Priority weights ship as ``data/priority_weights.yaml``; once the centre saves its own, they live in
``<data dir>/centre/priority_weights.yaml`` and win over the shipped file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.centre.assign import Expert as ExpertProfile
from smart365.centre.categories import categories_by_id
from smart365.centre.models import Expert
from smart365.centre.priority import PriorityWeights, load_weights
from smart365.core.errors import Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.settings import Settings
from smart365.core.tenancy import Role, principal_of

EXAMPLE: dict[str, Any] = {
    "name": "정보안 전문위원",
    "organisation": "스마트제조혁신추진단",
    "region": "경기",
    "skills": {"security": 5, "connectivity": 3},
    "equipment": ["cnc"],
    "languages": ["ko", "en"],
    "capacity": 8,
    "max_open_tickets": 10,
}


class ExpertIn(BaseModel):
    """A centre expert: skills by ticket category (level 1–5), equipment kinds, region, capacity, languages."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: str = Field(min_length=1, max_length=100)
    organisation: str | None = Field(default=None, max_length=200)
    region: str
    skills: dict[str, int] = Field(default_factory=dict)
    equipment: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["ko"])
    capacity: int = Field(default=10, ge=0, le=500)
    max_open_tickets: int = Field(default=10, ge=0, le=500)
    available: bool = True


class ExpertOut(ExpertIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


def _checked(data: ExpertIn) -> ExpertIn:
    """Region as its code; unknown categories, levels, kinds or regions refused with the reason."""
    for category in data.skills:
        if category not in categories_by_id():
            raise Invalid(N_("Unknown ticket category: {category}."), category=category)
    profile = ExpertProfile(
        id="new", skills=data.skills, region=data.region, capacity=data.capacity,
        equipment=frozenset(data.equipment), languages=frozenset(data.languages),
        max_open_tickets=data.max_open_tickets,
    )  # fmt: skip
    return data.model_copy(update={"region": profile.region})


def list_experts(session: Session) -> list[Expert]:
    """Every expert, by name (centre staff)."""
    principal_of(session).require(Role.CENTRE_ADMIN, Role.CONSULTANT)
    return list(session.scalars(select(Expert).order_by(Expert.name)))


def save_expert(session: Session, data: ExpertIn, expert_id: int | None = None) -> Expert:
    """Register a new expert or replace an existing one's profile (centre administrators)."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    expert = session.get(Expert, expert_id) if expert_id is not None else Expert()
    if expert is None:
        raise NotFound(N_("The expert does not exist."))
    for key, value in _checked(data).model_dump().items():
        setattr(expert, key, value)
    session.add(expert)
    session.flush()
    return expert


def weights_file(settings: Settings) -> Path:
    return settings.data_dir / "centre" / "priority_weights.yaml"


def current_weights(settings: Settings) -> PriorityWeights:
    """The centre's saved priority weights, else the shipped ones."""
    path = weights_file(settings)
    return load_weights(path if path.exists() else None)


def save_weights(session: Session, settings: Settings, weights: PriorityWeights) -> None:
    """Keep the centre's weights in its data directory (validated before they are written)."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    path = weights_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(weights.model_dump(), allow_unicode=True, sort_keys=False), encoding="utf-8")
