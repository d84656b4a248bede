"""Support programmes: calls, applications and their eligibility, reviewers' scores, selection within the budget.

Plain functions taking a session (pages, CLI, demo and tests call the same ones); tenancy comes from the
session's principal: the centre sees every application, a consultant those of the firms assigned to them, a
member its own firm's. Each security-relevant act (a call created or opened, an application submitted, a
selection run) is written to the audit trail in the same transaction.

An application's total score is the weighted mean of the call's criteria (0–100): each review criterion is the
mean of its reviewers' scores, the ``priority`` criterion is the firm's priority score from the centre
(:mod:`smart365.centre.priority`) at submission.

>>> check_shares(50, 30, 20)
>>> check_shares(50, 30, 30)
Traceback (most recent call last):
...
smart365.core.errors.Invalid: The government, partner and firm shares must add up to 100 % (now 110 %).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from smart365.assessment.campaigns import SIZE_BANDS
from smart365.centre.support import ranked_candidates
from smart365.core import audit
from smart365.core.db import as_utc, utcnow
from smart365.core.errors import Conflict, Invalid, NotFound
from smart365.core.i18n import N_, gettext
from smart365.core.tenancy import Principal, Role, principal_of
from smart365.programmes import selection as solver
from smart365.programmes.models import Application, Call, CallState, ReviewScore, SelectionResult
from smart365.programmes.selection import Candidate, Rules, Selection, Why
from smart365.registry.models import Company
from smart365.registry.vocab import REGIONS

SCORE_MAX = 100.0
#: The criteria a new call starts from (msgids: each reader sees them in their language).
DEFAULT_CRITERIA: list[dict[str, Any]] = [
    {"id": "plan", "label": N_("Soundness of the plan"), "weight": 35, "kind": "review"},
    {"id": "capability", "label": N_("Capability to carry it out"), "weight": 25, "kind": "review"},
    {"id": "impact", "label": N_("Expected impact"), "weight": 20, "kind": "review"},
    {"id": "priority", "label": N_("Centre's priority score"), "weight": 20, "kind": "priority"},
]
RULE_LABELS = {
    "sobujang": N_("소부장 firms only"),
    "level": N_("Maturity level"),
    "region": N_("Region"),
    "size": N_("Firm size"),
    "prior": N_("Prior support"),
}


# --------------------------------------------------------------------------- the call


def check_shares(gov: int, partner: int, firm: int) -> None:
    """Refuse funding shares that are negative or do not add up to 100 %."""
    if min(gov, partner, firm) < 0:
        raise Invalid(N_("A funding share cannot be negative."))
    if gov + partner + firm != 100:
        raise Invalid(
            N_("The government, partner and firm shares must add up to 100 % (now {total} %)."),
            total=gov + partner + firm,
        )


def check_eligibility_rules(rules: Mapping[str, Any]) -> dict[str, Any]:
    """The eligibility rules as stored, checked: unknown regions or sizes and a reversed level band are refused.

    >>> check_eligibility_rules({"sobujang_only": True, "level_min": 1, "level_max": 3})["level_max"]
    3.0
    """
    known = {"sobujang_only", "level_min", "level_max", "regions", "sizes", "exclude_prior_support"}
    if unknown := set(rules) - known:
        raise Invalid(N_("Unknown eligibility rule: {rule}"), rule=", ".join(sorted(unknown)))
    out: dict[str, Any] = {
        "sobujang_only": bool(rules.get("sobujang_only")),
        "exclude_prior_support": bool(rules.get("exclude_prior_support")),
        "regions": sorted(set(rules.get("regions") or [])),
        "sizes": [s for s in SIZE_BANDS if s in set(rules.get("sizes") or [])],
    }
    for region in out["regions"]:
        if region not in REGIONS:
            raise Invalid(N_("Unknown region: {region}"), region=region)
    if bad := set(rules.get("sizes") or []) - set(SIZE_BANDS):
        raise Invalid(N_("Unknown firm size: {size}"), size=", ".join(sorted(bad)))
    for key in ("level_min", "level_max"):
        value = rules.get(key)
        if value is not None and not (isinstance(value, int | float) and 0 <= value <= 5):
            raise Invalid(N_("A level bound must be between 0 and 5."))
        out[key] = float(value) if value is not None else None
    if out["level_min"] is not None and out["level_max"] is not None and out["level_min"] > out["level_max"]:
        raise Invalid(N_("The lowest level cannot be above the highest."))
    return out


def check_criteria(criteria: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The scoring criteria as stored: unique ids, weights ≥ 0 with a positive sum, at most one priority."""
    out: list[dict[str, Any]] = []
    for c in criteria:
        weight = c.get("weight")
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise Invalid(N_("A criterion's weight must be a number of at least 0."))
        kind = c.get("kind", "review")
        if kind not in ("review", "priority"):
            raise Invalid(N_("Unknown criterion kind: {kind}"), kind=str(kind))
        out.append({"id": str(c["id"]), "label": str(c.get("label") or c["id"]), "weight": float(weight), "kind": kind})
    if len({c["id"] for c in out}) != len(out) or sum(c["kind"] == "priority" for c in out) > 1:
        raise Invalid(N_("Criteria must have distinct ids, and at most one can be the priority score."))
    if sum(c["weight"] for c in out) <= 0:
        raise Invalid(N_("At least one criterion needs a weight above 0."))
    return [c for c in out if c["weight"] > 0]


