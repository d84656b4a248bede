"""Shared datasets live beside the checkout (``../shared/datasets``); CI has them, so there a missing one fails."""

from __future__ import annotations

import os

import pytest

from smart365.analytics.datasets import datasets_root


def require_dataset(relative: str) -> None:
    """Skip on a laptop without the shared datasets; fail in CI, where they must be present."""
    if (datasets_root() / relative).is_file():
        return
    message = f"shared dataset file {datasets_root() / relative} is not present"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
