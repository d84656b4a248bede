"""Every message the assessment marks for translation has a Korean translation in its catalog."""

from __future__ import annotations

import re
from pathlib import Path

import smart365.assessment
from smart365.core.i18n import catalog

MARKED = re.compile(r"""\bN_\(\s*(["'])(.+?)\1\s*\)""")


def _marked_messages() -> set[str]:
    package = Path(smart365.assessment.__file__).parent
    return {match.group(2) for source in package.glob("*.py") for match in MARKED.finditer(source.read_text("utf-8"))}


def test_every_marked_message_is_translated_to_korean():
    messages = _marked_messages()
    assert len(messages) > 30  # the pattern really finds the messages
    korean = catalog("ko")
    missing = sorted(m for m in messages if m not in korean)
    assert missing == []


def test_translations_keep_their_placeholders():
    korean = catalog("ko")
    for message in _marked_messages():
        assert set(re.findall(r"{\w+}", korean[message])) == set(re.findall(r"{\w+}", message)), message
