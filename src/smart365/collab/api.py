"""The collaboration API (``/api/v1/collab``): the catalogue, an offer with its ODRL policy, requests, an
agreement, pulls, and a firm's usage log with its chain verified. The same checks as the pages
(:mod:`smart365.collab.service`): a caller reaches only what it is a party to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from smart365.collab import benchmarks, service
from smart365.collab.service import AgreementView, OfferView, Who
from smart365.core.errors import Forbidden
from smart365.core.i18n import gettext
from smart365.core.tenancy import Role
from smart365.web.deps import ApiPrincipal, get_db, request_actor, system_of

router = APIRouter(prefix="/api/v1/collab", tags=["collab"])


class OfferOut(BaseModel):
    id: int
    company_id: int
    company: str
    title: str
    description: str
    state: str
    tags: list[str]
    data_start: datetime
    data_end: datetime
    policy: dict[str, Any] = Field(description="the usage policy as ODRL 2.2 JSON-LD (an odrl:Offer)")
    reading: list[str] = Field(description="the policy in plain words, in the request's language")

    @classmethod
    def of(cls, v: OfferView) -> OfferOut:
        return cls(id=v.id, company_id=v.company_id, company=v.company, title=v.title, description=v.description,
                   state=v.state, tags=v.tags, data_start=v.data_start, data_end=v.data_end, policy=v.jsonld,
                   reading=v.reading)  # fmt: skip


class AgreementOut(BaseModel):
    id: int
    offer_id: int
    provider: str
    consumer: str
    purpose: str
    state: str = Field(description="the Dataspace Protocol state: REQUESTED … FINALIZED, or TERMINATED")
    uses: int
    reason: str | None
    reading: list[str]
    finalized_at: datetime | None
    terminated_at: datetime | None

    @classmethod
    def of(cls, v: AgreementView) -> AgreementOut:
        return cls(id=v.id, offer_id=v.offer_id, provider=v.provider, consumer=v.consumer, purpose=v.purpose,
                   state=v.state, uses=v.uses, reason=v.reason, reading=v.reading, finalized_at=v.finalized_at,
                   terminated_at=v.terminated_at)  # fmt: skip


class RequestIn(BaseModel):
    """A request for an agreement on an offer, for one of its purposes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"purpose": "quality"}]})

    purpose: str = Field(min_length=1, max_length=20)


