"""Live monitoring pages: plant → line → machine status with OEE and alarms, a machine's live trends, the
alarm list (acknowledge, shelve) and the CSV import of history. Values stream by Server-Sent Events.

Every route takes the tenancy-scoped session (or, inside an event stream, opens one per tick for the same
principal), so another firm's plant is simply not found.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response, StreamingResponse

from smart365.analytics.registry import kind_label
from smart365.core import audit
from smart365.core.errors import Forbidden, Invalid, field_reason
from smart365.core.i18n import N_, _
from smart365.core.tenancy import Principal, Role
from smart365.core.uploads import HISTORY, ReadLimits
from smart365.monitoring import alarms, channels, notify, service
from smart365.monitoring.models import AlarmEvent, AlarmRule, NotificationChannel, OeeSetting
from smart365.monitoring.oee import REASONS, Oee, combine, percent, recent_shifts
from smart365.monitoring.runtime import machine_connection
from smart365.registry import service as registry
from smart365.registry.models import Company, Equipment, Tag
from smart365.telemetry.file_import import FileImportReport, import_file, parse_upload
from smart365.telemetry.pipeline import Pipeline, TagSpec
from smart365.telemetry.store import TimeSeriesStore
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, get_db, get_settings, system_of
from smart365.web.templating import FirmCell, FirmColumn, HomeCard, render, templates

pages = APIRouter(include_in_schema=False)

STREAM_INTERVAL_S = 2.0
STREAM_MAX_S = 600.0  # a browser's EventSource reconnects by itself; a bounded stream frees server resources
OEE_EVERY = 5  # ticks between OEE refreshes in a stream
TREND_WINDOW = timedelta(minutes=30)
STALE_AFTER_S = 60  # a machine silent this long is shown as not communicating
STATE_LABELS = service.STATE_LABELS
SEVERITY_LABELS = {"critical": N_("Critical"), "warning": N_("Warning"), "info": N_("Info")}
CONNECTOR_STATES = {
    "connecting": N_("connecting"),
    "connected": N_("connected"),
    "backoff": N_("reconnecting"),
    "stopped": N_("stopped"),
    "refused": N_("not started: its settings are refused"),
    "edge_offline": N_("offline ({reason})"),
    "edge_waiting": N_("connected, waiting for the machine's birth certificate"),
}
KIND_LABELS = {"high": N_("above the limit"), "low": N_("below the limit"), "state": N_("state equals")}


def store_of(request: Request) -> TimeSeriesStore:
    return system_of(request).store


templates.env.globals["localtime"] = service.localtime
templates.env.globals["reading"] = service.reading
templates.env.globals["condition_text"] = service.condition_text
templates.env.globals["alarm_text"] = service.alarm_text


def _labels() -> dict[str, Any]:
    """Texts the live pages' script needs, in the current language."""
    return {
        "states": {str(code): _(text) for code, text in STATE_LABELS.items()},
        "severities": {key: _(text) for key, text in SEVERITY_LABELS.items()},
        "ack": _("Acknowledge"),
        "acked": _("Acknowledged"),
        "no_alarms": _("No active alarms."),
        "no_data": _("No data yet"),
        "reasons": {str(code): _(text) for code, text in REASONS.items()},
        "stale": _("No data for {min} min"),
        "stale_after_s": STALE_AFTER_S,
        "availability": _("Availability"),
        "performance": _("Performance"),
        "quality": _("Quality"),
    }


# -- pages ----------------------------------------------------------------------------------------------


