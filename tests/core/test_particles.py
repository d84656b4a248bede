"""Korean particles follow the word before them, in messages, errors and pages (no "이(가)" reaches a reader)."""

from __future__ import annotations

import re

import pytest

from smart365.core import i18n
from smart365.core.errors import Invalid
from smart365.core.particles import after_placeholder, attach
from smart365.web.templating import templates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}이(가) 이깁니다", {"LightGBM": "LightGBM이", "선형 회귀": "선형 회귀가", "PCA": "PCA가", "EWMA": "EWMA가"}),
        ("{}(으)로 변경", {"해결": "해결로", "접수": "접수로", "진행 중": "진행 중으로", "1.053": "1.053으로",
                        "7": "7로", "3": "3으로", "20": "20으로", "100": "100으로", "1000": "1000으로",
                        "OPC UA": "OPC UA로"}),
        ("{}을(를) 넘음", {"80 %": "80 %를", "상한": "상한을", "온도": "온도를", "Modbus": "Modbus를",
                         "spindle": "spindle을"}),
        ("'{}'은(는)", {"abc": "'abc'는", "ON": "'ON'은", "2": "'2'는"}),
    ],
)  # fmt: skip
def test_the_particle_follows_the_final_sound_of_the_word(text: str, expected: dict[str, str]) -> None:
    for word, start in expected.items():
        assert attach(text.format(word)).startswith(start), word


def test_a_marker_with_nothing_to_read_stays_for_a_person_to_see() -> None:
    assert attach("(으)로 시작") == "(으)로 시작"
    assert attach("—(으)로") == "—(으)로"


def test_every_korean_marker_waits_for_a_placeholder_so_it_can_be_chosen() -> None:
    """A marker after fixed Korean text is a translation to write out (해결로), not to leave to chance."""
    marker = re.compile(r"이\(가\)|을\(를\)|은\(는\)|와\(과\)|과\(와\)|\(으\)로|\(이\)나|\(이\)라")
    fixed = {
        msgid: text
        for msgid, text in i18n.catalog("ko").items()
        if marker.search(text) and not after_placeholder(text)
    }
    assert fixed == {}


def test_errors_and_terminal_lines_pick_the_particle() -> None:
    error = Invalid("{value} is not a date (YYYY-MM-DD)", value="2024-13-01")
    with i18n.use_locale("ko"):
        assert "(은)" not in error.localized() and "(는)" not in error.localized()
    assert "(으)" not in i18n.bilingual("Roll back to v{version}", version=3)


def test_pages_pick_the_particle_after_the_value_is_printed() -> None:
    page = templates.env.from_string('{{ _("Move to {status}").format(status=status) }}|<b>{{ x }}</b>이(가)')
    with i18n.use_locale("ko"):
        assert page.render(status="해결", x="PCA").startswith("해결로 변경|")
    with i18n.use_locale("en"):
        assert page.render(status="Resolved", x="PCA").startswith("Move to Resolved|")
