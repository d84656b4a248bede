"""판로 (sales channels): buyers' sourcing needs, suppliers ranked for them, firms' answers and their pipeline.

A buyer — a data partner (the partner or another large firm) or the centre on a buyer's behalf — posts a need;
every firm is ranked for it at once by :mod:`smart365.programmes.matching` over its capability profile, which is
built from what the registry knows (region, KSIC code, the kinds of machines registered) until the firm keeps
its own (products, processes, materials, certifications, capacity, Cpk and first-pass yield).

Who sees what:

* the centre sees every need, every ranked firm and every answer;
* the buyer sees its own needs, the ranking's scores and reasons, and a firm's name and profile only once that
  firm answered with interest (a firm decides whether to come forward);
* a member firm sees the needs it is ranked for, its own reasons, and answers for its own firm only; a
  consultant sees those of the firms assigned to them;
* measured quality (Cpk, first-pass yield, maturity level) enters the ranking and shows to a buyer only while
  the firm consents (``share_quality``); withdrawn consent hides it from stored rankings too. The first-pass
  yield is measured where the firm's machines count good and total parts (their OEE counters over the last
  :data:`FPY_DAYS` days, :func:`measured_fpy`); else, like Cpk, it is what the firm states, and says so. The
  level is the one its latest survey diagnosed.

The pipeline: interest → rfq → sample → evaluation → order (with the amount won), or declined at any step
before the order. The firm answers (interest or declined) and may withdraw; the buyer (or the centre) moves the
rest. Posting a need, a profile's consent, an answer and each stage are audited.

>>> next_stages(Stage.INTEREST)
['rfq', 'declined']
>>> next_stages(Stage.ORDER)
[]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.db import utcnow
from smart365.core.errors import Conflict, Forbidden, Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.tenancy import SYSTEM, Principal, Role, principal_of
from smart365.programmes import matching
from smart365.programmes.models import (
    NeedState,
    SourcingMatch,
    SourcingNeed,
    SourcingResponse,
    Stage,
    SupplierProfile,
)
from smart365.registry.models import Company, Equipment
from smart365.registry.vocab import REGIONS

if TYPE_CHECKING:
    from smart365.telemetry.store import TimeSeriesStore

#: At most this many firms are kept per need, and only those scoring at least :data:`MIN_SCORE` (0–1).
MATCH_LIMIT = 20
MIN_SCORE = 0.4
FPY_DAYS = 7
PIPELINE = (Stage.INTEREST, Stage.RFQ, Stage.SAMPLE, Stage.EVALUATION, Stage.ORDER)
#: What the registry's machines say a firm can do (equipment kind → a process as firms write it).
EQUIPMENT_PROCESSES = {
    "cnc": "CNC 가공", "lathe": "선반 가공", "injection": "사출 성형", "press": "프레스", "furnace": "열처리",
    "robot": "조립",
}  # fmt: skip
#: What a KSIC class (its first digits) says a firm makes and how (the longest prefix wins).
KSIC_HINTS: dict[str, tuple[str, str]] = {
    "222": ("플라스틱 제품", "사출"), "221": ("고무 제품", "고무 성형"), "241": ("철강 소재", "압연"),
    "242": ("비철금속 소재", "압출"), "243": ("주물", "주조"), "251": ("구조용 금속 제품", "용접"),
    "259": ("금속 가공 제품", "프레스"), "2591": ("단조 부품", "단조"), "2592": ("금속 열처리", "열처리"),
    "2593": ("금속 도금 제품", "도금"), "261": ("전자 부품", "SMT"), "262": ("회로 기판", "PCB 조립"),
    "28": ("전기 장비", "조립"), "29": ("기계 부품", "CNC 가공"), "292": ("특수 목적용 기계 부품", "CNC 가공"),
    "30": ("자동차 부품", "가공"), "303": ("자동차 부품", "프레스"), "31": ("운송 장비 부품", "가공"),
}  # fmt: skip


def next_stages(stage: str) -> list[str]:
    """The stages an answer may move to from ``stage`` (the order and a decline are final)."""
    if stage in (Stage.ORDER, Stage.DECLINED):
        return []
    i = PIPELINE.index(Stage(stage))
    return [str(PIPELINE[i + 1]), str(Stage.DECLINED)]


@contextmanager
def _as_system(session: Session) -> Iterator[Session]:
    """The session acting as the system for a read (or a write already checked here) across firms."""
    principal = session.info["principal"]
    session.info["principal"] = SYSTEM
    try:
        yield session
    finally:
        session.info["principal"] = principal


def is_buyer(principal: Principal) -> bool:
    """Whether the principal posts needs: a data partner (a buyer) or the centre."""
    return principal.role in (Role.DATA_PARTNER, Role.CENTRE_ADMIN, Role.SYSTEM)


# --------------------------------------------------------------------------- needs


@dataclass(frozen=True)
class NeedIn:
    """What a buyer posts: the item, material, process, spec, quantity a month, certifications, region, date."""

    buyer: str
    item: str
    material: str = ""
    process: str = ""
    spec: str = ""
    quantity: int | None = None
    certifications: Sequence[str] = ()
    region: str | None = None
    target_date: date | None = None


def check_need(data: NeedIn, today: date | None = None) -> dict[str, Any]:
    """The need as stored, checked; bad input is refused with its reason.

    >>> check_need(NeedIn("현대", "알루미늄 하우징", certifications=["IATF 16949"]))["certifications"]
    ['iatf16949']
    >>> check_need(NeedIn("현대", "하우징", certifications=["CE"]))
    Traceback (most recent call last):
    ...
    smart365.core.errors.Invalid: Unknown certification: CE
    """
    buyer, item = data.buyer.strip(), data.item.strip()
    if not buyer:
        raise Invalid(N_("Name the buying firm."))
    if len(item) < 2:
        raise Invalid(N_("Describe the item in at least 2 characters."))
    if data.quantity is not None and data.quantity <= 0:
        raise Invalid(N_("The quantity must be more than 0 a month."))
    certs = []
    for text in data.certifications:
        if not str(text).strip():
            continue
        code = matching.cert_code(str(text))
        if code is None:
            raise Invalid(N_("Unknown certification: {certification}"), certification=str(text))
        certs.append(code)
    if data.region is not None and data.region not in REGIONS:
        raise Invalid(N_("Unknown region: {region}"), region=data.region)
    if data.target_date is not None and data.target_date < (today or date.today()):
        raise Invalid(N_("The target date has passed."))
    return {"buyer": buyer[:200], "item": item[:200], "material": data.material.strip()[:200],
            "process": data.process.strip()[:200], "spec": data.spec.strip(), "quantity": data.quantity,
            "certifications": sorted(set(certs)), "region": data.region, "target_date": data.target_date}  # fmt: skip


def post_need(session: Session, data: NeedIn, store: TimeSeriesStore | None = None) -> SourcingNeed:
    """Post a need (a data partner for its firm, or the centre) and rank every firm for it at once (``store``:
    where consenting firms' first-pass yield is measured)."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.DATA_PARTNER)
    need = SourcingNeed(**check_need(data), posted_by=principal.user_id, state=NeedState.OPEN)
    session.add(need)
    session.flush()
    match_need(session, need, store=store)
    audit.record(session, audit.Action.SOURCING_NEED, f"need:{need.id}",
                 details={"buyer": need.buyer, "item": need.item, "state": need.state})  # fmt: skip
    return need


def close_need(session: Session, need: SourcingNeed) -> SourcingNeed:
    """Stop taking answers (the buyer who posted it, or the centre)."""
    _require_owner(principal_of(session), need)
    if need.state != NeedState.OPEN:
        raise Conflict(N_("Only an open need can be closed."))
    need.state = NeedState.CLOSED
    audit.record(session, audit.Action.SOURCING_NEED, f"need:{need.id}", details={"state": need.state})
    return need


def _require_owner(principal: Principal, need: SourcingNeed) -> None:
    if principal.sees_everything:
        return
    if principal.role is Role.DATA_PARTNER and need.posted_by == principal.user_id:
        return
    raise NotFound()


def owns(principal: Principal, need: SourcingNeed) -> bool:
    """Whether the principal is the need's buyer side: the poster, or the centre."""
    return principal.sees_everything or (principal.role is Role.DATA_PARTNER and need.posted_by == principal.user_id)


def _matched_firms(session: Session, need_id: int) -> set[int]:
    return set(session.scalars(select(SourcingMatch.supplier_id).where(SourcingMatch.need_id == need_id)))


def get_need(session: Session, need_id: int) -> SourcingNeed:
    """A need the principal may read, else 404: the centre any, a buyer its own, a firm (or its consultant) one
    it is ranked for."""
    principal = principal_of(session)
    need = session.get(SourcingNeed, need_id)
    if need is None:
        raise NotFound()
    if owns(principal, need):
        return need
    visible = principal.visible_companies() if principal.role in (Role.COMPANY_MEMBER, Role.CONSULTANT) else None
    if visible and _matched_firms(session, need.id) & visible:
        return need
    raise NotFound()


def list_needs(session: Session) -> list[SourcingNeed]:
    """The needs the principal may read, newest first."""
    principal = principal_of(session)
    query = select(SourcingNeed).order_by(SourcingNeed.created_at.desc(), SourcingNeed.id.desc())
    if principal.sees_everything:
        return list(session.scalars(query))
    if principal.role is Role.DATA_PARTNER:
        return list(session.scalars(query.where(SourcingNeed.posted_by == principal.user_id)))
    visible = principal.visible_companies() or frozenset()
    if principal.role not in (Role.COMPANY_MEMBER, Role.CONSULTANT) or not visible:
        return []
    mine = select(SourcingMatch.need_id).where(SourcingMatch.supplier_id.in_(sorted(visible)))
    return list(session.scalars(query.where(SourcingNeed.id.in_(mine))))


def as_need(need: SourcingNeed) -> matching.Need:
    """The stored need as the matcher reads it."""
    return matching.Need(item=need.item, process=need.process, material=need.material, spec=need.spec,
                         quantity=need.quantity, certifications=tuple(need.certifications),
                         region=need.region)  # fmt: skip


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class ProfileIn:
    """What a firm keeps: products, processes, materials (one per line), certifications, capacity, quality."""

    products: Sequence[str] = ()
    processes: Sequence[str] = ()
    materials: Sequence[str] = ()
    description: str = ""
    certifications: Sequence[str] = ()
    capacity: int | None = None
    cpk: float | None = None
    fpy: float | None = None  # percent on the form, 0–1 stored
    share_quality: bool = False


@dataclass
class ProfileView:
    """A firm's profile as shown: stored, or (``stored`` False) built from the registry."""

    company_id: int
    products: list[str]
    processes: list[str]
    materials: list[str]
    description: str
    certifications: list[str]
    capacity: int | None
    cpk: float | None
    fpy: float | None
    share_quality: bool
    stored: bool
    region: str | None = None
    sources: list[str] = field(default_factory=list)


def registry_defaults(company: Company, kinds: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """Products, processes and where they came from, from the firm's KSIC code and registered machines.

    >>> registry_defaults(Company(ksic_code="29229"), ["cnc", "inspection"])
    (['특수 목적용 기계 부품'], ['CNC 가공'], ['KSIC 29229', 'machines'])
    """
    products, processes, sources = [], [], []
    code = company.ksic_code or ""
    for prefix in sorted(KSIC_HINTS, key=len, reverse=True):
        if code.startswith(prefix):
            product, process = KSIC_HINTS[prefix]
            products.append(product)
            processes.append(process)
            sources.append(f"KSIC {code}")
            break
    from_machines = [EQUIPMENT_PROCESSES[k] for k in dict.fromkeys(kinds) if k in EQUIPMENT_PROCESSES]
    if from_machines:
        sources.append("machines")
    processes = list(dict.fromkeys([*processes, *from_machines]))
    return products, processes, sources


def _kinds_by_firm(session: Session, ids: Sequence[int] | None = None) -> dict[int, list[str]]:
    query = select(Equipment.company_id, Equipment.kind).order_by(Equipment.id)
    if ids is not None:
        query = query.where(Equipment.company_id.in_(list(ids)))
    out: dict[int, list[str]] = {}
    for company_id, kind in session.execute(query):
        out.setdefault(company_id, []).append(kind)
    return out


def _view(company: Company, stored: SupplierProfile | None, kinds: Sequence[str]) -> ProfileView:
    if stored is not None:
        return ProfileView(company.id, list(stored.products), list(stored.processes), list(stored.materials),
                           stored.description, list(stored.certifications), stored.capacity, stored.cpk, stored.fpy,
                           stored.share_quality, True, company.region)  # fmt: skip
    products, processes, sources = registry_defaults(company, kinds)
    return ProfileView(company.id, products, processes, [], "", [], None, None, None, False, False, company.region,
                       sources)  # fmt: skip


def profile_of(session: Session, company: Company) -> ProfileView:
    """The firm's profile: the one it keeps, else the registry's defaults (not stored until the firm saves)."""
    stored = session.scalar(select(SupplierProfile).where(SupplierProfile.company_id == company.id))
    return _view(company, stored, _kinds_by_firm(session, [company.id]).get(company.id, []))


def _lines(values: Sequence[str]) -> list[str]:
    return [v.strip()[:200] for v in values if v and v.strip()][:30]


def save_profile(session: Session, company: Company, data: ProfileIn) -> SupplierProfile:
    """Keep the firm's profile (its member or the centre); a change of consent is audited."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.COMPANY_MEMBER)
    if not principal.can_change(company.id):
        raise NotFound()
    certs = []
    for text in data.certifications:
        code = matching.cert_code(text) if text.strip() else None
        if text.strip() and code is None:
            raise Invalid(N_("Unknown certification: {certification}"), certification=text)
        if code:
            certs.append(code)
    if data.capacity is not None and data.capacity <= 0:
        raise Invalid(N_("The capacity must be more than 0 a month."))
    if data.cpk is not None and not 0 <= data.cpk <= 10:
        raise Invalid(N_("Cpk is a number between 0 and 10."))
    if data.fpy is not None and not 0 <= data.fpy <= 1:
        raise Invalid(N_("The first-pass yield is between 0 and 100 %."))
    row = session.scalar(select(SupplierProfile).where(SupplierProfile.company_id == company.id))
    before = row.share_quality if row is not None else False
    if row is None:
        row = SupplierProfile(company_id=company.id)
        session.add(row)
    row.products, row.processes = _lines(data.products), _lines(data.processes)
    row.materials, row.description = _lines(data.materials), data.description.strip()[:2000]
    row.certifications, row.capacity = sorted(set(certs)), data.capacity
    row.cpk, row.fpy, row.share_quality = data.cpk, data.fpy, bool(data.share_quality)
    session.flush()
    audit.record(session, audit.Action.SOURCING_PROFILE, f"company:{company.id}", company_id=company.id,
                 details={"share_quality": row.share_quality,
                          "consent_changed": before != row.share_quality})  # fmt: skip
    return row


def _levels(session: Session, ids: set[int]) -> dict[int, float]:
    if not ids:
        return {}
    from smart365.programmes.service import standings

    return {k: s.level for k, s in standings(session).items() if k in ids and s.level is not None}


@dataclass(frozen=True)
class Measured:
    """A first-pass yield measured from the firm's machines: good parts over all parts, over how many machines
    and days."""

    fpy: float
    machines: int
    days: int
    parts: int


def measured_fpy(session: Session, store: TimeSeriesStore | None, company_id: int,
                 now: datetime | None = None) -> Measured | None:  # fmt: skip
    """The firm's first-pass yield over the last :data:`FPY_DAYS` days from its machines' OEE counters (good and
    total parts), or ``None`` where no machine counts parts (or there is no store)."""
    if store is None:
        return None
    from smart365.monitoring.service import equipment_oee, oee_settings

    end = now or datetime.now(UTC)
    start = end - timedelta(days=FPY_DAYS)
    machines = list(session.scalars(select(Equipment.id).where(Equipment.company_id == company_id)))
    good = total = 0.0
    used = 0
    for setting in oee_settings(session, machines).values():
        result = equipment_oee(store, setting, start, end)
        if result is not None and result.total > 0:
            good, total, used = good + result.good, total + result.total, used + 1
    if total <= 0:
        return None
    return Measured(round(min(1.0, good / total), 4), used, FPY_DAYS, int(total))


def supplier_profiles(session: Session, store: TimeSeriesStore | None = None) -> list[matching.Profile]:
    """Every firm's profile as the matcher reads it (read as the system: ranking spans all firms); measured
    quality only for the firms that consent (the first-pass yield measured where ``store`` has it)."""
    with _as_system(session):
        companies = list(session.scalars(select(Company).order_by(Company.id)))
        stored = {p.company_id: p for p in session.scalars(select(SupplierProfile))}
        kinds = _kinds_by_firm(session)
        consenting = {k for k, p in stored.items() if p.share_quality}
        levels = _levels(session, consenting)
        measured = {k: m for k in consenting if (m := measured_fpy(session, store, k)) is not None}
    out = []
    for company in companies:
        view = _view(company, stored.get(company.id), kinds.get(company.id, []))
        quality = None
        if view.share_quality:
            fpy = measured[company.id].fpy if company.id in measured else view.fpy
            quality = matching.Quality(view.cpk, fpy, levels.get(company.id))
        out.append(matching.Profile(str(company.id), tuple(view.products), tuple(view.processes),
                                    tuple(view.materials), view.description, tuple(view.certifications),
                                    company.region, view.capacity, quality))  # fmt: skip
    return out


def match_need(
    session: Session, need: SourcingNeed, profiles: Sequence[matching.Profile] | None = None,
    store: TimeSeriesStore | None = None,
) -> int:  # fmt: skip
    """Rank every firm for the need and keep the best (at most :data:`MATCH_LIMIT`, scoring ≥ :data:`MIN_SCORE`)."""
    profiles = list(profiles) if profiles is not None else supplier_profiles(session, store)
    ranked = matching.Matcher(profiles).rank(as_need(need), top=MATCH_LIMIT) if profiles else []
    kept = [r for r in ranked if r.score >= MIN_SCORE]
    session.execute(delete(SourcingMatch).where(SourcingMatch.need_id == need.id))
    for i, r in enumerate(kept, start=1):
        session.add(SourcingMatch(need_id=need.id, supplier_id=int(r.key), rank=i, score=r.score,
                                  criteria=[c.as_dict() for c in r.criteria]))  # fmt: skip
    need.matched_at = utcnow()
    session.flush()
    return len(kept)


# --------------------------------------------------------------------------- rankings and answers


@dataclass
class MatchView:
    """One ranked firm as the reader may see it: ``company`` None while the buyer may not know who it is."""

    rank: int
    score: float
    criteria: list[dict[str, Any]]
    company_id: int | None
    company: str | None
    response: SourcingResponse | None
    profile: ProfileView | None = None


def need_matches(session: Session, need: SourcingNeed) -> list[MatchView]:
    """The need's ranking as the reader may see it.

    The centre: every firm by name. The buyer: every rank with its reasons, but a firm's name, profile and
    answer only once it answered with interest (a declined answer stays anonymous). A firm or its consultant:
    only its own rows. Measured quality shows only while the firm consents."""
    principal = principal_of(session)
    buyer = owns(principal, need)
    with _as_system(session):
        rows = list(session.scalars(select(SourcingMatch).where(SourcingMatch.need_id == need.id)
                                    .order_by(SourcingMatch.rank)))  # fmt: skip
        ids = [m.supplier_id for m in rows]
        companies = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_(ids)))}
        consents = {p.company_id: p for p in session.scalars(select(SupplierProfile)
                                                             .where(SupplierProfile.company_id.in_(ids)))}  # fmt: skip
        answers = {r.company_id: r for r in session.scalars(select(SourcingResponse)
                                                            .where(SourcingResponse.need_id == need.id))}  # fmt: skip
        kinds = _kinds_by_firm(session, ids) if buyer else {}
    visible = principal.visible_companies()
    out = []
    for m in rows:
        consent = consents.get(m.supplier_id)
        criteria = [c for c in m.criteria if c["id"] != "quality" or (consent is not None and consent.share_quality)]
        answer = answers.get(m.supplier_id)
        if principal.sees_everything:
            named = True
        elif buyer:
            named = answer is not None and answer.stage != Stage.DECLINED
        else:
            if visible is None or m.supplier_id not in visible:
                continue
            named = True
        company = companies.get(m.supplier_id)
        profile = None
        if named and buyer and company is not None:
            profile = _view(company, consent, kinds.get(company.id, []))
            if not profile.share_quality:
                profile.cpk = profile.fpy = None
        out.append(MatchView(m.rank, m.score, criteria, m.supplier_id if named else None,
                             company.name if named and company else None, answer if named else None,
                             profile))  # fmt: skip
    return out


def firm_match(session: Session, need: SourcingNeed, company: Company) -> SourcingMatch | None:
    """The firm's row in the need's ranking, if it is ranked."""
    query = select(SourcingMatch).where(SourcingMatch.need_id == need.id, SourcingMatch.supplier_id == company.id)
    return session.scalar(query)


def firm_response(session: Session, need_id: int, company_id: int) -> SourcingResponse | None:
    query = select(SourcingResponse).where(SourcingResponse.need_id == need_id)
    return session.scalar(query.where(SourcingResponse.company_id == company_id))


def _step(response: SourcingResponse, stage: str, principal: Principal, note: str = "") -> None:
    response.history = [*response.history, {"stage": stage, "at": utcnow().isoformat(timespec="seconds"),
                                            "by": str(principal.role), "note": note[:500]}]  # fmt: skip
    response.stage = stage


def answer(session: Session, need: SourcingNeed, company: Company, stage: str, note: str = "") -> SourcingResponse:
    """The firm's answer to a need it is ranked for: interest or declined (its member, or the centre)."""
    principal = principal_of(session)
    principal.require(Role.CENTRE_ADMIN, Role.COMPANY_MEMBER)
    if not principal.can_change(company.id):
        raise NotFound()
    if firm_match(session, need, company) is None:
        raise NotFound()
    if stage not in (Stage.INTEREST, Stage.DECLINED):
        raise Invalid(N_("A firm answers with interest or declines."))
    if need.state != NeedState.OPEN:
        raise Conflict(N_("The need is no longer open to answers."))
    response = firm_response(session, need.id, company.id)
    if response is not None and response.stage not in (Stage.DECLINED,) and stage == Stage.INTEREST:
        raise Conflict(N_("The firm has already answered this need."))
    if response is None:
        response = SourcingResponse(need_id=need.id, company_id=company.id, stage=stage, note="", history=[])
        session.add(response)
    _step(response, stage, principal, note)
    response.note = note.strip()[:2000]
    session.flush()
    audit.record(session, audit.Action.SOURCING_ANSWER, f"need:{need.id}", company_id=company.id,
                 details={"stage": stage})  # fmt: skip
    return response


def get_response(session: Session, response_id: int) -> tuple[SourcingResponse, SourcingNeed]:
    """An answer the principal may act on or read, with its need, else 404: the firm's own, the buyer's need's,
    or any for the centre."""
    principal = principal_of(session)
    with _as_system(session):
        response = session.get(SourcingResponse, response_id)
        need = session.get(SourcingNeed, response.need_id) if response is not None else None
    if response is None or need is None:
        raise NotFound()
    visible = principal.visible_companies()
    if owns(principal, need) or (visible is not None and response.company_id in visible
                                 and principal.role in (Role.COMPANY_MEMBER, Role.CONSULTANT)):  # fmt: skip
        return response, need
    raise NotFound()


def move(session: Session, response_id: int, stage: str, *, won: int | None = None, note: str = "") -> SourcingResponse:
    """Move an answer along the pipeline. The buyer (or the centre) moves it to rfq, sample, evaluation and order
    (an order needs the amount won, more than 0); the firm may only decline (withdraw). 409 when the step does
    not follow."""
    principal = principal_of(session)
    response, need = get_response(session, response_id)
    buyer = owns(principal, need)
    firm = principal.role is Role.COMPANY_MEMBER and principal.can_change(response.company_id)
    if stage not in {s.value for s in Stage}:
        raise Invalid(N_("Unknown stage: {stage}"), stage=stage)
    if not (buyer or firm):
        raise NotFound()
    if not buyer and stage != Stage.DECLINED:
        raise Forbidden(N_("Only the buyer moves an answer along the pipeline; the firm may withdraw."))
    if stage not in next_stages(response.stage):
        raise Conflict(N_("An answer at {stage} cannot move to {to}."), stage=response.stage, to=stage)
    if stage == Stage.ORDER:
        if won is None or won <= 0:
            raise Invalid(N_("An order needs the amount won, more than 0 won."))
    elif won is not None:
        raise Invalid(N_("The amount won is set with the order only."))
    with _as_system(session):  # checked above: the buyer writes on the firm's answer
        _step(response, stage, principal, note)
        if stage == Stage.ORDER:
            response.won = won
            need.state = NeedState.ORDERED
        session.flush()
        audit.record(session, audit.Action.SOURCING_STAGE, f"response:{response.id}", company_id=response.company_id,
                     details={"need": need.id, "stage": stage, "won": won})  # fmt: skip
    return response


def firm_needs(session: Session, company: Company) -> list[tuple[SourcingNeed, SourcingMatch, SourcingResponse | None]]:
    """The needs the firm is ranked for, newest first, with its row and its answer."""
    query = (
        select(SourcingNeed, SourcingMatch)
        .join(SourcingMatch, SourcingMatch.need_id == SourcingNeed.id)
        .where(SourcingMatch.supplier_id == company.id)
        .order_by(SourcingNeed.created_at.desc(), SourcingNeed.id.desc())
    )
    answers = {r.need_id: r for r in session.scalars(select(SourcingResponse)
                                                     .where(SourcingResponse.company_id == company.id))}  # fmt: skip
    return [(n, m, answers.get(n.id)) for n, m in session.execute(query)]


@dataclass(frozen=True)
class Outcomes:
    """The 판로 programme's outcomes: answers at each stage (now) and the total amount won."""

    by_stage: dict[str, int]
    won: int
    orders: int


def outcomes(session: Session, need_ids: Sequence[int] | None = None) -> Outcomes:
    """Answers by stage and the amount won, over the needs given (the reader's), or every need (the centre)."""
    query = select(SourcingResponse.stage, func.count(), func.coalesce(func.sum(SourcingResponse.won), 0))
    if need_ids is not None:
        query = query.where(SourcingResponse.need_id.in_(list(need_ids)))
    with _as_system(session):
        rows = session.execute(query.group_by(SourcingResponse.stage)).all()
    by_stage = {str(s.value): 0 for s in Stage}
    won = 0
    for stage, count, amount in rows:
        by_stage[stage] = int(count)
        won += int(amount or 0)
    return Outcomes(by_stage, won, by_stage[Stage.ORDER])
