"""Body limits: a body over the limit is refused with 413 and a reason while it is read, before any parser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from smart365.core.settings import Settings
from smart365.telemetry import api as telemetry_api
from smart365.web.limits import BodyLimitMiddleware
from tests.conftest import World, bearer

LIMIT = 64 * 1024


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret", max_body_bytes=LIMIT, max_upload_bytes=LIMIT)


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


def test_a_chunked_body_over_the_limit_is_413_and_never_reaches_the_parser(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    monkeypatch.setattr(telemetry_api, "parse_lines", lambda text, *a, **k: parsed.append(text))
    member = bearer(client, world.emails["member_a"]) | {"Content-Type": "text/plain"}
    answer = client.post("/api/v1/ingest", headers=member, content=_chunks(4 * LIMIT))
    assert "content-length" not in answer.request.headers  # sent chunked: only counting can catch it
    assert answer.status_code == 413
    assert answer.json()["error"] | {"params": None} == {
        "code": "body_too_large",
        "message": "요청이 0.0625MB보다 큽니다. 한 번에 더 적게 보내 주세요.",
        "message_en": "The request is larger than 0.0625 MB. Send less at a time.",
        "params": None,
    }
    assert parsed == []


def test_a_page_post_over_the_limit_gets_the_error_page_in_korean(client: TestClient) -> None:
    answer = client.post(
        "/login", content=b"email=" + b"x" * 2 * LIMIT, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    assert "요청이 0.0625MB보다 큽니다" in answer.text


def test_an_upload_may_carry_its_file_limit_plus_the_form_around_it(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    content = b"name,brn\n" + b"x" * (LIMIT + 1024)  # over the plain body limit, within the upload limit
    answer = client.post("/api/v1/companies/import", headers=admin, files={"file": ("firms.csv", content)})
    assert answer.status_code == 200 and answer.json()["valid"] == 0  # read and checked, not refused for size


async def _run(middleware: BodyLimitMiddleware, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/api/v1/ingest", "headers": headers, "query_string": b""}


async def _read_all(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def test_counting_stops_reading_the_moment_the_body_passes_the_limit() -> None:
    pulled: list[int] = []

    async def receive() -> dict[str, Any]:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}  # an endless chunked body

    sent = asyncio.run(_run(BodyLimitMiddleware(_read_all, max_body_bytes=10_000), _scope([]), receive))
    assert len(pulled) == 11  # 11 000 bytes: one chunk past the limit, and not one more
    assert sent[0]["status"] == 413


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    headers = [(b"content-length", b"10001"), (b"content-type", b"application/json")]
    sent = asyncio.run(_run(BodyLimitMiddleware(_read_all, max_body_bytes=10_000), _scope(headers), receive))
    assert sent[0]["status"] == 413


def test_a_body_within_the_limit_passes_untouched() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 6000, "more_body": True}, {"type": "http.request", "body": b"y"}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    form = [(b"content-type", b"multipart/form-data; boundary=b")]
    middleware = BodyLimitMiddleware(_read_all, max_body_bytes=5000, max_upload_bytes=10_000)
    sent = asyncio.run(_run(middleware, _scope(form), receive))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"6001"
