"""Dependencies: the seam where every request gets its principal and a tenancy-scoped session.

Routes never check tenancy themselves: they take ``ScopedSession`` and query; the session's principal
does the rest (:mod:`smart365.core.tenancy`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from smart365.core.accounts import User, principal_for, user_for_token
from smart365.core.db import Database
from smart365.core.errors import Forbidden, Unauthorized
from smart365.core.i18n import N_
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM, Principal, Role

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class LoginRequired(Unauthorized):
    """Raised on pages: the handler redirects to the login page instead of answering 401."""


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _resolve(request: Request, token: str | None) -> tuple[User, Principal]:
    """Find the caller from a bearer token or the session cookie, in a SYSTEM session."""
    db = get_db(request)
    with db.session(SYSTEM) as session:
        user: User | None
        if token:
            user = user_for_token(session, token)
        else:
            user_id = request.session.get("user_id") if "session" in request.scope else None
            user = session.get(User, user_id) if user_id else None
            if user is None or not user.active:
                raise Unauthorized()
        principal = principal_for(session, user)
        session.expunge(user)
    request.state.user, request.state.principal = user, principal
    return user, principal


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def current_principal(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The API caller (bearer token or browser session), else 401.

    A browser session calling a changing method must also send its CSRF token in ``X-CSRF-Token``.
    """
    principal = _resolve(request, token)[1]
    if not token and request.method not in SAFE_METHODS:
        _check_csrf(request, request.headers.get("x-csrf-token"))
    return principal


def page_principal(request: Request) -> Principal:
    """The browser user of a page, else a redirect to the login page."""
    try:
        return _resolve(request, None)[1]
    except Unauthorized as exc:
        raise LoginRequired() from exc


def _scoped_session(request: Request, principal: Principal) -> Iterator[Session]:
    with get_db(request).session(principal) as session:
        yield session


def api_session(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Iterator[Session]:
    """A session scoped to the API caller."""
    yield from _scoped_session(request, principal)


def page_session(request: Request, principal: Annotated[Principal, Depends(page_principal)]) -> Iterator[Session]:
    """A session scoped to the page's user."""
    yield from _scoped_session(request, principal)


def require_roles(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency admitting only ``roles``: ``Depends(require_roles(Role.CENTRE_ADMIN))``."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        principal.require(*roles)
        return principal

    return check


async def request_body(request: Request) -> bytes:
    """The whole request body, read on the event loop (bounded by :mod:`smart365.web.limits`), so that the
    handler taking it can be a plain ``def`` and parse it in the thread pool instead of on the loop."""
    return await request.body()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def verify_csrf(request: Request, csrf: Annotated[str | None, Form(alias="csrf_token")] = None) -> None:
    """Reject a browser form or HTMX post whose token (form field or header) does not match the session."""
    _check_csrf(request, csrf or request.headers.get("x-csrf-token"))


def _check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf") if "session" in request.scope else None
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        raise Forbidden(N_("The form has expired. Please reload the page and try again."))


ApiPrincipal = Annotated[Principal, Depends(current_principal)]
ApiSession = Annotated[Session, Depends(api_session, scope="function")]
PagePrincipal = Annotated[Principal, Depends(page_principal)]
PageSession = Annotated[Session, Depends(page_session, scope="function")]
CentreAdmin = Annotated[Principal, Depends(require_roles(Role.CENTRE_ADMIN))]
Csrf = Depends(verify_csrf)
RequestBody = Annotated[bytes, Depends(request_body)]