@dataclass(frozen=True)
class CallIn:
    """What the centre sets when it creates a call (amounts in won, shares and the quota in percent)."""

    title: str
    budget: int
    cap: int
    deadline: datetime
    share_gov: int = 50
    share_partner: int = 30
    share_firm: int = 20
    description: str = ""
    eligibility: Mapping[str, Any] | None = None
    criteria: Sequence[Mapping[str, Any]] | None = None
    sobujang_quota: int = 0
    region_minimums: Mapping[str, int] | None = None


def create_call(session: Session, data: CallIn) -> Call:
    """A new call in draft, checked (centre only); bad input is refused with its reason."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    title = data.title.strip()
    if not title:
        raise Invalid(N_("The call needs a title."))
    if data.budget <= 0:
        raise Invalid(N_("The budget must be more than 0 won."))
    if data.cap <= 0 or data.cap > data.budget:
        raise Invalid(N_("The cap per firm must be more than 0 won and at most the budget."))
    check_shares(data.share_gov, data.share_partner, data.share_firm)
    if not 0 <= data.sobujang_quota <= 100:
        raise Invalid(N_("The 소부장 quota is a share between 0 and 100 %."))
    minimums = {}
    for region, count in (data.region_minimums or {}).items():
        if region not in REGIONS:
            raise Invalid(N_("Unknown region: {region}"), region=region)
        if not isinstance(count, int) or count < 0:
            raise Invalid(N_("A region's minimum is a whole number of firms, at least 0."))
        if count:
            minimums[region] = count
    call = Call(
        title=title[:200],
        description=data.description.strip(),
        budget=data.budget,
        cap=data.cap,
        share_gov=data.share_gov,
        share_partner=data.share_partner,
        share_firm=data.share_firm,
        eligibility=check_eligibility_rules(data.eligibility or {}),
        criteria=check_criteria(data.criteria if data.criteria is not None else DEFAULT_CRITERIA),
        sobujang_quota=data.sobujang_quota,
        region_minimums=minimums,
        deadline=as_utc(data.deadline),
        state=CallState.DRAFT,
        selection={},
    )
    session.add(call)
    session.flush()
    audit.record(session, audit.Action.CALL_CREATE, f"call:{call.id}", details={"title": call.title})
    return call


def open_call(session: Session, call: Call) -> Call:
    """Open a drafted call for applications (centre only)."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    if call.state != CallState.DRAFT:
        raise Conflict(N_("Only a call in draft can be opened."))
    if as_utc(call.deadline) <= utcnow():
        raise Conflict(N_("The deadline has passed: set a later one before opening the call."))
    call.state = CallState.OPEN
    audit.record(session, audit.Action.CALL_OPEN, f"call:{call.id}")
    return call