@pages.get("/monitoring")
def monitoring_index(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """A firm member goes to their plant; the centre, consultants and partners pick a monitored firm."""
    if principal.role is Role.COMPANY_MEMBER and principal.company_id is not None:
        return RedirectResponse(f"/monitoring/companies/{principal.company_id}", status_code=303)
    firms = session.scalars(
        select(Company).where(Company.id.in_(select(OeeSetting.company_id))).order_by(Company.name)
    ).all()
    open_alarms = dict(
        session.execute(
            select(AlarmEvent.company_id, func.count())
            .where(AlarmEvent.cleared_at.is_(None))
            .group_by(AlarmEvent.company_id)
        ).all()
    )
    return render(request, "monitoring/index.html", active="monitoring", firms=firms, open_alarms=open_alarms)


@pages.get("/monitoring/companies/{company_id}")
def plant_page(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The firm's plant live: lines → machine cards (state, key values, OEE) and the active alarms."""
    company = registry.get(session, Company, company_id)
    machines = service.machines_of(session, company_id)
    store = store_of(request)
    shift, oee = service.company_oee(session, store, machines)
    return render(
        request,
        "monitoring/plant.html",
        active="monitoring",
        company=company,
        plant=service.plant(session, company_id),
        key_tags=service.key_tags,
        snapshot=service.live_snapshot(session, store, machines) | {"oee": _oee_map(oee, machines)},
        shift=shift,
        can_act=principal.can_change(company_id),
        labels=_labels(),
        state_labels=STATE_LABELS,
        severity_labels=SEVERITY_LABELS,
    )


@pages.get("/monitoring/companies/{company_id}/stream")
async def plant_stream(
    request: Request,
    company_id: int,
    principal: PagePrincipal,
    session: PageSession,
    max_events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    """Server-Sent Events: a ``snapshot`` of the plant every 2 s (OEE every 10 s)."""
    registry.get(session, Company, company_id)
    store = store_of(request)
    counter = iter(range(10**9))

    def snapshot(scoped: Session) -> dict[str, Any]:
        machines = service.machines_of(scoped, company_id)
        data = service.live_snapshot(scoped, store, machines)
        if next(counter) % OEE_EVERY == 0:
            data["oee"] = _oee_map(service.company_oee(scoped, store, machines)[1], machines)
        return data

    return _event_stream(request, principal, snapshot, max_events)


@pages.get("/monitoring/equipment/{equipment_id}")
def equipment_live(request: Request, equipment_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """A machine live: current values, trends of the last 30 minutes, OEE per shift, its alarms."""
    machine = registry.get(session, Equipment, equipment_id)
    store = store_of(request)
    now = datetime.now(UTC)
    tags = [t for t in machine.tags if t.name not in service.HIDDEN_TAGS]
    setting = service.oee_settings(session, [machine.id]).get(machine.id)
    shifts = [
        (shift, service.equipment_oee(store, setting, shift.start, min(shift.end, now)) if setting else None)
        for shift in recent_shifts(now, 3)
    ]
    return render(
        request,
        "monitoring/equipment.html",
        active="monitoring",
        machine=machine,
        tags=tags,
        trends=_trends(store, tags, now),
        snapshot=service.live_snapshot(session, store, [machine]),
        shifts=shifts,
        pct=percent,
        connection=_connection(request, machine),
        timeline=service.state_timeline(store, setting, shifts[0][0].start, now) if setting else [],
        connector_states=CONNECTOR_STATES,
        events=service.company_events(session, machine.company_id, equipment_id=machine.id, limit=20),
        live_models=service.live_models(session, machine.id),
        kind_label=kind_label,
        can_act=principal.can_change(machine.company_id),
        labels=_labels(),
        state_labels=STATE_LABELS,
        severity_labels=SEVERITY_LABELS,
    )


@pages.get("/monitoring/equipment/{equipment_id}/stream")
async def equipment_stream(
    request: Request,
    equipment_id: int,
    principal: PagePrincipal,
    session: PageSession,
    max_events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    """Server-Sent Events: the machine's latest values, state and alarms every 2 s."""
    registry.get(session, Equipment, equipment_id)
    store = store_of(request)

    def snapshot(scoped: Session) -> dict[str, Any]:
        return service.live_snapshot(scoped, store, [registry.get(scoped, Equipment, equipment_id)])

    return _event_stream(request, principal, snapshot, max_events)


@pages.get("/monitoring/companies/{company_id}/alarms")
def alarms_page(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Active alarms (acknowledge, shelve) and the alarm history of a firm."""
    company = registry.get(session, Company, company_id)
    active = service.company_events(session, company_id, active=True)
    return render(
        request,
        "monitoring/alarms.html",
        active="monitoring",
        company=company,
        active_events=[e for e in active if not service.is_shelved(e)],
        shelved_events=[e for e in active if service.is_shelved(e)],
        history=service.company_events(session, company_id, active=False, limit=100),
        rules=service.company_rules(session, company_id),
        tags=registry.tag_choices(session, company_id),
        kind_labels=KIND_LABELS,
        describe=lambda rule: service.condition_text(
            alarms.describe(service.to_rule(rule), rule.tag.name, rule.tag.unit), rule.tag
        ),
        can_act=principal.can_change(company_id),
        severity_labels=SEVERITY_LABELS,
        channels=channels.channels_of(session, company_id),
        deliveries=channels.recent_deliveries(session, company_id),
        channel_kinds=notify.KINDS,
        masked=channels.masked,
        transition_labels=TRANSITION_LABELS,
        state_labels=DELIVERY_STATES,
        flash=request.session.pop("flash", None),
        flash_error=request.session.pop("flash_error", None),
    )


TRANSITION_LABELS = {"raised": N_("Raised"), "cleared": N_("Cleared"), "test": N_("Test")}
DELIVERY_STATES = {"pending": N_("Waiting"), "sent": N_("Sent"), "failed": N_("Failed")}


@pages.post("/monitoring/companies/{company_id}/channels", dependencies=[Csrf])
def add_channel(request: Request, company_id: int, session: PageSession, posted: PageForm) -> Response:
    """Add a channel from the form on the alarms page; a bad field comes back with its reason."""
    registry.get(session, Company, company_id)
    form: dict[str, Any] = {k: v for k, v in posted.items() if k != "csrf_token" and v != ""}
    form["on_clear"] = form.get("on_clear") == "true"  # an unticked box is not posted at all
    try:
        channels.create_channel(session, company_id, channels.ChannelIn.model_validate(form))
    except ValidationError as exc:
        request.session["flash_error"] = _channel_errors(exc)
    return RedirectResponse(f"/monitoring/companies/{company_id}/alarms", status_code=303)


@pages.post("/monitoring/channels/{channel_id}/test", dependencies=[Csrf])
def test_channel(request: Request, channel_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Send a test message to the channel now and say what its receiver answered."""
    channel = registry.get(session, NotificationChannel, channel_id)
    if not principal.can_change(channel.company_id):
        raise Forbidden()
    done = notify.send_test(system_of(request).db, channel.id, system_of(request).settings)
    if done.state == "sent":
        request.session["flash"] = _("The test message was sent to {name}.").format(name=channel.name)
    else:
        reason = done.last_error or ""
        request.session["flash_error"] = _("The test message did not arrive: {reason}").format(reason=reason)
    return RedirectResponse(f"/monitoring/companies/{channel.company_id}/alarms", status_code=303)


@pages.post("/monitoring/channels/{channel_id}/delete", dependencies=[Csrf])
def delete_channel(channel_id: int, session: PageSession) -> Response:
    """Remove a channel (its queued messages go with it)."""
    channel = registry.get(session, NotificationChannel, channel_id)
    company_id = channel.company_id
    channels.delete_channel(session, channel)
    return RedirectResponse(f"/monitoring/companies/{company_id}/alarms", status_code=303)


def _channel_errors(exc: ValidationError) -> str:
    labels = {"name": N_("Name"), "kind": N_("Type"), "target": N_("Address"), "secret": N_("Signing secret")}
    return " ".join(f"{_(labels.get(str(e['loc'][0]), str(e['loc'][0])))}: {field_reason(e)}" for e in exc.errors())


@pages.post("/monitoring/companies/{company_id}/rules", dependencies=[Csrf])
def add_rule(request: Request, company_id: int, session: PageSession, posted: PageForm) -> Response:
    """Add an alarm rule from the form on the alarms page; a bad field is answered with its reason."""
    registry.get(session, Company, company_id)
    form = {k: v for k, v in posted.items() if k != "csrf_token" and v != ""}
    try:
        data = service.RuleIn.model_validate(form)
    except ValidationError as exc:
        raise Invalid(N_("The alarm rule is not valid: {detail}"), detail=_rule_errors(exc)) from exc
    service.create_rule(session, company_id, data)
    return RedirectResponse(f"/monitoring/companies/{company_id}/alarms", status_code=303)


@pages.post("/monitoring/companies/{company_id}/rules/toggle", dependencies=[Csrf])
def toggle_rule(company_id: int, session: PageSession, rule_id: Annotated[int | None, Form()] = None) -> Response:
    """Switch an alarm rule on or off."""
    registry.get(session, Company, company_id)
    if rule_id is None:
        raise Invalid(N_("Say which rule (rule_id)."))
    service.toggle_rule(session, company_id, rule_id)
    return RedirectResponse(f"/monitoring/companies/{company_id}/alarms", status_code=303)


def _connection(request: Request, machine: Equipment) -> dict[str, Any] | None:
    """The machine's connector health when this process collects (``None`` when workers do); for a Sparkplug
    machine, whether its edge node or device is alive (a connected connector with a dead node reads offline)."""
    collection = system_of(request).collection
    health = collection.health_of(machine.protocol, machine.endpoint) if collection is not None else None
    if health is None:
        return None
    return machine_connection(health, machine.protocol, [t.address for t in machine.tags if t.address])


def _describe(rule: AlarmRule) -> str:
    return service.condition_text(alarms.describe(service.to_rule(rule), rule.tag.name, rule.tag.unit), rule.tag)


def _rule_errors(exc: ValidationError) -> str:
    return " ".join(f"{'.'.join(map(str, e['loc']))}: {field_reason(e)}" for e in exc.errors())


@pages.post("/monitoring/alarms/ack", dependencies=[Csrf])
def acknowledge(
    request: Request,
    session: PageSession,
    alarm_id: Annotated[int | None, Form()] = None,
    back: Annotated[str | None, Form(alias="next")] = None,
) -> Response:
    """Acknowledge an alarm as the signed-in person."""
    event = service.acknowledge(session, _alarm_id(alarm_id), *_who(request))
    return RedirectResponse(_back(back, event.company_id), status_code=303)


@pages.post("/monitoring/alarms/shelve", dependencies=[Csrf])
def shelve(
    request: Request,
    session: PageSession,
    alarm_id: Annotated[int | None, Form()] = None,
    minutes: Annotated[int, Form()] = 60,
    back: Annotated[str | None, Form(alias="next")] = None,
) -> Response:
    """Shelve an alarm for a while (0 minutes brings it back)."""
    event = service.shelve(session, _alarm_id(alarm_id), _who(request)[1], minutes)
    return RedirectResponse(_back(back, event.company_id), status_code=303)


@pages.get("/monitoring/companies/{company_id}/import")
def import_page(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Upload historical tag data (CSV, Excel or Parquet) for the firm's tags."""
    company = registry.get(session, Company, company_id)
    return _import_render(request, company, session, principal, None)


@pages.post("/monitoring/companies/{company_id}/import", dependencies=[Csrf])
def import_upload(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Check (``action=preview``: nothing is stored) or store an uploaded file; show the rows it would store or
    stored, and every rejected row with its reason."""
    company = registry.get(session, Company, company_id)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Invalid(N_("Choose a CSV, Excel or Parquet file to upload."))
    dry_run = form.get("action") == "preview"
    data = upload.file.read()
    limits = ReadLimits.history(get_settings(request))
    report = import_history_file(  # a plain def: parsing the file runs in the thread pool, never on the loop
        session, store_of(request), principal, company_id, data, upload.filename, dry_run=dry_run, limits=limits
    )
    return _import_render(request, company, session, principal, report)


def _import_render(
    request: Request, company: Company, session: Session, principal: Principal, report: FileImportReport | None
) -> Response:
    names = tag_names(session, company.id)
    return render(
        request,
        "monitoring/import.html",
        active="monitoring",
        company=company,
        tag_names=sorted(n for n in names if "/" in n)[:8],
        tag_labels={tag_id: name for name, tag_id in sorted(names.items(), key=lambda item: "/" in item[0])},
        can_act=principal.can_change(company.id),
        report=report,
    )


# -- shared by the pages and the API ----------------------------------------------------------------------


def tag_names(session: Session, company_id: int) -> dict[str, int]:
    """How a file may name the firm's tags: ``MACHINE/tag`` or the tag id."""
    rows = session.execute(
        select(Equipment.name, Tag.name, Tag.id)
        .join(Tag, Tag.equipment_id == Equipment.id)
        .where(Equipment.company_id == company_id)
    )
    names: dict[str, int] = {}
    for machine, tag, tag_id in rows:
        names[f"{machine}/{tag}"] = tag_id
        names[str(tag_id)] = tag_id
    return names


def import_history_file(
    session: Session,
    store: TimeSeriesStore,
    principal: Principal,
    company_id: int,
    data: bytes,
    filename: str | None,
    *,
    dry_run: bool = False,
    limits: ReadLimits = HISTORY,
) -> FileImportReport:
    """Import (or with ``dry_run`` only check) a file of the firm's tag history, read within ``limits``,
    through the pipeline; only a principal who may change the firm."""
    if not principal.can_change(company_id):
        raise Forbidden()
    names = tag_names(session, company_id)
    tags = session.scalars(select(Tag).where(Tag.id.in_(set(names.values()))))
    pipeline = Pipeline({t.id: TagSpec(min_value=t.min_value, max_value=t.max_value) for t in tags})
    parsed = parse_upload(data, filename or "upload.csv", names, limits=limits)
    report = import_file(store, pipeline, parsed, dry_run=dry_run)
    if not dry_run:
        details = {"file": filename, "points": report.points, "stored": report.stored}
        audit.record(session, audit.Action.IMPORT, f"history:{company_id}", company_id=company_id, details=details)
    return report


def _oee_map(oee: dict[int, Oee | None], machines: list[Equipment]) -> dict[str, Any]:
    """OEE by machine id, by ``line-<id>`` and for the ``plant`` (machines combined)."""
    by_line: dict[int, list[Oee]] = {}
    for machine in machines:
        if (result := oee.get(machine.id)) is not None:
            by_line.setdefault(machine.line_id, []).append(result)
    groups = {f"line-{line_id}": combine(results) for line_id, results in by_line.items()}
    groups["plant"] = combine([r for results in by_line.values() for r in results])
    return {str(eid): service.oee_json(result) for eid, result in oee.items()} | {
        key: service.oee_json(result) for key, result in groups.items()
    }


def _trends(store: TimeSeriesStore, tags: list[Tag], now: datetime) -> list[dict[str, Any]]:
    table = store.range([t.id for t in tags], now - TREND_WINDOW, now, max_points=180).to_pylist()
    series: dict[int, list[list[Any]]] = {t.id: [] for t in tags}
    for row in table:
        series[row["tag_id"]].append([service._aware(row["last_ts"]).isoformat(), round(row["avg"], 3)])
    return [{"id": t.id, "name": t.name, "label": t.label, "unit": t.unit or "", "points": series[t.id]} for t in tags]


def _alarm_id(alarm_id: int | None) -> int:
    if alarm_id is None:
        raise Invalid(N_("Say which alarm (alarm_id)."))
    return alarm_id


def _who(request: Request) -> tuple[int | None, str]:
    user = getattr(request.state, "user", None)
    return (user.id, user.name) if user is not None else (None, "?")


def _back(target: str | None, company_id: int) -> str:
    """Only a monitoring page of this site (never an outside address)."""
    if target and target.startswith("/monitoring/") and "//" not in target:
        return target
    return f"/monitoring/companies/{company_id}/alarms"


def _event_stream(
    request: Request,
    principal: Principal,
    snapshot: Callable[[Session], dict[str, Any]],
    max_events: int | None,
) -> StreamingResponse:
    """Stream ``snapshot`` as SSE. A client that does not ask for ``text/event-stream`` gets one event."""
    continuous = "text/event-stream" in request.headers.get("accept", "")
    limit = max_events or (None if continuous else 1)
    db = get_db(request)

    def tick() -> str:
        with db.session(principal) as scoped:
            return json.dumps(snapshot(scoped), ensure_ascii=False, default=str)

    closing = system_of(request).closing

    async def wait() -> bool:
        """Sleep one interval in short steps; False when the server is stopping or the client left."""
        for _step in range(int(STREAM_INTERVAL_S / 0.25)):
            if closing.is_set():
                return False
            await asyncio.sleep(0.25)
        return not (closing.is_set() or await request.is_disconnected())

    async def events() -> AsyncIterator[str]:
        yield f"retry: {int(STREAM_INTERVAL_S * 1500)}\n\n"
        sent, started = 0, asyncio.get_running_loop().time()
        while True:
            yield f"event: snapshot\ndata: {await asyncio.to_thread(tick)}\n\n"
            sent += 1
            if (limit is not None and sent >= limit) or asyncio.get_running_loop().time() - started > STREAM_MAX_S:
                return
            if not await wait():
                return

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def home_card(request: Request, session: Session, principal: Principal, company_id: int) -> HomeCard:
    """The member's home panel: the firm's open alarms, newest first."""
    active = service.company_events(session, company_id, active=True, limit=200)
    return HomeCard("monitoring/home_card.html", {"company_id": company_id, "count": len(active), "events": active[:5],
                    "severity_labels": SEVERITY_LABELS}, order=20)  # fmt: skip


def _alarm_cells(session: Session, company_ids: Sequence[int]) -> dict[int, FirmCell]:
    """Each firm's active alarms (a critical one counts double)."""
    query = (select(AlarmEvent.company_id, AlarmEvent.severity, func.count())
             .where(AlarmEvent.company_id.in_(company_ids), AlarmEvent.cleared_at.is_(None))
             .group_by(AlarmEvent.company_id, AlarmEvent.severity))  # fmt: skip
    counts: dict[int, dict[str, int]] = {}
    for company_id, severity, count in session.execute(query):
        counts.setdefault(int(company_id), {})[str(severity)] = int(count)
    return {company_id: FirmCell(_("{count} active").format(count=sum(found.values())),
                                 f"/monitoring/companies/{company_id}/alarms",
                                 sum(found.values()) + found.get("critical", 0))
            for company_id, found in counts.items()}  # fmt: skip


ALARM_COLUMN = FirmColumn(N_("Active alarms"), _alarm_cells)
