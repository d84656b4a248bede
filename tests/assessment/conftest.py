"""Shared fixtures of the assessment tests: the default instrument and the hand-computed cases."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smart365.assessment.instrument import Instrument, default_instrument

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def instrument() -> Instrument:
    return default_instrument()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def answers_for(instrument: Instrument) -> Callable[[Mapping[str, Any]], np.ndarray]:
    """Build one response from a case: ``base`` stage everywhere, ``set`` overrides items or domains."""

    def build(case: Mapping[str, Any]) -> np.ndarray:
        row = np.full(len(instrument.items), np.nan if case["base"] is None else float(case["base"]))
        for key, value in (case.get("set") or {}).items():
            stage = np.nan if value is None else float(value)
            if key in instrument.domain_ids:
                row[instrument.item_domain == instrument.domain_ids.index(key)] = stage
            else:
                row[instrument.item_index(key)] = stage
        return row

    return build