def close_call(session: Session, call: Call) -> Call:
    """Stop taking applications (centre only)."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    if call.state != CallState.OPEN:
        raise Conflict(N_("Only an open call can be closed."))
    call.state = CallState.CLOSED
    return call


def list_calls(session: Session) -> list[Call]:
    """The calls the principal may read, newest first: the centre every one, others all but drafts."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER)
    query = select(Call).order_by(Call.deadline.desc(), Call.id.desc())
    if not principal.sees_everything:
        query = query.where(Call.state != CallState.DRAFT)
    return list(session.scalars(query))


def published_call(session: Session, call_id: int) -> Call:
    """A call any firm may read (not a draft, unless the reader is the centre), else 404."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER)
    call = session.get(Call, call_id)
    if call is None or (call.state == CallState.DRAFT and not principal.sees_everything):
        raise NotFound()
    return call


def reviewed_call(session: Session, call_id: int) -> Call:
    """A call with its applications for the reviewing side: the centre always; a consultant or a member only
    when it sees at least one of the call's applications (the applications are scoped), else 404."""
    call = published_call(session, call_id)
    mine = select(Application.id).where(Application.call_id == call_id).limit(1)
    if not principal_of(session).sees_everything and session.scalar(mine) is None:
        raise NotFound()
    return call


# --------------------------------------------------------------------------- applications and eligibility


@dataclass(frozen=True)
class Standing:
    """Where a firm stands for the programme: its diagnosed level and the centre's priority score (or None)."""

    level: float | None
    priority: float | None


def standings(session: Session) -> dict[int, Standing]:
    """Each visible firm's level and priority score from its latest submitted survey."""
    return {int(r.firm_id): Standing(c.profile.level, round(r.score, 2)) for r, c in ranked_candidates(session)}


def prior_support(session: Session, company_id: int, call_id: int) -> Call | None:
    """The latest other call that selected the firm, if any."""
    query = (
        select(Call)
        .join(SelectionResult, SelectionResult.call_id == Call.id)
        .where(SelectionResult.company_id == company_id, SelectionResult.selected.is_(True), Call.id != call_id)
        .order_by(Call.deadline.desc())
        .limit(1)
    )
    return session.scalar(query)


def _reason(rule: str, msgid: str, **params: Any) -> dict[str, Any]:
    return {"rule": rule, "msgid": msgid, "params": params}


def eligibility_reasons(
    call: Call, company: Company, standing: Standing, prior: Call | None = None
) -> list[dict[str, Any]]:
    """Every rule of ``call`` that ``company`` fails, each as a reason (a msgid and its values); none: eligible.

    >>> call = Call(eligibility={"sobujang_only": True, "level_min": 2.0, "level_max": None, "regions": ["busan"],
    ...             "sizes": [], "exclude_prior_support": False})
    >>> firm = Company(name="가", sobujang=False, region="seoul", employees=30)
    >>> [r["rule"] for r in eligibility_reasons(call, firm, Standing(level=1.2, priority=40.0))]
    ['sobujang', 'level', 'region']
    >>> print(reason_text(eligibility_reasons(call, firm, Standing(1.2, 40.0))[2]))
    부산 지역 기업만 신청할 수 있습니다. 이 기업은 서울에 있습니다.
    """
    rules = call.eligibility or {}
    out: list[dict[str, Any]] = []
    if rules.get("sobujang_only") and not company.sobujang:
        out.append(_reason("sobujang", N_("Only 소부장 (materials, parts and equipment) firms may apply; "
                                          "the firm is not registered as one by its KSIC code.")))  # fmt: skip
    low, high = rules.get("level_min"), rules.get("level_max")
    if low is not None or high is not None:
        band = f"{low if low is not None else 0:g}–{high if high is not None else 5:g}"
        if standing.level is None:
            out.append(_reason("level", N_("The call is for firms at Level {band}; the firm has no submitted "
                                           "maturity survey yet."), band=band))  # fmt: skip
        elif low is not None and standing.level < low:
            out.append(_reason("level", N_("The firm's level {level} is below the call's lowest, Level {low}."),
                               level=f"{standing.level:.1f}", low=f"{low:g}"))  # fmt: skip
        elif high is not None and standing.level > high:
            out.append(_reason("level", N_("The firm's level {level} is above the call's highest, Level {high}."),
                               level=f"{standing.level:.1f}", high=f"{high:g}"))  # fmt: skip
    if (regions := rules.get("regions")) and company.region not in regions:
        out.append(_reason("region", N_("Only firms in {regions} may apply; the firm is in {region}."),
                           regions=list(regions), region=company.region))  # fmt: skip
    if sizes := rules.get("sizes"):
        if company.employees is None:
            out.append(_reason("size", N_("The call is for firms of a given size; the firm's employees are not "
                                          "registered.")))  # fmt: skip
        elif not any(_in_band(company.employees, s) for s in sizes):
            out.append(_reason("size", N_("The call is for firms of {sizes}; the firm has {employees} employees."),
                               sizes=list(sizes), employees=company.employees))  # fmt: skip
    if rules.get("exclude_prior_support") and prior is not None:
        out.append(_reason("prior", N_("The firm was already selected by “{call}”, and this call excludes firms "
                                       "supported before."), call=prior.title))  # fmt: skip
    return out


