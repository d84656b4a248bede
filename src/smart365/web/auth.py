"""Login and logout (browser), language switch, and the OAuth2 password-flow token endpoint and its logout.

Every login, failed login and logout is audited; failed logins are throttled by account and client address
(:mod:`smart365.core.throttle`), and a throttled try answers 429 with ``Retry-After`` before any password
is checked, even a right one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from smart365.core import audit
from smart365.core.accounts import User, authenticate, end_session, issue_token, open_session, revoke_token
from smart365.core.errors import Unauthorized
from smart365.core.i18n import LOCALES, use_locale
from smart365.core.tenancy import SYSTEM
from smart365.core.throttle import Throttled
from smart365.web.deps import (
    ApiPrincipal,
    Csrf,
    csrf_token,
    get_db,
    get_login_throttle,
    get_settings,
    oauth2,
    request_address,
)
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


def _sign_in(request: Request, email: str, password: str, via: str) -> User:
    """Check the throttle, then the password; audit the outcome either way.

    Raises :class:`Throttled` (no password is checked) or :class:`Unauthorized`.
    """
    db, address = get_db(request), request_address(request)
    throttle = get_login_throttle(request)
    account = email.strip().lower()[:254]
    attempt = audit.Actor(user_id=None, email=account, address=address)
    try:
        throttle.check(account, address)
    except Throttled as exc:
        details = {"via": via, "retry_after_s": exc.retry_after}
        audit.record_in(db, audit.Action.LOGIN, outcome=audit.Outcome.BLOCKED, actor=attempt, details=details)
        raise
    try:
        with db.session(SYSTEM) as session:
            user = authenticate(session, email, password)
            actor = audit.Actor(user_id=user.id, email=user.email, address=address)
            audit.record(session, audit.Action.LOGIN, f"user:{user.id}", actor=actor, details={"via": via})
    except Unauthorized:
        throttle.failed(account, address)
        audit.record_in(db, audit.Action.LOGIN, outcome=audit.Outcome.FAILED, actor=attempt, details={"via": via})
        raise
    throttle.succeeded(account, address)
    return user


@pages.post("/login", dependencies=[Csrf])
def login(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = _sign_in(request, email, password, via="browser")
    except Throttled as exc:
        refused = render(request, "login.html", status_code=429, next=_safe_next(next), error=exc.localized())
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    except Unauthorized as exc:
        return render(request, "login.html", status_code=401, next=_safe_next(next), error=exc.localized())
    with get_db(request).session(SYSTEM) as session:
        sid = open_session(session, user, get_settings(request).session_max_age_s)
    locale = request.cookies.get("lang")
    request.session.clear()  # a fresh session on login: no fixation
    request.session.update(sid=sid)
    csrf_token(request)
    response = RedirectResponse(_safe_next(next), status_code=303)
    if not locale:
        _remember_language(request, response, user.locale)
    return response


@pages.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> Response:
    """End the session on the server too: the cookie, even a copy of it, no longer logs anyone in."""
    sid = request.session.get("sid")
    if sid:
        with get_db(request).session(SYSTEM) as session:
            user_id = end_session(session, str(sid))
            if user_id is not None:
                _audit_logout(session, request, user_id, via="browser")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _audit_logout(session: Session, request: Request, user_id: int, via: str) -> None:
    user = session.get(User, user_id)
    actor = audit.Actor(user_id=user_id, email=user.email if user else None, address=request_address(request))
    audit.record(session, audit.Action.LOGOUT, f"user:{user_id}", actor=actor, details={"via": via})


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


@api.post("/auth/token", response_model=Token, responses={429: {"description": "too many failed logins"}})
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token | JSONResponse:
    """OAuth2 password flow: email as ``username`` and password → a bearer token.

    Too many failed tries answer 429 with ``Retry-After`` (seconds), whatever the password.
    """
    ttl = get_settings(request).token_ttl_s
    with use_locale(request.state.locale):
        try:
            user = _sign_in(request, form.username, form.password, via="api")
        except Throttled as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)
    with get_db(request).session(SYSTEM) as session:
        return Token(access_token=issue_token(session, user, ttl), expires_in=ttl)


@api.post("/auth/logout", status_code=204)
def token_logout(request: Request, principal: ApiPrincipal, bearer: Annotated[str | None, Depends(oauth2)]) -> None:
    """End the credential this request came with: the bearer token is forgotten (the next use gets 401);
    called from a browser session, that session ends."""
    with get_db(request).session(SYSTEM) as session:
        if bearer:
            revoke_token(session, bearer)
        elif sid := request.session.get("sid"):
            end_session(session, str(sid))
            request.session.clear()
        if principal.user_id is not None:
            _audit_logout(session, request, principal.user_id, via="api" if bearer else "browser")


@api.get("/me", response_model=Me)
def me(principal: ApiPrincipal) -> Me:
    """Who the token or session belongs to, and which firms it reaches."""
    return Me(
        id=principal.user_id,
        role=principal.role.value,
        company_id=principal.company_id,
        assigned_companies=sorted(principal.assigned),
    )
