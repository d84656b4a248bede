"""The examples in the campaign, analytics, evidence and demo-campaign docstrings run as written."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import smart365.assessment.analytics
import smart365.assessment.campaigns
import smart365.assessment.evidence
import smart365.sim.demo_campaigns

MODULES = [
    smart365.assessment.analytics,
    smart365.assessment.campaigns,
    smart365.assessment.evidence,
    smart365.sim.demo_campaigns,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
