"""Translations: Korean first, English second, through gettext catalogs.

Message ids are English; ``locale/<lang>/LC_MESSAGES/*.po`` hold the translations, one catalog per
feature, merged at start-up (so two features never edit the same file). The current locale lives in a
context variable set per request; Korean is the default. A Korean translation that writes a particle pair
after a placeholder ("{model}이(가)") gets the right particle once the value is in (:mod:`.particles`).

>>> with use_locale("ko"):
...     _("Companies")
'기업'
>>> with use_locale("en"):
...     _("Companies")
'Companies'
>>> ParticleTemplate("{status}(으)로 변경").format(status="해결")
'해결로 변경'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from smart365.core.particles import after_placeholder, attach

LOCALES = ("ko", "en")
DEFAULT_LOCALE = "ko"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

current_locale: ContextVar[str] = ContextVar("smart365_locale", default=DEFAULT_LOCALE)


@cache
def catalog(locale: str) -> dict[str, str]:
    """msgid → translation for ``locale``, merged from every feature's ``.po`` file."""
    merged: dict[str, str] = {}
    for po_file in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as fh:
            for message in read_po(fh, locale=locale):
                if message.id and message.string and not message.fuzzy and isinstance(message.id, str):
                    text = str(message.string)
                    merged[message.id] = ParticleTemplate(text) if after_placeholder(text) else text
    return merged


class ParticleTemplate(str):
    """A translation whose particles depend on the values put in: ``format`` fills them, then picks each one."""

    __slots__ = ()

    def format(self, *args: object, **kwargs: object) -> str:
        return attach(str.format(self, *args, **kwargs))


def gettext(message: str) -> str:
    """Translate ``message`` into the current locale (the English id when no translation exists)."""
    return catalog(current_locale.get()).get(message, message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """Plural-aware translation; Korean has one form, so the singular id carries it."""
    return gettext(singular if n == 1 else plural)


def N_(message: str) -> str:  # noqa: N802 - gettext convention for "mark for extraction"
    """Mark a module-level string for extraction; translate it later with ``_``."""
    return message


def translate_in(locale: str, message: str) -> str:
    """Translate ``message`` into a given locale regardless of the current one."""
    return catalog(locale).get(message, message)


def bilingual(message: str, **params: object) -> str:
    """Korean first, then English, for words a terminal shows (one line serves both readers).

    >>> bilingual("Companies")
    '기업 / Companies'
    """
    korean = translate_in("ko", message).format(**params)
    english = translate_in("en", message).format(**params)
    return english if korean == english else f"{korean} / {english}"


def negotiate(accept_language: str | None, cookie: str | None = None) -> str:
    """Pick the locale: an explicit cookie wins, then the first supported Accept-Language, then Korean.

    >>> negotiate("en-US,en;q=0.9"), negotiate(None), negotiate("en", cookie="ko")
    ('en', 'ko', 'ko')
    """
    if cookie in LOCALES:
        return cookie
    for part in (accept_language or "").split(","):
        lang = part.split(";")[0].strip().lower()[:2]
        if lang in LOCALES:
            return lang
    return DEFAULT_LOCALE


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Temporarily switch the current locale."""
    token = current_locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        current_locale.reset(token)
