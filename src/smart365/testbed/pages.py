"""AI test-bed pages: pick data (upload or tags), preview it, choose the target, watch the run, read the
result, deploy the winner.

Every route takes the tenancy-scoped session, so another firm's runs and tables are simply not found;
writes also need :meth:`~smart365.core.tenancy.Principal.can_change`. A request that cannot run is
answered 4xx with the reason in Korean and English, and stores nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from smart365.analytics.testbed import TASK_NAMES, fmt
from smart365.core.db import SEOUL
from smart365.core.errors import AppError, Forbidden, Invalid
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.tenancy import Principal, Role
from smart365.registry import service as registry
from smart365.registry.models import Company, Equipment, Tag
from smart365.telemetry.store import TimeSeriesStore
from smart365.testbed import deploy, service, tables
from smart365.testbed.models import TestbedRun
from smart365.testbed.tables import COLUMN_KINDS, SUFFIXES, Staging, TooLarge, preview, stage_tags
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, system_of
from smart365.web.templating import HomeCard, render

pages = APIRouter(include_in_schema=False)

STATUS_LABELS = {"queued": N_("waiting"), "running": N_("running"), "done": N_("done"), "failed": N_("failed")}
TASK_LABELS: dict[str, str] = {"auto": N_("automatic (from the target)")} | {str(k): v for k, v in TASK_NAMES.items()}
DEFAULT_WINDOW = timedelta(hours=8)


def _worker(request: Request) -> service.TestbedWorker:
    worker = system_of(request).testbed
    assert worker is not None, "the web app runs in the serve shape, which has the test-bed worker"
    return worker


def _staging(request: Request) -> Staging:
    return _worker(request).staging


def _user_name(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return user.name if user is not None else "?"


def _bilingual(error: AppError) -> dict[str, str]:
    return {"ko": translate_in("ko", error.message).format(**error.params), "en": error.english()}


def _common(**context: Any) -> dict[str, Any]:
    labels = {"status_labels": STATUS_LABELS, "task_labels": TASK_LABELS, "model_label": service.model_label}
    return {"active": "testbed"} | labels | context


@pages.get("/testbed")
def testbed_index(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """A firm member goes to their firm's test-bed; others see the firms with runs."""
    if principal.role is Role.COMPANY_MEMBER and principal.company_id is not None:
        return RedirectResponse(f"/testbed/companies/{principal.company_id}", status_code=303)
    counts = session.execute(
        select(TestbedRun.company_id, func.count(), func.max(TestbedRun.created_at)).group_by(TestbedRun.company_id)
    ).all()
    firms = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_([r[0] for r in counts])))}
    rows = [(firms[cid], n, last) for cid, n, last in counts if cid in firms]
    return render(request, "testbed/index.html", **_common(rows=sorted(rows, key=lambda r: r[2], reverse=True)))


