"""The InfluxDB write API, so the edges a factory already has send to Smart365 unchanged.

Telegraf's ``outputs.influxdb`` (1.x: ``POST /write?db=…``, ``POST /query`` with ``CREATE DATABASE`` at
start-up, Basic auth or ``u``/``p``) and ``outputs.influxdb_v2`` (``POST /api/v2/write?bucket=…&org=…``,
``Authorization: Token …``), Node-RED's InfluxDB nodes and the client libraries (influxdb-client,
influxdb-python) point their URL at Smart365 and put a firm's API key where they put their token or
password. Bodies come plain or gzip (Telegraf's default), unpacked within the body limit.

What lands where is the firm's data (:mod:`smart365.telemetry.signals`): a series mapped to a tag is stored as
that tag; any other series joins the firm's new-signal inbox and its points are kept there until a person
assigns it. Nothing is dropped without the answer saying so.

Answers are the ones InfluxDB gives and its clients act on:

- ``204`` when every point was stored (or already held);
- ``400`` when lines could not be read or points were refused (a text field, a value outside the tag's
  limits, a full inbox). As InfluxDB 1.x (and 3.x through its v2 API) does, the good points of the batch are
  stored and the body says ``partial write:`` with each refused line's number; InfluxDB 2.x OSS would drop
  the whole batch instead. Telegraf does not retry a 4xx, which is right: sending the same bad line again
  cannot help; the refused lines are kept in the dead-letter table with their reason;
- ``401`` without a valid key, ``413`` for a body over the limit (packed or unpacked: Telegraf's v2 output
  halves the batch and tries again), ``5xx`` when the store fails (the clients retry).

Error bodies are InfluxDB's: ``{"error": "…"}`` on 1.x paths, ``{"code": "…", "message": "…"}`` on
``/api/v2``, plus Smart365's Korean and English reason and the refused lines, which the clients ignore.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse, Response

from smart365.core.encoding import inflate
from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.tenancy import principal_of
from smart365.telemetry import signals
from smart365.telemetry.api import MAX_POINTS_PER_REQUEST, IngestResult, TooLarge, get_store, store_points
from smart365.telemetry.batch import Batch
from smart365.telemetry.line_protocol import INFLUX_PRECISIONS, LineError, TooManyPoints, parse_series_lines
from smart365.telemetry.line_protocol import REASONS as LINE_REASONS
from smart365.telemetry.pipeline import Pipeline, reason_text
from smart365.web.deps import InfluxSession, RequestBody, get_settings, system_of

#: What ``/ping`` and every answer here say in ``X-Influxdb-Version``: the API level Smart365 speaks.
INFLUX_VERSION = "1.8.10"
INFLUX_BUILD = "Smart365"
#: Refusals that are no loss: a later point of the same batch for the same series and time replaced it.
_NOT_A_LOSS = frozenset({"duplicate"})
MAX_REASONS_IN_MESSAGE = 10
_PARTIAL = N_("{dropped} points were not stored; {written} were. Each refused line is listed.")


def influx_error(request: Request, status: int, message: str, extra: dict[str, Any] | None = None) -> Response:
    """An error in the body InfluxDB clients read: ``{"error"}`` for 1.x paths, ``{"code", "message"}`` for v2.

    ``extra`` (Smart365's reasons in Korean and English, the refused lines) rides along; clients ignore it.
    """
    if request.url.path.startswith("/api/v2"):
        codes = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not found", 413: "request too large",
                 415: "invalid", 422: "unprocessable entity"}  # fmt: skip
        body: dict[str, Any] = {"code": codes.get(status, "internal error"), "message": message}
    else:
        body = {"error": message}
    first = message.splitlines()[0][:200] if message else ""
    headers = {"X-Influxdb-Error": first.encode("ascii", "backslashreplace").decode()}  # a header is latin-1
    return JSONResponse(body | (extra or {}), status_code=status, headers=headers)


class InfluxRoute(APIRoute):
    """A route answering as InfluxDB does: its errors (a missing key included) in InfluxDB's body, and the
    ``X-Influxdb-Version`` header on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response = await handler(request)
            except AppError as exc:
                status = 400 if exc.status == 422 else exc.status  # InfluxDB says 400 for what it cannot read
                reason = {"reason": exc.localized(), "reason_en": exc.english()}
                response = influx_error(request, status, exc.english(), reason)
            response.headers["X-Influxdb-Version"] = INFLUX_VERSION
            response.headers["X-Influxdb-Build"] = INFLUX_BUILD
            return response

        return answer


class InfluxErrorV1(BaseModel):
    """An error as InfluxDB 1.x answers it (Smart365's reasons and the refused lines may ride along)."""

    model_config = ConfigDict(extra="allow")

    error: str


class InfluxErrorV2(BaseModel):
    """An error as InfluxDB 2.x answers it (Smart365's reasons and the refused lines may ride along)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


V1_ERRORS: dict[int | str, dict[str, Any]] = {"4XX": {"model": InfluxErrorV1, "description": "InfluxDB 1.x error"}}
V2_ERRORS: dict[int | str, dict[str, Any]] = {"4XX": {"model": InfluxErrorV2, "description": "InfluxDB 2.x error"}}
router = APIRouter(tags=["InfluxDB-compatible write"], route_class=InfluxRoute)
WRITE_BODY = {
    "required": True,
    "content": {
        "text/plain": {"schema": {"type": "string"}, "example": "cpu,host=press-01 usage_idle=97.5 1764028800"}
    },
}


@router.post(
    "/write", status_code=204, response_class=Response, responses=V1_ERRORS, openapi_extra={"requestBody": WRITE_BODY}
)
def write_v1(
    request: Request, session: InfluxSession, body: RequestBody, db: str = "", rp: str = "", precision: str = "ns"
) -> Response:
    """InfluxDB 1.x write: line protocol into the firm of the API key (``u``/``p``, Basic auth or a token).

    ``db`` and ``rp`` are noted as where a new series came from; ``precision`` is ``ns``, ``u``, ``ms``, ``s``,
    ``m`` or ``h``.
    """
    return _write(request, session, body, precision, f"db={db}" + (f" rp={rp}" if rp else "") if db else None)


@router.post(
    "/api/v2/write", status_code=204, response_class=Response, responses=V2_ERRORS,
    openapi_extra={"requestBody": WRITE_BODY},
)  # fmt: skip
def write_v2(
    request: Request, session: InfluxSession, body: RequestBody, org: str = "", bucket: str = "", precision: str = "ns"
) -> Response:
    """InfluxDB 2.x write (``Authorization: Token <API key>``); ``org`` is ignored, ``bucket`` is noted."""
    return _write(request, session, body, precision, f"bucket={bucket}" if bucket else None)


def _write(request: Request, session: Any, body: bytes, precision: str, source: str | None) -> Response:
    """Unpack, parse, resolve series (new ones into the inbox), store; the answer as InfluxDB gives it."""
    if precision not in INFLUX_PRECISIONS and precision != "n":
        raise Invalid(N_("precision must be one of ns, u, ms, s, m, h."))
    text = inflate(body, request.headers.get("content-encoding"), get_settings(request).max_body_bytes)
    text_str = text.decode("utf-8", errors="replace")
    try:
        parsed = parse_series_lines(text_str, precision, max_points=MAX_POINTS_PER_REQUEST)
    except TooManyPoints as exc:
        raise TooLarge(limit=exc.limit) from exc
    principal = principal_of(session)
    company_id = int(principal.company_id)  # type: ignore[arg-type]  # an API key always names its firm
    resolution = signals.resolve(session, company_id, set(parsed.names), source, principal.api_key_id)
    # Commit the new inbox rows before their points are stored under keys made of their ids: a rolled-back row
    # would free its id for another series, which would then inherit the held points.
    session.commit()
    refused = np.array([name in resolution.refused for name in parsed.names], dtype=bool)[parsed.series]
    keys = np.array([resolution.keys.get(name, -1) for name in parsed.names], dtype=np.int64)[parsed.series]
    kept = ~refused
    errors = parsed.errors + _refused(parsed.line[refused], text_str)
    batch = Batch.from_columns(keys[kept], parsed.ts_us[kept], parsed.value[kept])
    rows = parsed.line[kept]
    alarms = system_of(request).alarms

    def on_stored(stored: Batch) -> None:  # alarm rules and deployed models see tags, never inbox points
        mapped = stored.take(stored.tag_id < signals.HELD_BASE)
        if len(mapped):
            alarms.process(mapped)

    # InfluxDB's answer does not say which points were new: the ingest log's acknowledgement is enough.
    stored = store_points(
        get_store(request), Pipeline(resolution.tag_table()), batch, rows, errors, on_stored, count_new=False
    )
    return _answer(request, stored)


def _refused(lines: np.ndarray, text: str) -> list[LineError]:
    """One error per line that carried a new series the full inbox could not take."""
    if not len(lines):
        return []
    raw = text.split("\n")
    reason = LINE_REASONS["inbox_full"]
    return [LineError(n, "inbox_full", reason, {}, raw[n - 1][:1000]) for n in np.unique(lines).tolist()]


def _answer(request: Request, result: IngestResult) -> Response:
    """204 when nothing was lost; else 400 naming each refused line, as InfluxDB's partial write does."""
    lost = [r for r in result.rejected_by_reason if r.code not in _NOT_A_LOSS]
    if not lost:
        return Response(status_code=204)
    refused = [r for r in result.rejected if r.reason_en != reason_text("duplicate", "en")]
    dropped = sum(r.count for r in lost)
    details = "; ".join(f"line {r.row}: {r.reason_en}" for r in refused[:MAX_REASONS_IN_MESSAGE])
    written = result.stored + result.already_stored + result.conflicts
    prefix = "partial write: " if written else ""
    message = f"{prefix}unable to parse or store {dropped} point(s): {details} dropped={dropped}"
    extra = {
        "line": refused[0].row if refused else None,
        "reason": gettext(_PARTIAL).format(dropped=dropped, written=written),
        "reason_en": translate_in("en", _PARTIAL).format(dropped=dropped, written=written),
        "stored": written,
        "dropped": dropped,
        "rejected": [r.model_dump() for r in refused],
    }
    return influx_error(request, 400, message, extra)


@router.get("/query", response_class=JSONResponse, responses=V1_ERRORS, operation_id="influx_query_get")
@router.post("/query", response_class=JSONResponse, responses=V1_ERRORS, operation_id="influx_query_post")
def query(request: Request, session: InfluxSession, body: RequestBody) -> Response:
    """Enough of InfluxQL for start-up checks: ``CREATE DATABASE`` (Telegraf), ``SHOW DATABASES`` and the like
    answer an empty result per statement; Smart365 stores what it is sent and is read through its own API."""
    form = parse_qs(body.decode("utf-8", errors="replace")) if body else {}
    text = request.query_params.get("q") or (form.get("q") or [""])[0]
    statements = [s for s in text.split(";") if s.strip()] or [""]
    return JSONResponse({"results": [{"statement_id": i} for i in range(len(statements))]})


@router.get("/ping", status_code=204, response_class=Response, operation_id="influx_ping_get")
@router.head("/ping", status_code=204, response_class=Response, operation_id="influx_ping_head")
def ping(verbose: str = "") -> Response:
    """Liveness as InfluxDB answers it: 204 and ``X-Influxdb-Version`` (``verbose=true``: 200 with the version)."""
    if verbose not in ("", "0", "false"):
        return Response(json.dumps({"version": INFLUX_VERSION}), media_type="application/json")
    return Response(status_code=204)


@router.get("/health", response_class=JSONResponse)
def health() -> Response:
    """InfluxDB 2.x's health check, for clients that ask before they write."""
    return JSONResponse({"name": "influxdb", "message": "ready for queries and writes", "status": "pass",
                         "checks": [], "version": INFLUX_VERSION})  # fmt: skip