def _in_band(employees: int, size: str) -> bool:
    low, high, _label = SIZE_BANDS[size]
    return employees >= low and (high is None or employees <= high)


def reason_text(reason: Mapping[str, Any]) -> str:
    """A stored reason in the reader's language (region and size codes named in words)."""
    params = dict(reason.get("params") or {})
    for key in ("regions", "region"):
        if key in params:
            codes = params[key] if isinstance(params[key], list) else [params[key]]
            params[key] = ", ".join(gettext(REGIONS.get(code, code)) for code in codes)
    if "sizes" in params:
        params["sizes"] = ", ".join(gettext(SIZE_BANDS[s][2]) for s in params["sizes"] if s in SIZE_BANDS)
    for key in ("requested", "cap", "fitting_request", "budget"):
        if isinstance(params.get(key), int):
            params[key] = won(params[key])
    return gettext(str(reason["msgid"])).format(**params)


def won(amount: int) -> str:
    """An amount of money as the reader writes it: 억 and 만 in Korean, KRW with thousands in English.

    >>> from smart365.core.i18n import use_locale
    >>> won(150_000_000), won(30_000_000), won(1_200_000_000)
    ('1억 5,000만 원', '3,000만 원', '12억 원')
    >>> with use_locale("en"):
    ...     won(150_000_000)
    'KRW 150,000,000'
    """
    from smart365.core.i18n import current_locale

    if current_locale.get() != "ko":
        return f"KRW {amount:,}"
    eok, rest = divmod(amount, 100_000_000)
    man, one = divmod(rest, 10_000)
    parts = [f"{eok:,}억"] if eok else []
    if man:
        parts.append(f"{man:,}만")
    if one or not parts:
        parts.append(f"{one:,}")
    return " ".join(parts) + " 원"


@dataclass(frozen=True)
class ApplicationIn:
    """What a firm sends: its plan, budget lines (item, amount in won), the request and its target KPIs."""

    plan: str
    budget_lines: Sequence[Mapping[str, Any]]
    requested: int
    kpis: Sequence[Mapping[str, Any]]