class LogLineOut(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor: str
    offer_id: int | None
    agreement_id: int | None
    details: dict[str, Any]
    hash: str


class LogOut(BaseModel):
    verified: bool
    records: int
    first_bad_seq: int | None = Field(description="the first record that does not fit its chain, if any")
    first_bad_reason: str | None
    lines: list[LogLineOut]


def _who(request: Request, principal: Any) -> Who:
    return Who(principal, request_actor(request))


@router.get("/offers", response_model=list[OfferOut])
def catalogue(request: Request, principal: ApiPrincipal) -> list[OfferOut]:
    """The published offers whose policy names the caller."""
    return [OfferOut.of(v) for v in service.catalogue(get_db(request), _who(request, principal))]


@router.get("/offers/{offer_id}", response_model=OfferOut)
def offer(request: Request, offer_id: int, principal: ApiPrincipal) -> OfferOut:
    return OfferOut.of(service.offer(get_db(request), _who(request, principal), offer_id))


@router.post("/offers/{offer_id}/agreements", response_model=AgreementOut, status_code=201)
def request_agreement(request: Request, offer_id: int, body: RequestIn, principal: ApiPrincipal) -> AgreementOut:
    """Request an agreement (REQUESTED); the firm accepts it on its page."""
    db, who = get_db(request), _who(request, principal)
    agreement_id = service.request(db, who, offer_id, body.purpose)
    return AgreementOut.of(service.agreement(db, who, agreement_id))


@router.get("/agreements/{agreement_id}", response_model=AgreementOut)
def agreement(request: Request, agreement_id: int, principal: ApiPrincipal) -> AgreementOut:
    return AgreementOut.of(service.agreement(get_db(request), _who(request, principal), agreement_id))


@router.post("/agreements/{agreement_id}/pull", response_class=StreamingResponse,
             responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
def pull(request: Request, agreement_id: int, principal: ApiPrincipal) -> StreamingResponse:
    """The agreement's data as CSV, checked against the agreement now: 403 with the reason when it does not
    allow the pull (not finalized, revoked, expired, every use made)."""
    granted = service.pull(get_db(request), system_of(request).store, _who(request, principal), agreement_id)
    disposition = f"attachment; filename=\"{granted.filename}\"; filename*=UTF-8''{quote(granted.filename)}"
    return StreamingResponse(granted.chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": disposition})  # fmt: skip


@router.get("/companies/{company_id}/log", response_model=LogOut)
def usage_log(request: Request, company_id: int, principal: ApiPrincipal) -> LogOut:
    """The firm's usage log (newest 500 records) and its chain verified now."""
    db, who = get_db(request), _who(request, principal)
    lines = service.usage_log(db, who, company_id)
    found = service.verify_firm(db, who, company_id)
    bad = found.first_bad
    return LogOut(
        verified=found.ok, records=found.records, first_bad_seq=bad.seq if bad else None,
        first_bad_reason=bad.reason if bad else None,
        lines=[LogLineOut(seq=x.seq, at=x.at, kind=x.kind, actor=x.actor, offer_id=x.offer_id,
                          agreement_id=x.agreement_id, details=x.details, hash=x.hash) for x in lines],
    )  # fmt: skip


# -- peer benchmarks --------------------------------------------------------------------------------------------


class BenchCellOut(BaseModel):
    kpi: str
    label: str
    own: float | None = Field(description="the firm's own figure (its own data), null when absent")
    absent: str | None = Field(description="why the firm's data cannot give this KPI")
    rule: str | None = Field(description="suppressed | dominance | quartile | budget | dp; null: not in the pool")
    rule_label: str
    firms: int
    mean: float | None = Field(description="the group's mean with differential privacy; only under rule dp")
    epsilon: float | None
    quartile: int | None = Field(description="the firm's own quartile in the group, 1 the best quarter")
    epsilon_spent: float = Field(description="the firm's privacy budget spent on this KPI so far")


class BenchOut(BaseModel):
    company_id: int | None
    joined: bool
    joined_at: datetime | None
    pool: int = Field(description="firms in the pool (a count)")
    level: str | None
    group: str | None
    firms: int
    fallbacks: list[str] = Field(description="finer groups passed over, each with fewer than 5 firms")
    release_id: int | None
    provenance: dict[str, Any] | None = Field(description="the release's W3C PROV-JSON bundle")
    cells: list[BenchCellOut]


@router.get("/benchmarks", response_model=BenchOut)
def benchmarks_of(request: Request, principal: ApiPrincipal,
                  company_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> BenchOut:  # fmt: skip
    """The caller's firm's benchmark (a member), or a firm the caller may see (``company_id``): its own figures
    and its group's release, every cell with the rule behind it. Another firm's figure is never in it."""
    if principal.role is Role.DATA_PARTNER:
        raise Forbidden()
    db = get_db(request)
    firm = principal.company_id if principal.role is Role.COMPANY_MEMBER else company_id
    if firm is None:
        return BenchOut(company_id=None, joined=False, joined_at=None, pool=benchmarks.pool_size(db), level=None,
                        group=None, firms=0, fallbacks=[], release_id=None, provenance=None, cells=[])  # fmt: skip
    v = benchmarks.view(db, system_of(request).store, principal, firm)
    cells = [BenchCellOut(kpi=r.kpi.code, label=benchmarks.locale_label(r.kpi), own=r.own,
                          absent=gettext(r.absent) if r.absent else None, rule=r.rule, rule_label=r.rule_label,
                          firms=r.n, mean=r.mean if r.rule == "dp" else None, epsilon=r.epsilon, quartile=r.quartile,
                          epsilon_spent=r.spent) for r in v.rows]  # fmt: skip
    if not v.joined:
        cells = [BenchCellOut(kpi=f.kpi.code, label=benchmarks.locale_label(f.kpi), own=f.value,
                              absent=gettext(f.absent) if f.absent else None, rule=None,
                              rule_label=gettext("not in the pool"), firms=0, mean=None, epsilon=None, quartile=None,
                              epsilon_spent=0.0) for f in v.figures]  # fmt: skip
    return BenchOut(company_id=v.company_id, joined=v.joined, joined_at=v.joined_at, pool=v.pool, level=v.level,
                    group=v.group, firms=v.firms, fallbacks=[words for _lv, words, _n in v.passed],
                    release_id=v.release_id, provenance=v.prov, cells=cells)  # fmt: skip


@router.post("/benchmarks/join", response_model=BenchOut)
def benchmarks_join(request: Request, principal: ApiPrincipal) -> BenchOut:
    """Put the caller's firm's figures (computed now from its own data) in the pool, and return where it stands."""
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id is None:
        raise benchmarks.NotYourFirm()
    benchmarks.join(get_db(request), system_of(request).store, principal, request_actor(request), principal.company_id)
    return benchmarks_of(request, principal, None)


@router.post("/benchmarks/leave", status_code=204)
def benchmarks_leave(request: Request, principal: ApiPrincipal) -> None:
    """Take the caller's firm's figures out of the pool."""
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id is None:
        raise benchmarks.NotYourFirm()
    benchmarks.leave(get_db(request), principal, request_actor(request), principal.company_id)
