"""Dependencies: the seam where every request gets its principal and a tenancy-scoped session.

Routes never check tenancy themselves: they take ``ScopedSession`` and query; the session's principal
does the rest (:mod:`smart365.core.tenancy`).

Credentials: a browser session (a server-side row named by the signed cookie), a user's bearer token, or a
firm's API key (``Authorization: Bearer s365_…`` or ``X-API-Key``). An API key is admitted only by
:data:`KeySession` (the ingest route, and a tag's latest value and series: what a gateway or a dashboard
reads) and :data:`InfluxSession` (the InfluxDB-compatible write, which takes the key where InfluxDB clients
put their credentials); every other dependency answers 403 to it. Each request session carries
the audit actor (the user and the client address), so features' audit records say who and from where.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Form, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from smart365.core.accounts import User, principal_for, user_for_session, user_for_token
from smart365.core.api_keys import looks_like_key, principal_for_key
from smart365.core.audit import Actor, client_address
from smart365.core.db import Database
from smart365.core.encoding import inflate
from smart365.core.errors import Forbidden, Unauthorized
from smart365.core.i18n import N_
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.core.throttle import LoginThrottle

if TYPE_CHECKING:  # the composition root sits above the features that use this seam: a type only
    from smart365.bootstrap import System

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class LoginRequired(Unauthorized):
    """Raised on pages: the handler redirects to the login page instead of answering 401."""


def system_of(request: Request) -> System:
    """The running system behind the app (store, collection, alarms, test-bed…), built by the composition root."""
    system: System = request.app.state.system
    return system


def get_db(request: Request) -> Database:
    return system_of(request).db


def get_settings(request: Request) -> Settings:
    return system_of(request).settings


def get_login_throttle(request: Request) -> LoginThrottle:
    """The system's failed-login counters."""
    return system_of(request).login_throttle


def request_address(request: Request) -> str | None:
    """The client's address; ``X-Forwarded-For`` counts only when the peer is a trusted proxy."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), get_settings(request).trusted_proxies)


def request_actor(request: Request) -> Actor:
    """Who the audit log names for this request: the resolved user (if any) and the client address."""
    user = getattr(request.state, "user", None)
    if isinstance(user, User):
        return Actor(user_id=user.id, email=user.email, address=request_address(request))
    principal = getattr(request.state, "principal", None)
    key_id = principal.api_key_id if isinstance(principal, Principal) else None
    return Actor(user_id=None, email=f"api_key:{key_id}" if key_id else None, address=request_address(request))


def _credential(request: Request, token: str | None) -> str | None:
    """The bearer token or, from a gateway that cannot set Authorization, the ``X-API-Key`` header."""
    return token or request.headers.get("x-api-key") or None


def _resolve(request: Request, token: str | None, *, key_ok: bool = False) -> tuple[User | None, Principal]:
    """Find the caller from a credential or the session cookie, in a SYSTEM session.

    An API key is refused (403) unless ``key_ok``: a key sends data and does nothing else.
    """
    db = get_db(request)
    user: User | None = None
    with db.session(SYSTEM) as session:
        if looks_like_key(token):
            principal = principal_for_key(session, str(token))
            if not key_ok:
                raise Forbidden(N_("An API key may only send data to /api/v1/ingest."))
        else:
            if token:
                user = user_for_token(session, token)
            else:
                sid = request.session.get("sid") if "session" in request.scope else None
                user = user_for_session(session, sid)
            principal = principal_for(session, user)
            session.expunge(user)
    request.state.user, request.state.principal = user, principal
    return user, principal


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def current_principal(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The API caller (bearer token or browser session), else 401.

    A browser session calling a changing method must also send its CSRF token in ``X-CSRF-Token``.
    """
    credential = _credential(request, token)
    principal = _resolve(request, credential)[1]
    if not credential and request.method not in SAFE_METHODS:
        _check_csrf(request, request.headers.get("x-csrf-token"))
    return principal