def submit_application(
    session: Session, call: Call, company: Company, data: ApplicationIn, *, standing: Standing | None = None
) -> Application:
    """File the firm's application: refused (422/409) when malformed, late or twice; otherwise stored with its
    eligibility and the reasons for each rule it fails, found now (``standing``: the firm's level and priority
    score when the caller has them already, else read from its latest survey)."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.COMPANY_MEMBER)
    if call.state != CallState.OPEN or as_utc(call.deadline) <= utcnow():
        raise Conflict(N_("The call is not open for applications."))
    if not principal.can_change(company.id):
        raise NotFound()
    existing = select(Application.id).where(Application.call_id == call.id, Application.company_id == company.id)
    if session.scalar(existing) is not None:
        raise Conflict(N_("The firm has already applied to this call."))
    plan = data.plan.strip()
    if len(plan) < 20:
        raise Invalid(N_("Describe the plan in at least 20 characters."))
    lines = _budget_lines(data.budget_lines)
    kpis = [
        {"name": str(k.get("name", "")).strip()[:200], "target": str(k.get("target", "")).strip()[:200]}
        for k in data.kpis
        if str(k.get("name", "")).strip()
    ]
    if not kpis:
        raise Invalid(N_("Name at least one target KPI (e.g. defect rate 2 % → 1 %)."))
    if data.requested <= 0:
        raise Invalid(N_("The request must be more than 0 won."))
    if data.requested > call.cap:
        raise Invalid(N_("The request ({requested}) is more than the call's cap per firm ({cap})."),
                      requested=won(data.requested), cap=won(call.cap))  # fmt: skip
    total = sum(line["amount"] for line in lines)
    funded = call.share_gov + call.share_partner
    if data.requested * 100 > total * funded:
        raise Invalid(
            N_("The request ({requested}) is more than the government and partner shares ({share} %) of the "
               "budget lines' total ({total}); the firm pays {firm} %."),
            requested=won(data.requested), share=funded, total=won(total), firm=call.share_firm,
        )  # fmt: skip
    if standing is None:
        standing = standings(session).get(company.id, Standing(None, None))
    reasons = eligibility_reasons(call, company, standing, prior_support(session, company.id, call.id))
    application = Application(
        call_id=call.id,
        company_id=company.id,
        plan=plan,
        budget_lines=lines,
        requested=data.requested,
        kpis=kpis,
        submitted_at=utcnow(),
        eligible=not reasons,
        reasons=reasons,
        level=standing.level,
        priority=standing.priority,
    )
    session.add(application)
    session.flush()
    audit.record(session, audit.Action.APPLICATION_SUBMIT, f"application:{application.id}", company_id=company.id,
                 details={"call": call.id, "eligible": application.eligible})  # fmt: skip
    return application


def _budget_lines(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        item = str(line.get("item", "")).strip()
        amount = line.get("amount")
        if not item and not amount:
            continue
        if not item or not isinstance(amount, int) or amount <= 0:
            raise Invalid(N_("Each budget line needs an item and an amount of more than 0 won."))
        out.append({"item": item[:200], "amount": amount})
    if not out:
        raise Invalid(N_("Add at least one budget line."))
    return out


def get_application(session: Session, application_id: int) -> Application:
    """An application the principal may read, else 404 (tenancy hides another firm's)."""
    principal_of(session).require(Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER)
    application = session.get(Application, application_id)
    if application is None:
        raise NotFound()
    return application


def firm_application(session: Session, call_id: int, company_id: int) -> Application | None:
    return session.scalar(
        select(Application).where(Application.call_id == call_id, Application.company_id == company_id)
    )


def applications(session: Session, call_id: int) -> list[Application]:
    """The call's applications the principal may read, in the order they came."""
    query = select(Application).where(Application.call_id == call_id).order_by(Application.submitted_at, Application.id)
    return list(session.scalars(query))


# --------------------------------------------------------------------------- reviewers' scores


def record_score(session: Session, application: Application, criterion: str, score: float) -> ReviewScore:
    """Set the reviewer's score (0–100) of one review criterion (centre or the firm's consultant)."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT)
    if principal.user_id is None:
        raise Invalid(N_("A score needs a reviewer who is a user."))
    call = session.get(Call, application.call_id)
    assert call is not None
    if call.state == CallState.SELECTED:
        raise Conflict(N_("The selection has been made; scores can no longer change."))
    if criterion not in {c["id"] for c in call.criteria if c["kind"] == "review"}:
        raise Invalid(N_("Unknown criterion: {criterion}"), criterion=criterion)
    if not (math.isfinite(score) and 0 <= score <= SCORE_MAX):
        raise Invalid(N_("A score is between 0 and 100."))
    row = session.scalar(
        select(ReviewScore).where(
            ReviewScore.application_id == application.id,
            ReviewScore.reviewer_id == principal.user_id,
            ReviewScore.criterion == criterion,
        )
    )
    if row is None:
        row = ReviewScore(application_id=application.id, company_id=application.company_id,
                          reviewer_id=principal.user_id, criterion=criterion, score=score)  # fmt: skip
        session.add(row)
    row.score, row.scored_at = float(score), utcnow()
    session.flush()
    return row


def scores_by(session: Session, ids: Sequence[int], reviewer_id: int | None) -> dict[tuple[int, str], float]:
    """One reviewer's scores of the applications, by (application id, criterion)."""
    if reviewer_id is None:
        return {}
    query = select(ReviewScore).where(ReviewScore.application_id.in_(ids), ReviewScore.reviewer_id == reviewer_id)
    return {(s.application_id, s.criterion): s.score for s in session.scalars(query)}


@dataclass(frozen=True)
class Scored:
    """An application's criteria (mean of its reviewers, or the priority score), total, and what is missing."""

    application: Application
    by_criterion: dict[str, float | None]
    reviewers: dict[str, int]
    total: float
    missing: tuple[str, ...]


def scored(session: Session, call: Call, rows: Sequence[Application]) -> list[Scored]:
    """Each application's score per criterion and its weighted total (0–100); a criterion nobody scored yet
    is missing and counts as 0 until it is.

    The total is Σ weight × value / Σ weight over the call's criteria.
    """
    by_app: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    ids = [a.id for a in rows]
    for s in session.scalars(select(ReviewScore).where(ReviewScore.application_id.in_(ids))):
        by_app[s.application_id][s.criterion].append(s.score)
    weight_sum = sum(c["weight"] for c in call.criteria) or 1.0
    out = []
    for a in rows:
        values: dict[str, float | None] = {}
        counts: dict[str, int] = {}
        for c in call.criteria:
            if c["kind"] == "priority":
                values[c["id"]], counts[c["id"]] = a.priority, 0
            else:
                given = by_app[a.id].get(c["id"], [])
                values[c["id"]] = sum(given) / len(given) if given else None
                counts[c["id"]] = len(given)
        total = sum(c["weight"] * (values[c["id"]] or 0.0) for c in call.criteria) / weight_sum
        missing = tuple(c["id"] for c in call.criteria if c["kind"] == "review" and values[c["id"]] is None)
        out.append(Scored(a, values, counts, round(total, 2), missing))
    return out


# --------------------------------------------------------------------------- selection


def rules_of(call: Call) -> Rules:
    """The call's constraints as the solver takes them."""
    return Rules(call.budget, call.cap, call.sobujang_quota / 100, dict(call.region_minimums or {}))


def run_selection(session: Session, call: Call) -> Selection:
    """Select within the budget (centre only), store every firm's result and reason, and close the call.

    Refused while the call takes applications before its deadline, when an eligible application lacks a
    reviewer's score, or (409 with the failing constraint) when the quotas cannot be met.
    """
    principal_of(session).require(Role.CENTRE_ADMIN)
    if call.state == CallState.DRAFT or (call.state == CallState.OPEN and as_utc(call.deadline) > utcnow()):
        raise Conflict(N_("The call is still taking applications: close it before selecting."))
    rows = applications(session, call.id)
    results = scored(session, call, rows)
    eligible = [r for r in results if r.application.eligible]
    if unscored := [r for r in eligible if r.missing]:
        raise Conflict(N_("{n} eligible applications still lack a reviewer's score on some criterion."),
                       n=len(unscored))  # fmt: skip
    companies = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_([a.company_id for a in rows])))}
    candidates = [
        Candidate(str(r.application.id), r.total, r.application.requested,
                  companies[r.application.company_id].sobujang, companies[r.application.company_id].region)
        for r in eligible
    ]  # fmt: skip
    rules = rules_of(call)
    selection = solver.select(candidates, rules)
    base = solver.greedy(candidates, rules)
    why = solver.explain(candidates, rules, selection)
    session.execute(delete(SelectionResult).where(SelectionResult.call_id == call.id))
    lowest = min((c.score for c in candidates if c.key in selection.chosen), default=None)
    for r in results:
        a = r.application
        reason = _selection_reason(a, r.total, why.get(str(a.id)), lowest)
        selected = bool(why.get(str(a.id)) and why[str(a.id)].selected)
        session.add(SelectionResult(call_id=call.id, application_id=a.id, company_id=a.company_id,
                                    selected=selected, score=r.total, reason=reason))  # fmt: skip
    call.state = CallState.SELECTED
    call.selected_at = utcnow()
    call.selection = {
        "total": round(selection.total, 2), "cost": selection.cost, "selected": len(selection.chosen),
        "optimal": selection.optimal, "gap": selection.gap, "seconds": round(selection.seconds, 3),
        "greedy_total": round(base.total, 2), "greedy_selected": len(base.chosen), "eligible": len(candidates),
        "applications": len(rows),
    }  # fmt: skip
    audit.record(session, audit.Action.SELECTION_RUN, f"call:{call.id}", details=call.selection)
    return selection


