"""Survey pages: the questionnaire a firm answers in the browser (전수조사 자가진단) and its diagnosis.

Company members answer for their own firm and consultants for the firms assigned to them (recorded as
on the firm's behalf); the centre may look at both pages; data partners see neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from smart365.assessment import campaigns, evidence, service
from smart365.assessment.instrument import Instrument
from smart365.assessment.models import SurveyResponse
from smart365.assessment.scoring import Explanation
from smart365.core.errors import Invalid
from smart365.core.i18n import N_, _, current_locale
from smart365.core.tenancy import Principal, Role
from smart365.registry import service as registry_service
from smart365.registry.models import Company
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, system_of
from smart365.web.templating import FirmCell, FirmColumn, HomeCard, render

pages = APIRouter(include_in_schema=False)

NOT_APPLICABLE = "na"

#: Why a firm is not at the next level, per level rule (msgids; ``{value}``, ``{required}``, ``{level}``).
RULE_TEXTS = {
    "threshold": N_("The total score {value} is below the {required} points that Level {level} needs."),
    "systems_area": N_(
        "The systems & automation stage {value} is below the {required} that Level {level} needs: "
        "machines and systems must be connected first."
    ),
    "domain_lag": N_("These domains lag more than one stage behind Level {level}: {domains}."),
}


def _company(session: Session, principal: Principal, company_id: int) -> Company:
    """The firm whose survey is asked for: 404 when not visible, 403 for data partners."""
    company = registry_service.get(session, Company, company_id)
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER)
    return company


def _answers_from(form: FormData, instrument: Instrument) -> dict[str, int | None]:
    """Form fields ``item-<id>`` → stage (``na`` = N/A); items without a choice stay unanswered."""
    answers: dict[str, int | None] = {}
    for item_id in instrument.item_ids:
        value = form.get(f"item-{item_id}")
        if value == NOT_APPLICABLE:
            answers[item_id] = None
        elif isinstance(value, str) and value.isdigit():
            answers[item_id] = int(value)
    return answers


ALL, KPIS = "all", "kpis"  # the whole survey on one page; the priority KPIs (the last section)


@dataclass(frozen=True)
class Section:
    """A page of the survey: a domain's questions (or the priority KPIs) and how many are answered."""

    id: str
    title: str
    answered: int
    total: int


def _sections(instrument: Instrument, answers: Mapping[str, int | None]) -> list[Section]:
    lang = current_locale.get()
    sections = []
    for domain in instrument.domains:
        items = [item.id for item in instrument.items if item.domain == domain.id]
        done = sum(item in answers for item in items)
        sections.append(Section(domain.id, f"{domain.id} · {domain.name.in_(lang)}", done, len(items)))
    return [*sections, Section(KPIS, _("Priority KPIs"), 0, 0)]


def _current(sections: list[Section], asked: str | None) -> str:
    """The asked section, else where the firm left off: the first with unanswered questions."""
    if asked in {s.id for s in sections} | {ALL}:
        return str(asked)
    return next((s.id for s in sections if s.answered < s.total), KPIS)


def _survey_page(
    request: Request,
    session: Session,
    principal: Principal,
    company: Company,
    *,
    error: str | None = None,
    flash: str | None = None,
    section: str | None = None,
) -> Response:
    draft = service.get_draft(session, company.id)
    instrument = service.instrument_for(draft.instrument_version if draft else None)
    answers = draft.answers if draft else {}
    sections = _sections(instrument, answers)
    current = _current(sections, section)
    ids = [s.id for s in sections]
    at = ids.index(current) if current in ids else None
    return render(
        request,
        "assessment/survey.html",
        status_code=422 if error else 200,
        active="companies",
        company=company,
        instrument=instrument,
        answers=answers,
        priority_kpis=draft.priority_kpis if draft else [],
        answered=len(answers),
        sections=sections,
        section=current,
        previous=ids[at - 1] if at else None,
        following=ids[at + 1] if at is not None and at + 1 < len(ids) else None,
        can_answer=service.may_answer(principal, company.id),
        has_result=service.latest_result(session, company.id) is not None,
        invitations=campaigns.open_invitations(session, company.id),
        error=error,
        flash=flash,
    )


