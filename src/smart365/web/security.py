"""Security headers on every response, from one pure-ASGI middleware.

The Content-Security-Policy admits scripts only from the app itself and inline ``<script>`` elements that
carry this request's nonce: a page writes ``<script nonce="{{ csp_nonce }}">`` (``render`` puts the nonce in
every template's context), so an injected script, inline event handler or ``javascript:`` link never runs.
Styles may be inline: ECharts tooltips, htmx's indicator style and the templates' ``style=""`` bars and
widths need it, and a style cannot run code. Framing is refused twice (``frame-ancestors`` for current
browsers, ``X-Frame-Options`` for old ones); HSTS is sent only when the app says it is served over HTTPS,
since a browser would otherwise refuse a plain-HTTP embedded install for a year.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NONCE_KEY = "csp_nonce"
HSTS = "max-age=31536000"


def content_security_policy(nonce: str) -> str:
    """The policy the app's own pages satisfy, with ``nonce`` admitting this response's inline scripts.

    >>> policy = content_security_policy("abc")
    >>> "script-src 'self' 'nonce-abc'" in policy, "frame-ancestors 'none'" in policy
    (True, True)
    """
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",  # pico.css and Swagger UI draw their icons as data: SVGs
        "font-src": "'self'",
        "connect-src": "'self'",  # htmx, the live pages' SSE, Swagger UI's "Try it out"
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def csp_nonce(request: Request) -> str:
    """This request's script nonce (empty outside :class:`SecurityHeadersMiddleware`)."""
    return str(request.scope.get("state", {}).get(NONCE_KEY, ""))


class SecurityHeadersMiddleware:
    """Gives each request a fresh nonce and adds the security headers to its response.

    Headers a route set itself are left as they are.
    """

    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self.https = https

    def headers(self, nonce: str) -> dict[str, str]:
        """The headers of one response; HSTS only over HTTPS."""
        headers = {
            "Content-Security-Policy": content_security_policy(nonce),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        }
        if self.https:
            headers["Strict-Transport-Security"] = HSTS
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[NONCE_KEY] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in self.headers(nonce).items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
