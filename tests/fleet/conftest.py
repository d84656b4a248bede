"""The fleet's tests run the real ``nats-server``: outside CI its absence skips them, in CI it fails them."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture
def nats_server() -> str:
    """The ``nats-server`` on the PATH."""
    found = shutil.which("nats-server")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("nats-server is not on the PATH; CI needs the real server")
    pytest.skip("nats-server is not on the PATH")
