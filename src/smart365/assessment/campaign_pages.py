"""Campaign pages: create a campaign over a population, watch its response rate live, import paper
responses, population analytics with Excel export, and the printable per-firm diagnosis report.

The centre manages campaigns; consultants follow the campaigns of their firms (and answer on a firm's
behalf through the survey page); a firm member who opens a campaign link lands on its own survey page,
where its invitation is shown; data partners see none of it.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from smart365.assessment import analytics, campaigns, service
from smart365.assessment.analytics import GROUPINGS, FirmResult
from smart365.assessment.campaigns import SIZE_BANDS, ImportReport, Population
from smart365.assessment.models import Campaign
from smart365.assessment.pages import diagnosis_context
from smart365.core import audit
from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_, _, current_locale
from smart365.core.tenancy import Principal, Role
from smart365.core.uploads import ReadLimits
from smart365.registry import service as registry_service
from smart365.registry.models import Company
from smart365.registry.vocab import REGIONS
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, get_settings
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_KEY = "campaign_import"
STATE_LABELS = {
    "not_started": N_("Not started"),
    "in_progress": N_("Answering"),
    "submitted": N_("Submitted"),
}


def _member_home(principal: Principal) -> Response | None:
    """Firm members follow campaigns on their own survey page (their invitation is shown there)."""
    if principal.role is Role.COMPANY_MEMBER and principal.company_id is not None:
        return RedirectResponse(f"/companies/{principal.company_id}/survey", status_code=303)
    return None


def population_text(population: dict[str, Any]) -> str:
    """A campaign's population filter as one readable line, in the current language."""
    parts = []
    if region := population.get("region"):
        parts.append(_(REGIONS.get(region, region)))
    if population.get("sobujang") is not None:
        parts.append(_("소부장") if population["sobujang"] else _("Other firms"))
    if ksic := population.get("ksic"):
        parts.append(_("KSIC {prefix}*").format(prefix=ksic))
    if size := population.get("size"):
        parts.append(_(SIZE_BANDS[size][2]))
    return " · ".join(parts) or _("All firms")


# --------------------------------------------------------------------------- list and create


