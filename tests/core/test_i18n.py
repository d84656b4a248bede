"""Korean first: every message a user can read has a Korean translation."""

from __future__ import annotations

from smart365.core.errors import NotFound
from smart365.core.i18n import catalog, negotiate, use_locale
from smart365.core.i18n_extract import extract_messages


def test_every_message_has_a_korean_translation() -> None:
    korean = catalog("ko")
    missing = {msgid: places[0] for msgid, places in extract_messages().items() if msgid not in korean}
    assert not missing, f"untranslated messages (add them to locale/ko/LC_MESSAGES/<feature>.po): {missing}"


def test_errors_speak_the_request_language_and_english() -> None:
    with use_locale("ko"):
        body = NotFound().to_dict()
    assert body == {"code": "not_found", "message": "찾을 수 없습니다.", "message_en": "Not found."}


def test_cookie_beats_browser_language_and_korean_is_default() -> None:
    assert negotiate("en-US", cookie="ko") == "ko"
    assert negotiate("fr-FR, de") == "ko"
    assert negotiate("fr, en;q=0.5") == "en"


def test_catalogs_never_translate_one_message_two_ways() -> None:
    """Feature catalogs are merged; the same msgid must read the same everywhere (one wins silently otherwise)."""
    from babel.messages.pofile import read_po

    from smart365.core.i18n import LOCALE_DIR

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for po_file in sorted((LOCALE_DIR / "ko" / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as fh:
            for message in read_po(fh, locale="ko"):
                if not message.id or not message.string:
                    continue
                msgid, text = str(message.id), str(message.string)
                if msgid in seen and seen[msgid][1] != text:
                    clashes.append(f"{msgid!r}: {seen[msgid][0]}={seen[msgid][1]!r} vs {po_file.name}={text!r}")
                seen.setdefault(msgid, (po_file.name, text))
    assert not clashes, clashes
