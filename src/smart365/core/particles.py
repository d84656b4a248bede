"""Korean particles chosen by the word before them (조사 선택), so no reader sees "이(가)" or "(으)로".

A Korean translation writes the particle pair after a placeholder — ``"{model}이(가) 이깁니다"`` — and
:func:`attach` picks the form once the value is in: 이/가, 을/를, 은/는, 과/와, 으로/로, 이나/나, 이라/라.
The choice follows the sound of the word's last syllable as a Korean reads it aloud: a final consonant
(받침) takes 이·을·은·과·으로, a vowel takes 가·를·는·와·로, and ㄹ takes 로 (서울로, 1일로). Digits are read as
Sino-Korean numbers (3 → 삼, 10 → 십, 1.053 → ...삼), Latin acronyms by their letter names (GBM → 엠), other
Latin words by their usual ending sound (model → 모델, Modbus → 모드버스). Quotes and brackets after the word are
skipped, and so are closing HTML tags: ``'{value}'은(는)`` reads the value inside the quotes.

>>> print(attach("LightGBM이(가) 이깁니다, 1.053(으)로, 해결(으)로, 서울(으)로, 'ON'은(는)"))
LightGBM이 이깁니다, 1.053으로, 해결로, 서울로, 'ON'은
>>> print(attach("<b>LightGBM</b>이(가), 10(으)로 바꿈, 2을(를) 넘음, 100000(으)로, Modbus와(과) 모델"))
<b>LightGBM</b>이, 10으로 바꿈, 2를 넘음, 100000으로, Modbus와 모델
"""

from __future__ import annotations

import re

# (after a final consonant, after a vowel) for each marker a translation may write
_PAIRS = {
    "이(가)": ("이", "가"), "가(이)": ("이", "가"),
    "을(를)": ("을", "를"), "를(을)": ("을", "를"),
    "은(는)": ("은", "는"), "는(은)": ("은", "는"),
    "과(와)": ("과", "와"), "와(과)": ("과", "와"),
    "(으)로": ("으로", "로"),
    "(이)나": ("이나", "나"),
    "(이)라": ("이라", "라"),
}  # fmt: skip
_MARKER = re.compile("|".join(re.escape(marker) for marker in _PAIRS))
_CLOSERS = "'\"’”)]}»」』 "
_CLOSING_TAG = re.compile(r"</[a-z0-9]+>$")
_AFTER_PLACEHOLDER = re.compile(r"\}[" + re.escape(_CLOSERS) + "]*(?:" + _MARKER.pattern + ")")
_RIEUL = 8  # ㄹ as a final consonant (종성 index)

# The last syllable of each digit read as Sino-Korean: 영 일 이 삼 사 오 육 칠 팔 구
_DIGITS = "영일이삼사오육칠팔구"
# Round numbers end with their unit: 10 십, 100 백, 1000 천, then 만 (10⁴–10⁷), 억 (10⁸–10¹¹), 조
_UNITS = ("십", "백", "천", "만", "만", "만", "만", "억", "억", "억", "억")
# Letter names of the Latin alphabet, last syllable: 에이 비 씨 디 이 에프 지 에이치 아이 제이 케이 엘 엠 엔 ...
_LETTERS = dict(zip("abcdefghijklmnopqrstuvwxyz", "이비씨디이프지치이이이엘엠엔오피큐알스티유이유스이트", strict=True))
# The usual sound a Latin word ends with when Koreans say it: ...m 엠/음, ...n 은, ...l 을, ...ng 응, stop consonants
_WORD_ENDINGS = (
    ("ng", "응"), ("le", "을"), ("m", "음"), ("n", "은"), ("l", "을"),
    ("k", "윽"), ("t", "읏"), ("p", "읍"), ("b", "읍"),
)  # fmt: skip


def attach(text: str) -> str:
    """Replace every particle marker in ``text`` by the form its preceding word takes (see the module doc)."""
    if "(" not in text:
        return text
    return _MARKER.sub(lambda match: _choose(text, match), text)


def after_placeholder(template: str) -> bool:
    """Whether a translation writes a particle pair after a placeholder, so its form waits for the value.

    >>> after_placeholder("{status}(으)로 변경"), after_placeholder("'{value}'은(는) 틀림"), after_placeholder("로그인")
    (True, True, False)
    """
    return bool(_AFTER_PLACEHOLDER.search(template))


def _choose(text: str, match: re.Match[str]) -> str:
    marker = match.group(0)
    batchim_form, vowel_form = _PAIRS[marker]
    # a marker written as 를(을) sits right after the word: the word ends before the marker's first letter
    syllable = _last_syllable(_word_before(text[: match.start()]))
    if syllable is None:
        return marker  # nothing to read: leave the marker for a person to see
    final = (ord(syllable) - 0xAC00) % 28
    if marker == "(으)로":
        return vowel_form if final in (0, _RIEUL) else batchim_form
    return batchim_form if final else vowel_form


def _word_before(text: str) -> str:
    """The text up to the word a marker belongs to: past closing quotes, brackets and tags (``</b>이(가)``)."""
    while True:
        stripped = _CLOSING_TAG.sub("", text.rstrip(_CLOSERS))
        if stripped == text:
            return text
        text = stripped


def _last_syllable(word: str) -> str | None:
    """The Hangul syllable the word ends with when read aloud, or ``None`` when it cannot be told."""
    if not word:
        return None
    last = word[-1]
    if "가" <= last <= "힣":
        return last
    if last.isdigit():
        return _number_ending(word)
    if last.isascii() and last.isalpha():
        return _latin_ending(word)
    if last == "%":
        return "트"  # 퍼센트
    return None


def _number_ending(word: str) -> str:
    digits = re.search(r"(\d+)(?:\.(\d+))?$", word)
    assert digits is not None  # the word ends with a digit
    integer, fraction = digits.group(1), digits.group(2)
    if fraction:  # 1.053 is read 일 점 영오삼: its last digit
        return _DIGITS[int(fraction[-1])]
    if integer.strip("0") == "":
        return "영"
    zeros = len(integer) - len(integer.rstrip("0"))
    if zeros == 0:
        return _DIGITS[int(integer[-1])]
    return _UNITS[zeros - 1] if zeros <= len(_UNITS) else "조"


def _latin_ending(word: str) -> str:
    letters = re.search(r"[A-Za-z]+$", word)
    assert letters is not None
    tail = letters.group(0)
    acronym = re.search(r"[A-Z]{2,}$", tail)
    if acronym or len(tail) == 1:  # an acronym (GBM) or one letter: read by the letter's name
        return _LETTERS[tail[-1].lower()]
    lower = tail.lower()
    for ending, syllable in _WORD_ENDINGS:
        if lower.endswith(ending):
            return syllable
    return "어"  # a vowel sound (-e, -s, -r, -y...): 모드버스, 서버, 데이터