def _selection_reason(a: Application, total: float, why: Why | None, lowest: float | None) -> dict[str, Any]:
    if not a.eligible:
        return {"kind": "ineligible", "msgid": N_("Not eligible: {reasons}"), "params": {}, "reasons": a.reasons}
    assert why is not None
    if why.selected:
        return {"kind": "selected", "params": {"score": f"{total:.2f}"},
                "msgid": N_("Selected: with a total score of {score} it belongs to the selection of the highest "
                            "total score within the budget and quotas.")}  # fmt: skip
    params: dict[str, Any] = {"score": f"{total:.2f}", "lowest": f"{lowest:.2f}" if lowest is not None else "–"}
    changes: list[dict[str, Any]] = []
    if why.needed_score is not None and why.needed_score <= SCORE_MAX:
        changes.append({"msgid": N_("It would have been selected with a total score of at least {needed}."),
                        "params": {"needed": f"{why.needed_score:.2f}"}})  # fmt: skip
    if why.fitting_request is not None and why.fitting_request < a.requested:
        fitting = N_("It would have been selected at its score with a request of at most {fitting_request}.")
        changes.append({"msgid": fitting, "params": {"fitting_request": why.fitting_request}})
    if not why.computed:
        changes.append({"msgid": N_("What would have changed it was not worked out: the call has too many "
                                    "applications to re-solve for each in time; the nearest misses come first."),
                        "params": {}})  # fmt: skip
    elif not changes:
        changes.append({"msgid": N_("No score up to 100 and no smaller request would have got it selected "
                                    "within this budget and these quotas."), "params": {}})  # fmt: skip
    return {"kind": "budget", "params": params, "changes": changes,
            "msgid": N_("Not selected: a set of applications with a higher total score used the budget (score "
                        "{score}; the lowest selected scored {lowest}).")}  # fmt: skip


def selection_texts(reason: Mapping[str, Any]) -> list[str]:
    """A stored selection reason as sentences in the reader's language: the outcome, then what would change it."""
    if reason.get("kind") == "ineligible":
        listed = " ".join(reason_text(r) for r in reason.get("reasons", []))
        return [gettext(str(reason["msgid"])).format(reasons=listed)]
    lines = [reason_text(reason)]
    lines.extend(reason_text(change) for change in reason.get("changes", []))
    return lines


def results(session: Session, call_id: int) -> dict[int, SelectionResult]:
    """The stored selection results of the call the principal may read, by application id."""
    rows = session.scalars(select(SelectionResult).where(SelectionResult.call_id == call_id))
    return {r.application_id: r for r in rows}


def may_review(principal: Principal) -> bool:
    return principal.role in (Role.CENTRE_ADMIN, Role.CONSULTANT)