def key_principal(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """Like :func:`current_principal`, and a firm's API key is welcome too (ingest, and reading a tag's series)."""
    credential = _credential(request, token)
    principal = _resolve(request, credential, key_ok=True)[1]
    if not credential and request.method not in SAFE_METHODS:
        _check_csrf(request, request.headers.get("x-csrf-token"))
    return principal


def influx_credential(request: Request) -> str | None:
    """Where InfluxDB clients put a credential: ``Authorization: Token …`` (2.x, Telegraf's influxdb_v2) or
    ``Bearer …``, Basic auth or the ``u``/``p`` query parameters (1.x, Telegraf's influxdb: the password,
    else the user name), or ``X-API-Key``.

    >>> from starlette.requests import Request as R
    >>> influx_credential(R({"type": "http", "headers": [(b"authorization", b"Token s365_x")], "query_string": b""}))
    's365_x'
    >>> basic = b"Basic " + base64.b64encode(b"telegraf:s365_y")
    >>> influx_credential(R({"type": "http", "headers": [(b"authorization", basic)], "query_string": b""}))
    's365_y'
    """
    scheme, _sep, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _colon, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or user or None
    query = request.query_params
    return query.get("p") or query.get("u") or request.headers.get("x-api-key") or None


def influx_principal(request: Request) -> Principal:
    """The firm whose API key an InfluxDB client sent, else 401 (a browser session or user token is no key)."""
    credential = influx_credential(request)
    if not looks_like_key(credential):
        raise Unauthorized(N_("Send the firm's API key as the token or password (InfluxDB clients: token, or u/p)."))
    return _resolve(request, credential, key_ok=True)[1]


def page_principal(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The browser user of a page, else a redirect to the login page (an API key gets 403)."""
    credential = _credential(request, token)
    if looks_like_key(credential):
        _resolve(request, credential)  # 401 for a bad key, 403 for a good one
    try:
        return _resolve(request, None)[1]
    except Unauthorized as exc:
        raise LoginRequired() from exc


def _scoped_session(request: Request, principal: Principal) -> Iterator[Session]:
    with get_db(request).session(principal) as session:
        session.info["actor"] = request_actor(request)
        yield session


def api_session(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Iterator[Session]:
    """A session scoped to the API caller."""
    yield from _scoped_session(request, principal)


def key_session(request: Request, principal: Annotated[Principal, Depends(key_principal)]) -> Iterator[Session]:
    """A session scoped to a user or a firm's API key (the routes a gateway or a dashboard calls)."""
    yield from _scoped_session(request, principal)


def influx_session(request: Request, principal: Annotated[Principal, Depends(influx_principal)]) -> Iterator[Session]:
    """A session scoped to the firm of the API key an InfluxDB-compatible client sent."""
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


async def page_form(request: Request) -> FormData:
    """The posted form (files spooled to disk), read on the event loop, so that the handler taking it is a
    plain ``def``: its database work then runs in the thread pool, where waiting for a lock another request
    holds stops nobody else (on the event loop it would stop every request, the lock holder's commit too)."""
    return await request.form()


def inflated_body(request: Request, body: Annotated[bytes, Depends(request_body)]) -> bytes:
    """The body unpacked as its ``Content-Encoding`` says (gzip or none), at most ``max_body_bytes`` unpacked
    (413 past it, however small the compressed body). A plain ``def``: inflating runs in the thread pool."""
    limit = get_settings(request).max_body_bytes
    return inflate(body, request.headers.get("content-encoding"), limit)


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
KeySession = Annotated[Session, Depends(key_session, scope="function")]
PagePrincipal = Annotated[Principal, Depends(page_principal)]
PageSession = Annotated[Session, Depends(page_session, scope="function")]
CentreAdmin = Annotated[Principal, Depends(require_roles(Role.CENTRE_ADMIN))]
Csrf = Depends(verify_csrf)
RequestBody = Annotated[bytes, Depends(request_body)]
PageForm = Annotated[FormData, Depends(page_form)]
InflatedBody = Annotated[bytes, Depends(inflated_body)]
InfluxSession = Annotated[Session, Depends(influx_session, scope="function")]
