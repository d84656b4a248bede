"""Whether a KSIC industry code counts as 소재·부품·장비 (소부장), from a data file the centre edits."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

DEFAULT_MAPPING = Path(__file__).parent / "data" / "sobujang_ksic.yaml"


@cache
def _mapping(path: Path = DEFAULT_MAPPING) -> tuple[frozenset[str], frozenset[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(map(str, data.get("include", {}))), frozenset(map(str, data.get("exclude", {})))


def _longest_prefix(code: str, prefixes: frozenset[str]) -> int:
    return max((len(p) for p in prefixes if code.startswith(p)), default=0)


def is_sobujang(ksic_code: str | None, mapping: Path = DEFAULT_MAPPING) -> bool:
    """Whether ``ksic_code`` (digits, optionally prefixed by the section letter C) is 소부장.

    >>> is_sobujang("29280"), is_sobujang("C26110"), is_sobujang("20423"), is_sobujang("10712")
    (True, True, False, False)
    """
    if not ksic_code:
        return False
    code = ksic_code.strip().upper().removeprefix("C")
    include, exclude = _mapping(mapping)
    return _longest_prefix(code, include) > _longest_prefix(code, exclude)
