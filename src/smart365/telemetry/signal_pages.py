"""A firm's new-signal inbox (신규 신호함) and its series mappings: the page under the firm
(``/companies/{id}/signals``, linked from the firm's page) and the same for scripts (``/api/v1/…/signals``).

The page also holds the firm's correction policy (정정 정책: what a point re-sent with another value does, see
:mod:`~smart365.telemetry.corrections`) and its latest revisions.

The inbox lists the series the firm's InfluxDB clients sent that no tag stands for yet, with their last value,
first sighting and how many points are kept for them; a person names each one (in Korean, as the shop
floor calls it) and assigns it to a machine, which makes the registry tag, maps the series to it and
copies the kept points onto it. Who may do what is the registry's rule: whoever may change the firm's tags
(the centre, the firm's consultant, the firm's members); tenancy hides every other firm's series.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Form, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from smart365.registry import service as registry
from smart365.registry.models import Company, Equipment, Line, Site
from smart365.telemetry import corrections, signals
from smart365.telemetry.api import get_store
from smart365.telemetry.models import SeriesMapping
from smart365.telemetry.store import Correction
from smart365.web.deps import ApiSession, Csrf, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["signal inbox"])


def _who(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return f"{user.name} ({user.email})" if user is not None else "system"


def _machines(session: Session, company_id: int) -> list[tuple[int, str]]:
    """The firm's machines as the form offers them: ``(id, "site · line · machine")``."""
    query = (
        select(Equipment.id, Site.name, Line.name, Equipment.name)
        .join(Line, Equipment.line_id == Line.id)
        .join(Site, Line.site_id == Site.id)
        .where(Equipment.company_id == company_id)
        .order_by(Site.name, Line.name, Equipment.name)
    )
    return [(ident, f"{site} · {line} · {name}") for ident, site, line, name in session.execute(query)]


@pages.get("/companies/{company_id}/signals")
def signals_page(request: Request, company_id: int, session: PageSession) -> Response:
    """The inbox (newest first) with a form per signal, and the series already mapped to tags."""
    company = registry.get(session, Company, company_id)
    store = get_store(request)
    base = str(request.base_url).rstrip("/")
    return render(
        request,
        "telemetry/signals.html",
        active="companies",
        company=company,
        inbox=signals.list_series(session, store, company.id, inbox=True),
        mapped=signals.list_series(session, store, company.id, inbox=False),
        machines=_machines(session, company.id),
        write_url=base,
        policy=company.correction_policy,
        policies=corrections.POLICY_LABELS,
        revisions=corrections.recent_revisions(session, store, company.id),
    )


@pages.post("/companies/{company_id}/signals/corrections", dependencies=[Csrf])
def corrections_form(
    company_id: int, session: PageSession, policy: Annotated[str, Form()] = ""
) -> Response:
    """Change the firm's correction policy (audited)."""
    company = registry.get(session, Company, company_id)
    corrections.set_policy(session, company, policy)
    session.commit()
    return RedirectResponse(f"/companies/{company.id}/signals#corrections", status_code=303)


@pages.post("/companies/{company_id}/signals/{series_id}/assign", dependencies=[Csrf])
def signals_assign(
    request: Request,
    company_id: int,
    series_id: int,
    session: PageSession,
    equipment_id: Annotated[int | None, Form()] = None,
    name: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
) -> Response:
    """Name the signal and assign it to a machine: a new tag, the mapping, the kept points copied onto it."""
    company = registry.get(session, Company, company_id)
    row = signals.get_series(session, company.id, series_id)
    signals.assign(session, row, by=_who(request), equipment_id=equipment_id, name=name, unit=unit)
    session.commit()  # the mapping first: later writes go to the tag, then the kept points follow
    signals.attach_held_points(get_store(request), row)
    return RedirectResponse(f"/companies/{company.id}/signals", status_code=303)


class SignalOut(BaseModel):
    """A series as the inbox or the mapping list shows it."""

    id: int
    series: str = Field(description="canonical name: measurement,tag=value,… field (tags sorted)")
    measurement: str
    tags: dict[str, str]
    field: str
    source: str | None = Field(description="where it first came from (db=… or bucket=…)")
    first_seen_at: datetime
    tag_id: int | None = Field(description="the tag it is stored as; null while it waits in the inbox")
    tag_name: str | None
    equipment_id: int | None
    last_ts: datetime | None
    last_value: float | None
    points: int = Field(description="points kept for it (in the inbox) or stored for its tag")


