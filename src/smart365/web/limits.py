"""Request body limits, counted while the body arrives: no single request can make the server hold more.

A body whose ``Content-Length`` is over the limit is refused before a byte of it is read; a body sent
without a length (chunked) is counted as it arrives and refused the moment it passes the limit, so a 20 MB
junk line-protocol body never reaches the parser. Either way the answer is 413 with the reason, in the
caller's language and in English: JSON under ``/api/``, the error page elsewhere.

File uploads (``multipart/form-data``) may carry ``max_upload_bytes`` plus the form around it: Starlette
spools their files to disk as they arrive, and each upload route checks its own limit on the file itself.
Every other body is held in memory by the handler that reads it and gets ``max_body_bytes``.

The limit counts the bytes as they come off the wire; a compressed body is bounded here by its compressed
size (inflating it is the business of whoever decompresses it).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smart365.core.errors import AppError
from smart365.core.i18n import N_, current_locale, negotiate
from smart365.core.settings import Settings
from smart365.core.uploads import megabytes
from smart365.web.contract import error_answer

#: What a multipart form may carry beyond its file: boundaries, part headers, the CSRF token, small fields.
FORM_OVERHEAD_BYTES = 1024 * 1024


class BodyTooLarge(AppError):
    """A request body over the limit (413)."""

    status = 413
    code = "body_too_large"
    default_message = N_("The request is larger than {limit} MB. Send less at a time.")


class BodyLimitMiddleware:
    """A pure ASGI middleware that refuses a request body over its limit while reading it.

    ``max_body_bytes`` bounds every body; ``max_upload_bytes`` (plus :data:`FORM_OVERHEAD_BYTES`) bounds a
    ``multipart/form-data`` body instead, when that is larger.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int = 0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_form_bytes = max(max_body_bytes, max_upload_bytes + FORM_OVERHEAD_BYTES)

    def limit_for(self, headers: Headers) -> int:
        """The body limit for a request with these headers.

        >>> m = BodyLimitMiddleware(None, 16 * 2**20, 20 * 2**20)  # type: ignore[arg-type]
        >>> m.limit_for(Headers({"content-type": "text/plain"})) // 2**20, m.limit_for(
        ...     Headers({"content-type": "multipart/form-data; boundary=x"})) // 2**20
        (16, 21)
        """
        form = headers.get("content-type", "").lower().startswith("multipart/form-data")
        return self.max_form_bytes if form else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(headers)
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await refuse(scope, receive, send, limit)
            return
        await _Counted(self.app, limit)(scope, receive, send)


class _Counted:
    """One request whose body is counted; past the limit the app's own answer is replaced by the 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.received = 0
        self.over = False
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            if self.over:
                raise BodyTooLarge(limit=megabytes(self.limit))
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.over = True
                    raise BodyTooLarge(limit=megabytes(self.limit))
            return message

        async def guarded(message: Message) -> None:
            if self.over:
                return  # whatever the app makes of a body it could not finish reading, the answer is the 413
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not self.over or self.started:
                raise
        if self.over and not self.started:
            await refuse(scope, receive, send, self.limit)


async def refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """Answer 413 with the reason, in the caller's language: JSON for the API, the error page for a browser."""
    request = Request(scope, receive)
    token = current_locale.set(negotiate(request.headers.get("accept-language"), request.cookies.get("lang")))
    try:
        response = error_answer(request, BodyTooLarge(limit=megabytes(limit)))
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)
    finally:
        current_locale.reset(token)


def install_body_limit(app: FastAPI, settings: Settings) -> None:
    """Add the body limit to ``app`` as its outermost middleware (call it after the other middleware)."""
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
