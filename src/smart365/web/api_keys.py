"""A firm's API keys (수집 키) for its machines and gateways: the page under the firm
(``/companies/{id}/api-keys``, linked from the firm's page) and the same for scripts.

The centre may manage any firm's keys, a company member its own firm's; a consultant of the firm sees the
list. A new key is shown once, in the answer that creates it (never in a link or a later page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from smart365.core import api_keys
from smart365.core.api_keys import ApiKey
from smart365.core.tenancy import Principal, Role
from smart365.registry import service as registry
from smart365.registry.models import Company
from smart365.web.deps import ApiSession, Csrf, PagePrincipal, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["api keys"])


def _who(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return f"{user.name} ({user.email})" if user is not None else "system"


def can_manage(principal: Principal, company_id: int) -> bool:
    """Whether the page shows the forms: the centre, or a member of this very firm."""
    if principal.role is Role.CENTRE_ADMIN:
        return True
    return principal.role is Role.COMPANY_MEMBER and principal.company_id == company_id


def _render(
    request: Request, session: Session, principal: Principal, company: Company, new_key: str | None = None
) -> Response:
    return render(
        request,
        "admin/api_keys.html",
        status_code=201 if new_key else 200,
        active="companies",
        company=company,
        keys=api_keys.list_keys(session, company.id),
        can_manage=can_manage(principal, company.id),
        new_key=new_key,
        ingest_url=str(request.base_url).rstrip("/") + "/api/v1/ingest",
    )


@pages.get("/companies/{company_id}/api-keys")
def keys_page(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The firm's keys: name, shown part, creator, creation and last use; forms to add and revoke."""
    return _render(request, session, principal, registry.get(session, Company, company_id))


@pages.post("/companies/{company_id}/api-keys", dependencies=[Csrf])
def keys_create(
    request: Request,
    company_id: int,
    principal: PagePrincipal,
    session: PageSession,
    name: Annotated[str, Form()] = "",
) -> Response:
    """Make a key and show it this once."""
    company = registry.get(session, Company, company_id)
    _row, key = api_keys.create_key(session, company.id, name, created_by=_who(request))
    return _render(request, session, principal, company, new_key=key)


@pages.post("/companies/{company_id}/api-keys/{api_key_id}/revoke", dependencies=[Csrf])
def keys_revoke(request: Request, company_id: int, api_key_id: int, session: PageSession) -> Response:
    """Revoke a key: the gateway using it gets 401 from its next request on."""
    company = registry.get(session, Company, company_id)
    api_keys.revoke_key(session, api_keys.get_key(session, company.id, api_key_id), revoked_by=_who(request))
    return RedirectResponse(f"/companies/{company.id}/api-keys", status_code=303)


class ApiKeyIn(BaseModel):
    """A new key's name: where it will be used."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "1공장 게이트웨이"}]})

    name: str = Field(min_length=1, max_length=api_keys.NAME_MAX)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: int
    name: str
    shown: str = Field(description="the key's public part; the secret is never shown again")
    created_at: datetime
    created_by_name: str
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the whole key, shown only in this answer: send it as `Authorization: Bearer …`")


@api.get("/companies/{company_id}/api-keys", response_model=list[ApiKeyOut])
def list_keys(session: ApiSession, company_id: int) -> list[ApiKeyOut]:
    """The firm's API keys (never their secrets)."""
    registry.get(session, Company, company_id)
    return [ApiKeyOut.model_validate(k) for k in api_keys.list_keys(session, company_id)]


@api.post("/companies/{company_id}/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_key(request: Request, session: ApiSession, company_id: int, data: ApiKeyIn) -> ApiKeyCreated:
    """A new ingest key of the firm. The answer holds the whole key, once; only its hash is stored."""
    registry.get(session, Company, company_id)
    row, key = api_keys.create_key(session, company_id, data.name, created_by=_who(request))
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": key})


@api.post("/companies/{company_id}/api-keys/{api_key_id}/revoke", response_model=ApiKeyOut)
def revoke_key(request: Request, session: ApiSession, company_id: int, api_key_id: int) -> ApiKeyOut:
    """Revoke a key at once (its next request gets 401)."""
    registry.get(session, Company, company_id)
    row: ApiKey = api_keys.revoke_key(session, api_keys.get_key(session, company_id, api_key_id), _who(request))
    return ApiKeyOut.model_validate(row)


routers = (pages, api)
