"""The examples in the telemetry docstrings run and print what they say."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from smart365.core import encoding
from smart365.telemetry import batch, file_import, json_batch, line_protocol, metrics, pipeline, signals, sources, store
from smart365.web import deps


@pytest.mark.parametrize(
    "module",
    [batch, file_import, json_batch, line_protocol, metrics, pipeline, signals, sources, store, encoding, deps],
    ids=lambda m: m.__name__,
)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
