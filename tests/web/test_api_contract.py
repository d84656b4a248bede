"""The API keeps its published contract for every role: schemathesis walks ``/openapi.json`` in process.

Every operation gets a few generated requests (derandomized, so a run is repeatable, and bounded, so the
walk stays within minutes on a small machine), each sent once with every role's bearer token. A 5xx or an
answer that does not match its documented schema (an error body, a timestamp without its zone) fails the
test, which lists every operation that broke with the request that broke it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from smart365.core import migrate
from tests.conftest import World, bearer

EXAMPLES = 20  # generated requests per operation (valid and invalid ones), each sent as every role
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def records_url(tmp_path: Path) -> str:
    """SQLite only: the walk is about the contract, which both databases share (their tests run elsewhere)."""
    url = f"sqlite:///{tmp_path / 'records.db'}"
    migrate.upgrade(url)
    return url


def _walk(operation: Any, tokens: dict[str, dict[str, str]]) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)))
    def run(case: Any) -> None:
        for headers in tokens.values():
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=120)  # the first ticket loads its models

    run()


def _describe(failure: BaseException) -> str:
    """The failure and, for a group, each of its parts (Hypothesis and schemathesis group what they find)."""
    parts = [str(failure)[:1500]]
    if isinstance(failure, BaseExceptionGroup):
        parts += [_describe(part) for part in failure.exceptions]
    return "\n".join(parts)


def test_every_operation_answers_every_role_within_its_contract(app: FastAPI, world: World) -> None:
    tokens_client = TestClient(app)  # no lifespan here: schemathesis starts the app's and ends it with the test
    tokens = {role: bearer(tokens_client, email) for role, email in world.emails.items()}  # every role
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the walk must see the whole API"
    broken = {}
    for operation in operations:
        try:
            _walk(operation, tokens)
        except (Exception, BaseExceptionGroup) as failure:  # one broken operation must not hide the others
            broken[operation.label] = _describe(failure)
    assert not broken, "\n\n".join(f"{label}:\n{why}" for label, why in broken.items())
