"""Prometheus metrics of the web process, served at ``/metrics``.

Open by default (the embedded shape listens on localhost); with ``SMART365_METRICS_TOKEN`` set, a scrape
must send ``Authorization: Bearer <token>`` (Prometheus: ``authorization: {credentials: <token>}``).
"""

from __future__ import annotations

import secrets
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smart365.core.errors import Unauthorized
from smart365.core.i18n import N_
from smart365.web.deps import get_settings

REQUESTS = Counter("smart365_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("smart365_http_request_seconds", "HTTP request latency", ["method", "route"])


class MetricsMiddleware:
    """Counts requests and times them per route template (not per raw path: bounded label sets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` as its bearer credential (constant-time).

    >>> bearer_matches("Bearer s3cret", "s3cret"), bearer_matches("bearer s3cret", "s3cret")
    (True, True)
    >>> bearer_matches("Bearer s3cre", "s3cret"), bearer_matches("Basic s3cret", "s3cret"), bearer_matches(None, "x")
    (False, False, False)
    """
    scheme, _, sent = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(sent.strip().encode(), token.encode())


def metrics_endpoint(request: Request) -> Response:
    """The Prometheus exposition; 401 without the metrics token when one is set."""
    token = get_settings(request).metrics_token
    if token and not bearer_matches(request.headers.get("authorization"), token):
        raise Unauthorized(N_("The metrics need the token set in SMART365_METRICS_TOKEN."))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