@pages.get("/campaigns")
def campaign_list(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The campaigns the user follows, with their response rates; the centre also gets the create form."""
    if redirect := _member_home(principal):
        return redirect
    return _list_page(request, session, principal)


def _list_page(
    request: Request, session: Session, principal: Principal, *, error: str | None = None, form: Any = None
) -> Response:
    rows = [(c, campaigns.progress(session, c.id)) for c in campaigns.list_campaigns(session)]
    today = date.today()
    return render(
        request,
        "assessment/campaigns.html",
        status_code=422 if error else 200,
        active="campaigns",
        rows=rows,
        population_text=population_text,
        can_manage=principal.role is Role.CENTRE_ADMIN,
        regions=REGIONS,
        sizes=SIZE_BANDS,
        error=error,
        form=form or {"opens_on": today.isoformat(), "closes_on": (today + timedelta(days=30)).isoformat()},
    )


@pages.post("/campaigns", dependencies=[Csrf])
def campaign_create(request: Request, principal: PagePrincipal, session: PageSession, posted: PageForm) -> Response:
    """Create a campaign from the form's population filter; bad input comes back with its reason."""
    principal.require(Role.CENTRE_ADMIN)
    form = {k: str(v).strip() for k, v in posted.items() if k != "csrf_token"}
    try:
        population = Population(
            region=form.get("region") or None,
            sobujang={"1": True, "0": False}.get(form.get("sobujang", "")),
            ksic=form.get("ksic") or None,
            size=form.get("size") or None,
        )
        campaign = campaigns.create_campaign(
            session, form.get("name", ""), population, _date(form.get("opens_on")), _date(form.get("closes_on"))
        )
    except AppError as exc:
        session.rollback()
        return _list_page(request, session, principal, error=exc.localized(), form=form)
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


def _date(text: str | None) -> date:
    try:
        return date.fromisoformat(text or "")
    except ValueError as exc:
        raise Invalid(N_("Dates must look like 2026-03-31.")) from exc


# --------------------------------------------------------------------------- one campaign


@pages.get("/campaigns/{campaign_id}")
def campaign_detail(request: Request, campaign_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Response rate (refreshed live), the invited firms and their status, and the import form."""
    campaign = campaigns.get_campaign(session, campaign_id)
    if redirect := _member_home(principal):
        return redirect
    return _campaign_page(request, session, principal, campaign)


def _campaign_page(
    request: Request,
    session: Session,
    principal: Principal,
    campaign: Campaign,
    *,
    report: ImportReport | None = None,
    token: str | None = None,
) -> Response:
    state = request.query_params.get("state") or None
    return render(
        request,
        "assessment/campaign.html",
        active="campaigns",
        campaign=campaign,
        population=population_text(campaign.population),
        progress=campaigns.progress(session, campaign.id),
        rows=campaigns.members(session, campaign.id, state),
        state=state,
        state_labels=STATE_LABELS,
        can_manage=principal.role is Role.CENTRE_ADMIN,
        can_answer=lambda company_id: service.may_answer(principal, company_id),
        report=report,
        token=token,
    )


@pages.get("/campaigns/{campaign_id}/progress")
def campaign_progress(request: Request, campaign_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The response-rate panel alone: the campaign page polls it every few seconds."""
    campaign = campaigns.get_campaign(session, campaign_id)
    if redirect := _member_home(principal):
        return redirect
    progress = campaigns.progress(session, campaign.id)
    return render(request, "assessment/_campaign_progress.html", campaign=campaign, progress=progress)


@pages.post("/campaigns/{campaign_id}/close", dependencies=[Csrf])
def campaign_close(campaign_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    principal.require(Role.CENTRE_ADMIN)
    campaigns.close_campaign(session, campaigns.get_campaign(session, campaign_id))
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@pages.post("/campaigns/{campaign_id}/import", dependencies=[Csrf])
def campaign_import(
    request: Request,
    campaign_id: int,
    principal: PagePrincipal,
    session: PageSession,
    file: UploadFile | None = None,
    token: Annotated[str | None, Form()] = None,
) -> Response:
    """First post: check the uploaded file and keep it. Second post (with its token): import the good rows.

    A plain ``def``: the file is parsed in the thread pool, never on the event loop.
    """
    principal.require(Role.CENTRE_ADMIN)
    campaign = campaigns.get_campaign(session, campaign_id)
    limits = ReadLimits.registry(get_settings(request))
    uploads = get_settings(request).data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    if token:
        name = request.session.get(UPLOAD_KEY)
        if not name or not secrets.compare_digest(name.split(".")[0], token):
            raise Invalid(N_("The checked file is no longer available. Please upload it again."))
        path = uploads / name
        report = campaigns.import_responses(session, campaign, path.read_bytes(), name, commit=True, limits=limits)
        path.unlink(missing_ok=True)
        request.session.pop(UPLOAD_KEY, None)
        return _campaign_page(request, session, principal, campaign, report=report)
    if file is None or not file.filename:
        raise Invalid(N_("Choose a file to upload."))
    content = file.file.read()
    if len(content) > get_settings(request).max_upload_bytes:
        raise Invalid(N_("The file is too large."))
    report = campaigns.import_responses(session, campaign, content, file.filename, commit=False, limits=limits)
    new_token = secrets.token_hex(12)
    suffix = ".xlsx" if file.filename.lower().endswith((".xlsx", ".xlsm")) else ".csv"
    (uploads / f"{new_token}{suffix}").write_bytes(content)
    request.session[UPLOAD_KEY] = f"{new_token}{suffix}"
    return _campaign_page(request, session, principal, campaign, report=report, token=new_token)


# --------------------------------------------------------------------------- analytics


@pages.get("/campaigns/{campaign_id}/analytics")
def campaign_analytics(request: Request, campaign_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Level distributions (overall and by group), the domain heat-map and movement since a baseline."""
    campaign = campaigns.get_campaign(session, campaign_id)
    if redirect := _member_home(principal):
        return redirect
    by = request.query_params.get("by") or "industry"
    if by not in GROUPINGS:
        raise Invalid(N_("Unknown grouping: {by}"), by=by)
    instrument = service.instrument_for(campaign.instrument_version)
    results = analytics.campaign_results(session, campaign)
    baseline = _baseline(request, session, campaign)
    moved = analytics.movement(analytics.campaign_results(session, baseline), results) if baseline else None
    locale = current_locale.get()
    heatmap = analytics.domain_heatmap(instrument, results, by)
    charts = {
        "levels": [f"L{lv} {instrument.level_name(lv).in_(locale)}" for lv in range(len(instrument.levels))],
        "overall": analytics.level_distribution(results).get("all", [0] * len(instrument.levels)),
        "groups": {g: _grouped(results, g) for g in GROUPINGS},
        "heatmap": {
            "groups": [analytics.group_label(by, g) for g in heatmap.groups],
            "domains": [f"{d.id} {d.name.in_(locale)}" for d in instrument.domains],
            "values": heatmap.values,
        },
        "labels": {"firms": _("Firms"), "share": _("Share of firms (%)"), "stage": _("Mean stage")},
    }
    return render(
        request,
        "assessment/analytics.html",
        active="campaigns",
        campaign=campaign,
        population=population_text(campaign.population),
        results=results,
        charts=charts,
        groupings=GROUPINGS,
        by=by,
        heatmap=heatmap,
        baseline=baseline,
        others=[c for c in campaigns.list_campaigns(session) if c.id != campaign.id],
        moved=moved,
        at_or_above_target=sum(1 for r in results if r.level >= instrument.target_level),
        target=instrument.target_level,
    )


def _grouped(results: list[FirmResult], by: str) -> dict[str, Any]:
    """One grouping as ECharts data: group labels, firms per group and each level's share per group."""
    distribution = analytics.level_distribution(results, by)
    shares = [analytics.level_shares(counts) for counts in distribution.values()]
    return {
        "labels": [analytics.group_label(by, g) for g in distribution],
        "firms": [sum(c) for c in distribution.values()],
        "shares": [list(level) for level in zip(*shares, strict=True)] if shares else [],
    }


def _baseline(request: Request, session: Session, campaign: Campaign) -> Campaign | None:
    """The campaign to compare with: ``?baseline=<id>``, ``none``, or by default the latest earlier one."""
    asked = request.query_params.get("baseline")
    if asked == "none":
        return None
    if asked:
        if not asked.isdigit():
            raise Invalid(N_("Unknown baseline campaign: {baseline}"), baseline=asked)
        return campaigns.get_campaign(session, int(asked))
    earlier = [c for c in campaigns.list_campaigns(session) if c.opens_on < campaign.opens_on]
    return earlier[0] if earlier else None


@pages.get("/campaigns/{campaign_id}/export.xlsx")
def campaign_export(campaign_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The campaign's results as an Excel workbook (firms, responses in the import format, levels)."""
    campaign = campaigns.get_campaign(session, campaign_id)
    if redirect := _member_home(principal):
        return redirect
    instrument = service.instrument_for(campaign.instrument_version)
    data = analytics.export_workbook(instrument, campaign, analytics.campaign_results(session, campaign))
    audit.record(session, audit.Action.EXPORT, f"campaign:{campaign.id}", details={"name": campaign.name})
    headers = {"Content-Disposition": f'attachment; filename="smart365-campaign-{campaign.id}.xlsx"'}
    return Response(data, media_type=XLSX, headers=headers)


# --------------------------------------------------------------------------- per-firm report


@pages.get("/companies/{company_id}/report")
def firm_report(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The printable diagnosis report of a firm's latest submitted response (Korean or English)."""
    company = registry_service.get(session, Company, company_id)
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER)
    response = service.latest_result(session, company.id)
    context: dict[str, Any] = {"company": company, "result": None}
    if response is not None:
        context |= diagnosis_context(request, session, response)
        context["campaign"] = session.get(Campaign, response.campaign_id) if response.campaign_id else None
    return render(request, "assessment/report.html", **context)
