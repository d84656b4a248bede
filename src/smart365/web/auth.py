"""Login and logout (browser), language switch, and the OAuth2 password-flow token endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from smart365.core.accounts import authenticate, issue_token
from smart365.core.errors import Unauthorized
from smart365.core.i18n import LOCALES, use_locale
from smart365.core.tenancy import SYSTEM
from smart365.web.deps import ApiPrincipal, Csrf, csrf_token, get_db, get_settings
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["auth"])


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: a login link must not bounce users elsewhere."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def _remember_language(request: Request, response: Response, locale: str) -> None:
    """The ``lang`` cookie, kept a year; Secure like the session cookie when served over HTTPS."""
    response.set_cookie("lang", locale, max_age=365 * 86400, samesite="lax", secure=get_settings(request).https)


@pages.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    csrf_token(request)
    return render(request, "login.html", next=_safe_next(next), error=None)


@pages.post("/login", dependencies=[Csrf])
def login(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        with get_db(request).session(SYSTEM) as session:
            user = authenticate(session, email, password)
    except Unauthorized as exc:
        return render(request, "login.html", status_code=401, next=_safe_next(next), error=exc.localized())
    locale = request.cookies.get("lang")
    request.session.clear()  # a fresh session on login: no fixation
    request.session.update(user_id=user.id)
    csrf_token(request)
    response = RedirectResponse(_safe_next(next), status_code=303)
    if not locale:
        _remember_language(request, response, user.locale)
    return response


@pages.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@pages.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str | None = None) -> Response:
    """Remember the chosen language in a cookie and go back to the page."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if locale in LOCALES:
        _remember_language(request, response, locale)
    return response


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    id: int | None
    role: str
    company_id: int | None
    assigned_companies: list[int]


@api.post("/auth/token", response_model=Token)
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """OAuth2 password flow: email as ``username`` and password → a bearer token."""
    ttl = get_settings(request).token_ttl_s
    with get_db(request).session(SYSTEM) as session, use_locale(request.state.locale):
        user = authenticate(session, form.username, form.password)
        return Token(access_token=issue_token(session, user, ttl), expires_in=ttl)


@api.get("/me", response_model=Me)
def me(principal: ApiPrincipal) -> Me:
    """Who the token or session belongs to, and which firms it reaches."""
    return Me(
        id=principal.user_id,
        role=principal.role.value,
        company_id=principal.company_id,
        assigned_companies=sorted(principal.assigned),
    )
