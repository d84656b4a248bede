"""The 판로 API (``/api/v1/sourcing``): post and read needs with their ranking and reasons, a firm's profile, its
answer and the pipeline. The same checks as the pages (:mod:`smart365.programmes.sourcing`): a buyer sees a
firm's name once it answered, a firm answers for its own firm only, measured quality only with consent."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from smart365.core.errors import NotFound
from smart365.programmes import matching, sourcing
from smart365.programmes.models import SourcingNeed, SourcingResponse
from smart365.registry.models import Company
from smart365.web.deps import ApiPrincipal, ApiSession, system_of

router = APIRouter(prefix="/api/v1", tags=["sourcing"])


class NeedIn(BaseModel):
    """A sourcing need: item, material, process, spec, quantity a month, certifications, region, target date."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "buyer": "한빛모빌리티", "item": "알루미늄 하우징", "material": "Al6061", "process": "CNC 가공",
        "spec": "평면도 0.02 mm", "quantity": 3000, "certifications": ["ISO 9001"], "region": "gyeonggi",
    }]})  # fmt: skip

    buyer: str = Field(min_length=1, max_length=200)
    item: str = Field(min_length=1, max_length=200)
    material: str = Field("", max_length=200)
    process: str = Field("", max_length=200)
    spec: str = Field("", max_length=2000)
    quantity: int | None = Field(None, gt=0, le=2_000_000_000)
    certifications: list[str] = Field(default_factory=list, max_length=10)
    region: str | None = Field(None, max_length=20)
    target_date: date | None = None


class CriterionOut(BaseModel):
    id: str
    score: float
    weight: float
    reason: str = Field(description="why, in the request's language")


class ResponseOut(BaseModel):
    id: int
    need_id: int
    company_id: int
    stage: str
    note: str
    won: int | None = Field(description="won, the order's amount")
    history: list[dict[str, Any]]

    @classmethod
    def of(cls, r: SourcingResponse) -> ResponseOut:
        return cls(id=r.id, need_id=r.need_id, company_id=r.company_id, stage=r.stage, note=r.note, won=r.won,
                   history=r.history)  # fmt: skip


class MatchOut(BaseModel):
    rank: int
    score: float
    company_id: int | None = Field(description="None while the buyer may not know the firm (it has not answered)")
    company: str | None
    criteria: list[CriterionOut]
    response: ResponseOut | None


class NeedOut(BaseModel):
    id: int
    buyer: str
    item: str
    material: str
    process: str
    spec: str
    quantity: int | None
    certifications: list[str]
    region: str | None
    target_date: date | None
    state: str
    matches: list[MatchOut] | None = Field(None, description="the ranking as the caller may see it (one need only)")

    @classmethod
    def of(cls, n: SourcingNeed, matches: list[sourcing.MatchView] | None = None) -> NeedOut:
        shown = None
        if matches is not None:
            shown = [MatchOut(rank=m.rank, score=m.score, company_id=m.company_id, company=m.company,
                              criteria=[CriterionOut(id=c["id"], score=c["score"], weight=c["weight"],
                                                     reason=matching.criterion_text(c)) for c in m.criteria],
                              response=ResponseOut.of(m.response) if m.response else None)
                     for m in matches]  # fmt: skip
        return cls(id=n.id, buyer=n.buyer, item=n.item, material=n.material, process=n.process, spec=n.spec,
                   quantity=n.quantity, certifications=list(n.certifications), region=n.region,
                   target_date=n.target_date, state=n.state, matches=shown)  # fmt: skip


class AnswerIn(BaseModel):
    """A firm's answer to a need it matches: ``interest`` or ``declined``, for its own firm."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"company_id": 1, "stage": "interest", "note": "샘플 2주 내 가능"}]})  # fmt: skip

    company_id: int = Field(gt=0, le=2**31 - 1)
    stage: str = Field(min_length=1, max_length=20)
    note: str = Field("", max_length=2000)


class StageIn(BaseModel):
    """The next pipeline step: rfq, sample, evaluation, order (with ``won``, the amount) or declined."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"stage": "rfq", "note": "견적 요청"}]})

    stage: str = Field(min_length=1, max_length=20)
    won: int | None = Field(None, gt=0, le=10**15)
    note: str = Field("", max_length=500)


class ProfileOut(BaseModel):
    company_id: int
    stored: bool = Field(description="False: built from the registry until the firm saves its own")
    products: list[str]
    processes: list[str]
    materials: list[str]
    description: str
    certifications: list[str]
    capacity: int | None
    cpk: float | None
    fpy: float | None
    share_quality: bool


@router.get("/sourcing/needs", response_model=list[NeedOut])
def needs(session: ApiSession, principal: ApiPrincipal) -> list[NeedOut]:
    """The needs the caller may read: a buyer its own, a firm those it matches, the centre every one."""
    return [NeedOut.of(n) for n in sourcing.list_needs(session)]


@router.post("/sourcing/needs", response_model=NeedOut, status_code=201)
def post_need(request: Request, session: ApiSession, principal: ApiPrincipal, body: NeedIn) -> NeedOut:
    """Post a need (a data partner or the centre) and rank every firm for it; 422 with the reason when bad."""
    need = sourcing.post_need(session, sourcing.NeedIn(**body.model_dump()), store=system_of(request).store)
    return NeedOut.of(need, sourcing.need_matches(session, need))


@router.get("/sourcing/needs/{need_id}", response_model=NeedOut)
def need(need_id: int, session: ApiSession, principal: ApiPrincipal) -> NeedOut:
    """A need with its ranking and every criterion's reason, as the caller may see it."""
    found = sourcing.get_need(session, need_id)
    return NeedOut.of(found, sourcing.need_matches(session, found))


@router.post("/sourcing/needs/{need_id}/answers", response_model=ResponseOut, status_code=201)
def answer(need_id: int, session: ApiSession, principal: ApiPrincipal, body: AnswerIn) -> ResponseOut:
    """The firm's answer (its member, for its own firm); 404 for another firm or a need it does not match."""
    found = sourcing.get_need(session, need_id)
    company = session.get(Company, body.company_id)
    if company is None:
        raise NotFound()
    return ResponseOut.of(sourcing.answer(session, found, company, body.stage, body.note))


@router.post("/sourcing/responses/{response_id}/stage", response_model=ResponseOut)
def stage(response_id: int, session: ApiSession, principal: ApiPrincipal, body: StageIn) -> ResponseOut:
    """Move an answer along the pipeline (the buyer; the firm may withdraw); 409 when the step does not follow."""
    return ResponseOut.of(sourcing.move(session, response_id, body.stage, won=body.won, note=body.note))


@router.get("/companies/{company_id}/sourcing/profile", response_model=ProfileOut)
def profile(company_id: int, session: ApiSession, principal: ApiPrincipal) -> ProfileOut:
    """The firm's capability profile (its own people, its consultant, the centre)."""
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound()
    v = sourcing.profile_of(session, company)
    return ProfileOut(company_id=v.company_id, stored=v.stored, products=v.products, processes=v.processes,
                      materials=v.materials, description=v.description, certifications=v.certifications,
                      capacity=v.capacity, cpk=v.cpk, fpy=v.fpy, share_quality=v.share_quality)  # fmt: skip
