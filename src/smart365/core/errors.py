"""Specific, user-facing errors. Each carries an HTTP status and a translatable message.

The web layer maps them to responses in one place (``smart365.web.app``); the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from smart365.core.i18n import N_, gettext, translate_in


class AppError(Exception):
    """Base of every expected error. ``message`` is an English msgid with ``{named}`` fields."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = N_("The request could not be processed.")

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.message = message or self.default_message
        self.params = params
        super().__init__(self.english())

    def localized(self) -> str:
        """The message in the current locale."""
        return gettext(self.message).format(**self.params)

    def english(self) -> str:
        return translate_in("en", self.message).format(**self.params)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of an error response: code, message (current locale) and English."""
        body: dict[str, Any] = {"code": self.code, "message": self.localized(), "message_en": self.english()}
        if self.params:
            body["params"] = {k: v for k, v in self.params.items() if isinstance(v, str | int | float)}
        return body


class NotFound(AppError):
    status = 404
    code = "not_found"
    default_message = N_("Not found.")


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    default_message = N_("You do not have permission to do this.")


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    default_message = N_("Please log in.")


class Conflict(AppError):
    status = 409
    code = "conflict"
    default_message = N_("This conflicts with existing data.")


class Invalid(AppError):
    status = 422
    code = "invalid"
    default_message = N_("The input is not valid.")


#: Readable reasons for pydantic's common error types (msgids; ``{ctx}`` fields filled in).
FIELD_REASONS = {
    "missing": N_("This field is required."),
    "int_parsing": N_("Must be a whole number."),
    "int_from_float": N_("Must be a whole number."),
    "int_type": N_("Must be a whole number."),
    "float_parsing": N_("Must be a number."),
    "bool_parsing": N_("Must be yes or no (Y/N)."),
    "greater_than_equal": N_("Must be at least {ge}."),
    "less_than_equal": N_("Must be at most {le}."),
    "string_too_short": N_("Must not be empty."),
    "string_too_long": N_("Must be at most {max_length} characters."),
    "extra_forbidden": N_("Unknown field."),
}


def field_reason(error: Mapping[str, Any]) -> str:
    """A translated reason for one pydantic validation error.

    >>> field_reason({"type": "greater_than_equal", "msg": "...", "ctx": {"ge": 0}, "loc": ("x",)})
    '0 이상이어야 합니다.'
    """
    ctx = dict(error.get("ctx") or {})
    if error["type"] == "smart365":
        return gettext(str(ctx.pop("msgid", error["msg"]))).format(**ctx)
    template = FIELD_REASONS.get(error["type"])
    return gettext(template).format(**ctx) if template else str(error["msg"])
