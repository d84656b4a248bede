"""The examples in the centre's docstrings run and print what they say."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import smart365.centre.assign
import smart365.centre.categories
import smart365.centre.classify
import smart365.centre.priority
import smart365.centre.similar
import smart365.centre.sla
import smart365.centre.text

MODULES = [
    smart365.centre.assign,
    smart365.centre.categories,
    smart365.centre.classify,
    smart365.centre.priority,
    smart365.centre.similar,
    smart365.centre.sla,
    smart365.centre.text,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
