"""A handler that writes to the records database runs in the thread pool, never on the event loop.

On the loop, a write that waits for a lock another request holds (SQLite's single writer, a PostgreSQL row
lock) stops every request, the lock holder's own commit too, until the wait times out: that is how a burst of
survey autosaves once failed with ``database is locked``. Forms come in through ``PageForm`` instead.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from smart365.web import deps
from tests.web.test_tenancy_matrix import _routes

SESSIONS = {deps.page_session, deps.api_session, deps.key_session, deps.influx_session}


def _takes_a_session(dependant: Dependant) -> bool:
    return any(d.call in SESSIONS or _takes_a_session(d) for d in dependant.dependencies)


def test_no_handler_that_writes_with_a_session_is_a_coroutine(app: Any) -> None:
    writing = [
        (method, path, route)
        for method, path, route in _routes(app)
        if isinstance(route, APIRoute) and method != "GET" and _takes_a_session(route.dependant)
    ]
    assert len(writing) > 20  # the walk finds the app's forms and APIs
    on_the_loop = [f"{m} {path}" for m, path, route in writing if inspect.iscoroutinefunction(route.endpoint)]
    assert on_the_loop == []