@pages.get("/testbed/companies/{company_id}")
def company_testbed(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Pick the data (upload a file or choose tags and a time range); the firm's earlier runs."""
    company = registry.get(session, Company, company_id)
    return _start_page(request, session, principal, company)


def _start_page(
    request: Request, session: Session, principal: Principal, company: Company, status_code: int = 200,
    error: dict[str, str] | None = None, form: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    machines = session.scalars(
        select(Equipment).where(Equipment.company_id == company.id).order_by(Equipment.name)
    ).all()
    now = datetime.now(SEOUL).replace(second=0, microsecond=0, tzinfo=None)
    defaults = {"start": (now - DEFAULT_WINDOW).isoformat(timespec="minutes"), "end": now.isoformat(timespec="minutes")}
    context = _common(
        company=company,
        machines=[m for m in machines if m.tags],
        runs=service.company_runs(session, company.id),
        can_act=principal.can_change(company.id),
        error=error,
        form=defaults | (form or {}),
        max_mb=tables.MAX_UPLOAD_BYTES // 2**20,
        suffixes=", ".join(sorted(SUFFIXES)),
    )
    return render(request, "testbed/company.html", status_code=status_code, **context)


@pages.post("/testbed/companies/{company_id}/upload", dependencies=[Csrf])
def upload(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Stage an uploaded table and go to its preview; a bad file is refused (4xx) and nothing is kept."""
    company = registry.get(session, Company, company_id)
    if not principal.can_change(company_id):
        raise Forbidden()
    try:
        _check_length(request)
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            raise Invalid(N_("Choose a file to upload."))
        service.prune_staging(session, _staging(request), company_id)
        token = _staging(request).save_upload(company_id, file.filename, file.file)
    except AppError as exc:
        return _start_page(request, session, principal, company, exc.status, _bilingual(exc))
    return RedirectResponse(f"/testbed/companies/{company_id}/new?table={token}", status_code=303)


def missing_label(share: float) -> str:
    """``12% missing`` in the current language (formatted here: a ``%`` inside a template's ``_()`` is read
    as a %-format and fails).

    >>> from smart365.core.i18n import use_locale
    >>> with use_locale("ko"):
    ...     missing_label(0.123)
    '12% 결측'
    """
    return gettext(N_("{share}% missing")).format(share=round(share * 100))


def reliability_points(curve: list[dict[str, float]], size: int = 160) -> str:
    """SVG polyline points of a reliability curve in a ``size``-pixel square (predicted → x, observed → y).

    >>> reliability_points([{"predicted": 0.0, "observed": 0.0, "rows": 5}, {"predicted": 1.0, "observed": 0.5,
    ...                     "rows": 5}], size=100)
    '0.0,100.0 100.0,50.0'
    """
    return " ".join(f"{p['predicted'] * size:.1f},{(1 - p['observed']) * size:.1f}" for p in curve)


def _check_length(request: Request) -> None:
    """Refuse a body far over the limit by its declared length (the copy into the data folder counts bytes
    exactly anyway)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > tables.MAX_UPLOAD_BYTES + 2**20:
        raise TooLarge(N_("The file is larger than {limit} MB."), limit=tables.MAX_UPLOAD_BYTES // 2**20)


@pages.post("/testbed/companies/{company_id}/tags", dependencies=[Csrf])
def from_tags(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession,
    tag_id: Annotated[list[int] | None, Form()] = None, start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Pivot the chosen tags over the time range to a wide table on a regular grid, stage it, preview it."""
    company = registry.get(session, Company, company_id)
    if not principal.can_change(company_id):
        raise Forbidden()
    form = {"start": start, "end": end, "tag_ids": set(tag_id or [])}
    try:
        tags = _firm_tags(session, company_id, tag_id or [])
        begin, finish = _moment(start), _moment(end)
        service.prune_staging(session, _staging(request), company_id)
        token = stage_tags(_staging(request), _store(request), company_id, tags, begin, finish)
    except AppError as exc:
        return _start_page(request, session, principal, company, exc.status, _bilingual(exc), form)
    return RedirectResponse(f"/testbed/companies/{company_id}/new?table={token}", status_code=303)


def _store(request: Request) -> TimeSeriesStore:
    return system_of(request).store


def _firm_tags(session: Session, company_id: int, ids: list[int]) -> list[Tag]:
    tags = list(session.scalars(select(Tag).where(Tag.company_id == company_id, Tag.id.in_(ids)).order_by(Tag.id)))
    if len(tags) != len(set(ids)) or len(tags) < 2:
        raise Invalid(N_("Choose at least two tags: a target and something to predict it from."))
    return tags


def _moment(text: str) -> datetime:
    """A ``datetime-local`` value (Korean time) as an aware moment."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Invalid(N_("Give the time range as date and time.")) from exc
    return moment.replace(tzinfo=SEOUL) if moment.tzinfo is None else moment


@pages.get("/testbed/companies/{company_id}/new")
def new_run(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession,
    table: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:  # fmt: skip
    """The staged table's preview and the form choosing target, time column and task."""
    company = registry.get(session, Company, company_id)
    if not table:
        return RedirectResponse(f"/testbed/companies/{company_id}", status_code=303)
    return _preview_page(request, session, principal, company, table)


def _preview_page(
    request: Request, session: Session, principal: Principal, company: Company, token: str, status_code: int = 200,
    error: dict[str, str] | None = None, chosen: service.RunRequest | None = None,
) -> Response:  # fmt: skip
    staging = _staging(request)
    try:
        meta = staging.meta(company.id, token)
        frame = staging.load(company.id, token)
    except AppError as exc:  # deleted as unused, or a mistyped link: say so on the start page
        return _start_page(request, session, principal, company, exc.status, _bilingual(exc))
    summary = preview(frame, gaps=meta.get("kind") == "tags")
    return render(
        request, "testbed/new.html", status_code=status_code,
        **_common(company=company, token=token, meta=meta, source=service.describe_source(meta), summary=summary,
                  column_kinds=COLUMN_KINDS, tasks=service.TASK_CHOICES, error=error, missing_label=missing_label,
                  chosen=chosen or service.RunRequest(token, "", summary.time_guess),
                  can_act=principal.can_change(company.id)),
    )  # fmt: skip


@pages.post("/testbed/companies/{company_id}/runs", dependencies=[Csrf])
def create_run(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession,
    table: Annotated[str, Form()] = "", target: Annotated[str, Form()] = "", time: Annotated[str, Form()] = "",
    task: Annotated[str, Form()] = "auto", group: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Check the choices against the table and queue the run; a choice that cannot run is answered 4xx."""
    company = registry.get(session, Company, company_id)
    if not principal.can_change(company_id):
        raise Forbidden()
    chosen = service.RunRequest(table, target, time or None, task, group or None)
    try:
        if not target:
            raise Invalid(N_("Choose the column to predict (the target)."))
        run = service.start_run(session, _staging(request), company_id, chosen, _user_name(request))
    except AppError as exc:
        if not _staged(request, company_id, table):
            return _start_page(request, session, principal, company, exc.status, _bilingual(exc))
        return _preview_page(request, session, principal, company, table, exc.status, _bilingual(exc), chosen)
    session.commit()  # the worker reads the run from its own session
    _worker(request).submit(run.id)
    return RedirectResponse(f"/testbed/runs/{run.id}", status_code=303)


def _staged(request: Request, company_id: int, token: str) -> bool:
    try:
        _staging(request).meta(company_id, token)
    except AppError:
        return False
    return True


@pages.get("/testbed/runs/{run_id}")
def run_page(request: Request, run_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """A run: live progress while it runs, then the result in plain words, the table and the findings."""
    run = registry.get(session, TestbedRun, run_id)
    company = registry.get(session, Company, run.company_id)
    return render(
        request,
        "testbed/run.html",
        **_common(run=run, company=company, **_result(run, principal), **_mapping_form(session, run)),
    )


@pages.get("/testbed/runs/{run_id}/progress")
def run_progress(request: Request, run_id: int, session: PageSession) -> Response:
    """The progress fragment the run page polls; once the run has ended the page reloads itself."""
    run = registry.get(session, TestbedRun, run_id)
    response = render(request, "testbed/_progress.html", **_common(run=run))
    if not run.active:
        response.headers["HX-Refresh"] = "true"
    return response


def _result(run: TestbedRun, principal: Principal) -> dict[str, Any]:
    report = run.report or {}
    return {
        "report": report,
        "verdict": service.verdict(report) if run.status == "done" and report else None,
        "error_text": service.error_text(run),
        "fmt": fmt,
        "metric_names": service.METRIC_NAMES,
        "r2_words": service.r2_words,
        "reliability_points": reliability_points,
        "deployable": deploy.deployability(run) if run.status == "done" else None,
        "can_act": principal.can_change(run.company_id),
    }


def _mapping_form(session: Session, run: TestbedRun) -> dict[str, Any]:
    """For a deployable run on a file: each input column, the tag proposed for it, and the firm's tags."""
    if run.source_kind == "tags" or run.status != "done" or not deploy.deployability(run)[0]:
        return {"mapping": None}
    choices = registry.tag_choices(session, run.company_id)
    return {"mapping": deploy.propose_mapping(session, run), "tag_choices": choices}


@pages.post("/testbed/runs/{run_id}/deploy", dependencies=[Csrf])
def deploy_run(
    request: Request, run_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Refit the winner on the whole table and register it as a deployed model of the firm; a run on a file
    is deployed onto the tags its columns were mapped to (fields ``tag-<column>``)."""
    run = registry.get(session, TestbedRun, run_id)
    if not principal.can_change(run.company_id):
        raise Forbidden()
    mapping = {column: int(value) for column in deploy.input_columns(run)
               if isinstance(value := form.get(f"tag-{column}"), str) and value.isdigit()}  # fmt: skip
    deploy.deploy_winner(session, _staging(request), run, by=_user_name(request), mapping=mapping)
    session.commit()
    system_of(request).alarms.reload()  # this process scores it from its next batch (a worker within 30 s)
    return RedirectResponse(f"/testbed/runs/{run.id}", status_code=303)


def home_card(request: Request, session: Session, principal: Principal, company_id: int) -> HomeCard:
    """The member's home panel: the firm's latest AI test-bed run and what it found."""
    query = select(TestbedRun).where(TestbedRun.company_id == company_id)
    run = session.scalars(query.order_by(TestbedRun.created_at.desc(), TestbedRun.id.desc()).limit(1)).first()
    found = service.verdict(run.report) if run and run.status == "done" and run.report else None
    return HomeCard("testbed/home_card.html", _common(company_id=company_id, run=run, verdict=found), order=40)
