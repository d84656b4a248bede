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
