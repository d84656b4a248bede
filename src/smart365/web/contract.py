"""The API's published contract says what it really answers, and bad values never reach a 500.

- **Error bodies, documented as sent.** Every error is ``{"error": {"code", "message", "message_en", ...}}``
  (see ``smart365.web.app``), a 422 also lists its ``fields``; FastAPI would document a 422 as its own
  ``{"detail": [...]}`` shape, which no route sends. The OpenAPI document gets the true shape for 422 and
  for every other 4xx, so a client (or schemathesis) can rely on it.
- **One error body.** Starlette's own refusals (an unknown address, a wrong method, a body it cannot
  parse) are answered in the same body, or the error page for a browser.
- **Values the database cannot hold.** A text longer than its column or a number out of a column's range
  surfaces from PostgreSQL as a ``DataError``: answered 422 with the reason, not 500. (Integers past 64 bits
  never get that far: :func:`smart365.core.db.make_engine` refuses them on every backend.)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from smart365.core.errors import AppError, Forbidden, Invalid, NotFound, Unauthorized
from smart365.core.i18n import N_
from smart365.web.templating import render


class FieldError(BaseModel):
    """One field of a request that did not validate: where (``body.name``, ``query.page``) and why."""

    field: str
    reason: str


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, the message in the caller's language and in English."""

    code: str
    message: str
    message_en: str
    params: dict[str, str | int | float] | None = None
    fields: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    """The body of every error answer of the API."""

    error: ErrorDetail


_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_ERROR = {"content": {"application/json": {"schema": _REF}}}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every operation the true error body: its 422 and a ``4XX`` answer are :class:`ErrorResponse`.

    >>> doc = {"paths": {"/x": {"get": {"responses": {"200": {}, "422": {"description": "Validation Error"}}}}},
    ...        "components": {"schemas": {"HTTPValidationError": {}, "ValidationError": {}}}}
    >>> sorted(document_errors(doc)["paths"]["/x"]["get"]["responses"]), sorted(doc["components"]["schemas"])
    (['200', '422', '4XX'], ['ErrorDetail', 'ErrorResponse', 'FieldError'])
    """
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "The input is not valid (every field with its reason)"} | _ERROR
            responses.setdefault("4XX", {"description": "Refused, with the reason (code, message)"} | _ERROR)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    definitions = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(definitions.pop("$defs", {}))
    components["ErrorResponse"] = definitions
    return schema


class NotAllowed(AppError):
    status = 405
    code = "method_not_allowed"
    default_message = N_("This address does not take that method.")


#: Paths outside ``/api/`` that machines call (the InfluxDB-compatible write): their errors are JSON too.
MACHINE_PATHS = frozenset({"/write", "/query"})


def error_answer(request: Request, error: AppError, status: int | None = None) -> Response:
    """The answer to an error outside the app's own handlers: JSON for the API, the error page otherwise."""
    status = status or error.status
    path = request.url.path
    if path.startswith("/api/") or path in MACHINE_PATHS or "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": error.to_dict()}, status_code=status)
    return render(request, "error.html", status_code=status, error=error.localized())


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (an unknown address, a wrong method, a body it cannot parse) in the same body."""
    assert isinstance(exc, HTTPException)
    known: dict[int, AppError] = {401: Unauthorized(), 403: Forbidden(), 404: NotFound(), 405: NotAllowed()}
    response = error_answer(request, known.get(exc.status_code) or AppError(), status=exc.status_code)
    response.headers.update(exc.headers or {})
    return response


async def _data_error(request: Request, exc: Exception) -> Response:
    """A value the database refused (too long, out of range): the caller's input, so a 422 with the reason."""
    return error_answer(request, Invalid(N_("A value in the request is too long or out of range for its field.")))


def install_api_contract(app: FastAPI) -> None:
    """Publish the true error bodies in ``/openapi.json``, answer database value errors with 422 and Starlette's
    own refusals (404, 405, 400) in the same error body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(HTTPException, _http_error)