def _out(view: signals.SeriesView) -> SignalOut:
    row, tag = view.row, view.tag
    return SignalOut(
        id=row.id, series=row.series, measurement=view.measurement, tags=view.tags, field=view.field,
        source=row.source, first_seen_at=row.first_seen_at, tag_id=row.tag_id, tag_name=tag.name if tag else None,
        equipment_id=tag.equipment_id if tag else None, last_ts=view.last_ts, last_value=view.last_value,
        points=view.points,
    )  # fmt: skip


class AssignIn(BaseModel):
    """Name a signal and put it on a machine (a new tag), or choose one of the firm's tags for it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"equipment_id": 1, "name": "프레스 유압 온도", "unit": "°C"}]}
    )

    equipment_id: int | None = None
    name: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=30)
    tag_id: int | None = Field(default=None, description="an existing tag instead of a new one")


class MapIn(BaseModel):
    """Map a series, by its line-protocol name, to one of the firm's tags (before or after it first arrives)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"series": "cpu,host=press-01 usage_idle", "tag_id": 1}]})

    series: str = Field(min_length=3, max_length=1000)
    tag_id: int


def _view(request: Request, session: Session, row: SeriesMapping) -> SignalOut:
    views = signals.list_series(session, get_store(request), row.company_id, inbox=row.tag_id is None, limit=10_000)
    return _out(next(v for v in views if v.row.id == row.id))


@api.get("/companies/{company_id}/signals", response_model=list[SignalOut])
def list_signals(
    request: Request,
    session: ApiSession,
    company_id: int,
    state: Annotated[str, Query(pattern="^(inbox|mapped)$")] = "inbox",
) -> list[SignalOut]:
    """The firm's inbox (``state=inbox``, newest first) or its mapped series (``state=mapped``)."""
    registry.get(session, Company, company_id)
    views = signals.list_series(session, get_store(request), company_id, inbox=state == "inbox")
    return [_out(v) for v in views]


@api.post("/companies/{company_id}/signals/{series_id}/assign", response_model=SignalOut)
def assign_signal(request: Request, session: ApiSession, company_id: int, series_id: int, data: AssignIn) -> SignalOut:
    """Assign an inbox signal (or re-map a mapped one): later points go to the tag, kept points are copied."""
    registry.get(session, Company, company_id)
    row = signals.get_series(session, company_id, series_id)
    signals.assign(session, row, by=_who(request), tag_id=data.tag_id, equipment_id=data.equipment_id,
                   name=data.name, unit=data.unit)  # fmt: skip
    session.commit()
    signals.attach_held_points(get_store(request), row)
    return _view(request, session, row)


@api.post("/companies/{company_id}/signals", response_model=SignalOut, status_code=201)
def map_signal(request: Request, session: ApiSession, company_id: int, data: MapIn) -> SignalOut:
    """Map a series by name to a tag of the firm, e.g. before its Telegraf is switched on."""
    registry.get(session, Company, company_id)
    row = signals.map_series(session, company_id, data.series, data.tag_id, by=_who(request))
    session.commit()
    signals.attach_held_points(get_store(request), row)
    return _view(request, session, row)


class RevisionOut(BaseModel):
    """A value a point was sent with that is not (or no longer) its value."""

    received_at: datetime
    tag_id: int
    ts: datetime
    value: float
    outcome: str = Field(description="refused (first value kept), replaced (overwritten) or correction (kept both)")


class CorrectionsOut(BaseModel):
    """The firm's correction policy and its latest revisions (last 30 days, newest first)."""

    policy: Correction
    revisions: list[RevisionOut]


class CorrectionsIn(BaseModel):
    """What a point re-sent with another value does from now on."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"policy": "overwrite"}]})

    policy: Correction


def _corrections(request: Request, session: Session, company: Company) -> CorrectionsOut:
    revisions = corrections.recent_revisions(session, get_store(request), company.id)
    return CorrectionsOut(policy=cast(Correction, company.correction_policy), revisions=[
        RevisionOut(received_at=r.received_at, tag_id=r.tag.id, ts=r.ts, value=r.value, outcome=r.outcome)
        for r in revisions])  # fmt: skip


@api.get("/companies/{company_id}/corrections", response_model=CorrectionsOut)
def corrections_get(request: Request, company_id: int, session: ApiSession) -> CorrectionsOut:
    """The firm's correction policy and latest revisions."""
    return _corrections(request, session, registry.get(session, Company, company_id))


@api.put("/companies/{company_id}/corrections", response_model=CorrectionsOut)
def corrections_put(request: Request, company_id: int, body: CorrectionsIn, session: ApiSession) -> CorrectionsOut:
    """Set the firm's correction policy (audited)."""
    company = registry.get(session, Company, company_id)
    corrections.set_policy(session, company, body.policy)
    session.commit()
    return _corrections(request, session, company)


routers = (pages, api)