@pages.get("/companies/{company_id}/survey")
def survey_form(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The questionnaire one section (domain) at a time, or whole with ``section=all``, the firm's saved draft
    filled in; without a section it opens where the firm left off."""
    company = _company(session, principal, company_id)
    flash = _("Saved. You can continue later.") if request.query_params.get("saved") else None
    return _survey_page(request, session, principal, company, flash=flash, section=request.query_params.get("section"))


@pages.post("/companies/{company_id}/survey", dependencies=[Csrf])
def survey_save(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Save the answers; with the ``submit`` button also submit them (refused while items are missing)."""
    company = _company(session, principal, company_id)
    service.require_answerer(session, company.id)
    draft = service.get_draft(session, company.id)
    instrument = service.instrument_for(getattr(draft, "instrument_version", None))
    answers, kpis = _answers_from(form, instrument), [str(k) for k in form.getlist("priority_kpis")]
    section = str(form.get("section") or ALL)
    if section != ALL and draft is not None:  # one section's page: the other sections' answers stay as saved
        shown = {item.id for item in instrument.items if item.domain == section}
        answers = {k: v for k, v in draft.answers.items() if k not in shown} | answers
        kpis = kpis if section == KPIS else list(draft.priority_kpis)
    service.save_answers(session, company.id, answers, kpis)
    if not form.get("submit"):
        known = {domain.id for domain in instrument.domains} | {KPIS, ALL}
        ahead = next((s for s in (form.get("next"), form.get("section")) if s in known), None)  # next, else this
        where = f"section={ahead}&saved=1" if ahead else "saved=1"
        return RedirectResponse(f"/companies/{company.id}/survey?{where}", status_code=303)
    try:
        service.submit(session, company.id)
    except Invalid as exc:  # the answers are saved all the same: the page says what is missing
        return _survey_page(request, session, principal, company, error=exc.localized())
    return RedirectResponse(f"/companies/{company.id}/diagnosis", status_code=303)


@pages.get("/companies/{company_id}/diagnosis")
def diagnosis(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The latest submitted result: level, total, domain radar, the rule that stops the next level, roadmap."""
    company = _company(session, principal, company_id)
    response = service.latest_result(session, company.id)
    context: dict[str, Any] = {"company": company, "result": None, "active": "companies"}
    if response is not None:
        context |= diagnosis_context(request, session, response)
    context["can_answer"] = service.may_answer(principal, company.id)
    return render(request, "assessment/diagnosis.html", **context)


def diagnosis_context(request: Request, session: Session, response: SurveyResponse) -> dict[str, Any]:
    """What the diagnosis page and the printable report show about a submitted response."""
    found = service.diagnose(response)
    locale = current_locale.get()
    context = evidence.EvidenceContext(session, response.company_id, system_of(request).store)
    measured = evidence.measure_items(found.instrument, context)
    if (forwarded := system_of(request).forwarded_evidence) is not None:  # the firm's plants measured these
        measured = evidence.with_forwarded(measured, forwarded(session, response.company_id))
    level = response.level if response.level is not None else found.explanation["level"]
    return {
        "result": response,
        "level": level,
        "level_name": found.instrument.level_name(level).in_(locale),
        "total": response.total if response.total is not None else found.explanation["total"],
        "blocking": _blocking_reasons(found.explanation, found.instrument, locale),
        "roadmap": found.roadmap,
        "target": found.target,
        "target_name": found.instrument.level_name(found.target).in_(locale),
        "chart": _radar(found.explanation, found.target, locale),
        "evidence": evidence.compare(found.instrument, response.answers, measured),
        "items": {item.id: item for item in found.instrument.items},
        "domain_rows": found.explanation["domains"],
    }


def _blocking_reasons(explanation: Explanation, instrument: Instrument, locale: str) -> list[str]:
    """One sentence per rule that stops the next level, in the current language."""
    next_level = explanation["next_level"]
    if next_level is None:
        return []
    checks = explanation["levels"][next_level - 1]["checks"]
    names = {d.id: d.name.in_(locale) for d in instrument.domains}
    reasons = []
    for check in checks:
        if check["passed"]:
            continue
        reasons.append(
            _(RULE_TEXTS[check["rule"]]).format(
                value=_number(check["value"]),
                required=_number(check["required"]),
                level=next_level,
                domains=", ".join(names[d] for d in check["domains"]),
            )
        )
    return reasons


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _radar(explanation: Explanation, target: int, locale: str) -> dict[str, Any]:
    """ECharts radar data: each domain's stage (N/A as 0) against the target stage."""
    domains = explanation["domains"]
    return {
        "indicators": [{"name": d["name"]["en" if locale == "en" else "ko"], "max": 5} for d in domains],
        "stages": [round(d["stage"] or 0.0, 2) for d in domains],
        "target": [target] * len(domains),
        "labels": {"firm": _("This firm"), "target": _("Target: Level {level}").format(level=target)},
    }


def home_card(request: Request, session: Session, principal: Principal, company_id: int) -> HomeCard:
    """The member's home panel: the firm's level, its target and the first step of its roadmap."""
    response = service.latest_result(session, company_id)
    context: dict[str, Any] = {"company_id": company_id, "can_answer": service.may_answer(principal, company_id)}
    if response is not None:
        found = service.diagnose(response, top=1)
        locale = current_locale.get()
        level = response.level if response.level is not None else found.explanation["level"]
        entry = found.roadmap[0] if found.roadmap else None
        context |= {"level": level, "level_name": found.instrument.level_name(level).in_(locale),
                    "target": found.target, "submitted_at": response.submitted_at, "entry": entry,
                    "step": entry.steps[0] if entry and entry.steps else None, "lang": locale}  # fmt: skip
    return HomeCard("assessment/home_card.html", context, order=10)


def _level_cells(session: Session, company_ids: Sequence[int]) -> dict[int, FirmCell]:
    """Each firm's level and target; a gap to the target (or no diagnosis yet) needs attention."""
    cells = {}
    for company_id in company_ids:
        response = service.latest_result(session, company_id)
        if response is None or response.level is None:
            cells[company_id] = FirmCell(_("Not diagnosed yet"), f"/companies/{company_id}/survey", urgency=1)
            continue
        target = service.instrument_for(response.instrument_version).target_level
        text = _("Level {level} → target {target}").format(level=response.level, target=target)
        cells[company_id] = FirmCell(text, f"/companies/{company_id}/diagnosis", max(0, target - response.level))
    return cells


LEVEL_COLUMN = FirmColumn(N_("Level (target)"), _level_cells)
