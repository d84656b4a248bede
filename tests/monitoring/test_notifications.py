"""Alarm notifications reach a real HTTP receiver and a real SMTP server: queued with the alarm, sent once per
alarm, change and channel, signed, retried after a 5xx, given up on a refusal, audited, and never another firm's."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.bootstrap import bootstrap
from smart365.core.audit import AuditEntry
from smart365.core.db import utcnow
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.monitoring import notify
from smart365.monitoring.channels import ChannelIn, create_channel
from smart365.monitoring.models import NotificationChannel, NotificationDelivery
from smart365.monitoring.runtime import AlarmMonitor
from smart365.monitoring.service import RuleIn, create_rule
from smart365.registry.models import Tag
from smart365.telemetry.batch import Batch
from smart365.web.app import create_app
from tests.conftest import World
from tests.registry.test_plant_pages import _login


@dataclass
class Receiver:
    """A webhook receiver on a free port: answers each request with the next status of ``answers`` (then 200)."""

    answers: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.requests.append({"path": self.path, "headers": dict(self.headers), "raw": body})
            status = got.answers.pop(0) if got.answers else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status < 400 else b"no_service")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="t", warm_up=False, notify_allow_local=True, **extra)


def _spindle(world: World) -> int:
    with world.db.session(SYSTEM) as session:
        return session.scalars(select(Tag.id).where(Tag.company_id == world.firm_a)).first() or 0


def _channel(world: World, company_id: int, **fields: Any) -> int:
    with world.db.session(SYSTEM) as session:
        session.get_one(NotificationChannel, world.ids_a["channel_id"]).enabled = False  # the world's own channel
        return create_channel(session, company_id, ChannelIn.model_validate(fields)).id


def _raise_and_clear(world: World, tag_id: int, start_us: int, values: list[float]) -> None:
    with world.db.session(SYSTEM) as session:
        create_rule(session, world.firm_a, RuleIn(tag_id=tag_id, kind="high", limit=120, deadband=5,
                                                  severity="critical"))  # fmt: skip
    monitor = AlarmMonitor(world.db)
    batch = Batch.from_columns(tag_id, [start_us + i * 1_000_000 for i in range(len(values))], values)
    monitor.process(batch)
    monitor.process(batch)  # delivered twice: nothing is raised or sent twice


def _deliveries(world: World) -> list[NotificationDelivery]:
    with world.db.session(SYSTEM) as session:
        found = session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)).all()
        session.expunge_all()
        return list(found)


def test_an_alarm_reaches_each_wanted_channel_once_signed_and_audited(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    notify.install()
    chat = _channel(world, world.firm_a, name="생산팀", kind="text", target=f"{receiver.url}/chat")
    signed = _channel(world, world.firm_a, name="MES", kind="json", target=f"{receiver.url}/mes", secret="s3cret",
                      on_clear=False)  # fmt: skip
    _channel(world, world.firm_a, name="정보만", kind="text", target=f"{receiver.url}/info", min_severity="info")
    _channel(world, world.firm_b, name="B", kind="text", target=f"{receiver.url}/other-firm", min_severity="info")
    start = int(utcnow().timestamp()) * 1_000_000
    _raise_and_clear(world, _spindle(world), start, [100.0, 131.5, 128.0, 110.0])

    queued = [(d.channel_id, d.transition) for d in _deliveries(world)]
    assert sorted(queued) == sorted([(chat, "raised"), (signed, "raised"), (chat + 2, "raised"),
                                     (chat, "cleared"), (chat + 2, "cleared")])  # fmt: skip
    sent = notify.Notifier(world.db, _settings(tmp_path)).deliver_due()
    assert sent == 5 and notify.Notifier(world.db, _settings(tmp_path)).deliver_due() == 0
    paths = sorted(r["path"] for r in receiver.requests)
    assert paths == ["/chat", "/chat", "/info", "/info", "/mes"]  # never firm B's channel

    raised = next(r for r in receiver.requests if r["path"] == "/chat" and "발생" in json.loads(r["raw"])["text"])
    korean, english = json.loads(raised["raw"])["text"].splitlines()[:2]
    assert korean.startswith("[긴급] SENTINEL-A 정밀 SENTINEL-A MCT 알람 발생: ") and "값 131.5" in korean
    assert english.startswith("[Critical] SENTINEL-A 정밀 SENTINEL-A MCT alarm raised: ")
    mes = next(r for r in receiver.requests if r["path"] == "/mes")
    expected = hmac.new(b"s3cret", mes["raw"], hashlib.sha256).hexdigest()
    assert mes["headers"]["X-Smart365-Signature"] == f"sha256={expected}"
    body = json.loads(mes["raw"])
    assert (body["event"], body["severity"], body["value"]) == ("alarm.raised", "critical", 131.5)
    assert mes["headers"]["X-Smart365-Delivery"] == str(body["delivery_id"])
    assert {d.state for d in _deliveries(world)} == {"sent"}
    with world.db.session(SYSTEM) as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "notify.delivery")).all()
        assert len(entries) == 5 and {e.outcome for e in entries} == {"ok"}
        assert {e.company_id for e in entries} == {world.firm_a}


def test_a_5xx_is_tried_again_and_a_refusal_fails_at_once_with_its_reason(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    notify.install()
    flaky = _channel(world, world.firm_a, name="불안정", kind="jandi", target=f"{receiver.url}/flaky", on_clear=False)
    gone = _channel(world, world.firm_a, name="삭제된 웹훅", kind="teams", target=f"{receiver.url}/gone",
                    on_clear=False)  # fmt: skip
    receiver.answers = [503, 404]  # the first request (the older delivery, flaky's) gets 503, the next 404
    _raise_and_clear(world, _spindle(world), int(utcnow().timestamp()) * 1_000_000, [130.0])
    notifier, now = notify.Notifier(world.db, _settings(tmp_path)), utcnow()
    assert notifier.deliver_due(now) == 2
    by_channel = {d.channel_id: d for d in _deliveries(world)}
    assert (by_channel[flaky].state, by_channel[flaky].attempts) == ("pending", 1)
    assert by_channel[flaky].last_error == "HTTP 503: no_service"
    assert (by_channel[gone].state, by_channel[gone].last_error) == ("failed", "HTTP 404: no_service")
    assert notifier.deliver_due(now + timedelta(seconds=10)) == 0  # not due before its 30 s
    assert notifier.deliver_due(now + timedelta(seconds=31)) == 1
    assert {d.channel_id: d.state for d in _deliveries(world)} == {flaky: "sent", gone: "failed"}
    flaky_bodies = [json.loads(r["raw"]) for r in receiver.requests if r["path"] == "/flaky"]
    assert len(flaky_bodies) == 2 and flaky_bodies[0] == flaky_bodies[1]  # the same message, tried again
    assert flaky_bodies[0]["body"].startswith("[긴급]") and flaky_bodies[0]["connectColor"] == "#D7263D"
    teams = json.loads(next(r["raw"] for r in receiver.requests if r["path"] == "/gone"))
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    with world.db.session(SYSTEM) as session:
        outcomes = session.scalars(select(AuditEntry.outcome).where(AuditEntry.action == "notify.delivery")).all()
        assert sorted(outcomes) == ["failed", "failed", "ok"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        self.mails.append(envelope)
        return "250 OK"


def test_an_alarm_mail_goes_through_a_real_smtp_server(world: World, tmp_path: Path) -> None:
    notify.install()
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _channel(world, world.firm_a, name="공장장", kind="email", target="plant@hanbit.kr, qa@hanbit.kr")
        _raise_and_clear(world, _spindle(world), int(utcnow().timestamp()) * 1_000_000, [140.0, 100.0])
        settings = _settings(tmp_path, smtp_url=f"smtp://127.0.0.1:{port}", smtp_from="alarm@smart365.kr",
                             public_url="https://smart365.example.kr")  # fmt: skip
        assert notify.Notifier(world.db, settings).deliver_due() == 2
    finally:
        controller.stop()
    assert [sorted(m.rcpt_tos) for m in inbox.mails] == [["plant@hanbit.kr", "qa@hanbit.kr"]] * 2
    mail = message_from_bytes(inbox.mails[0].content, policy=email_policy)
    assert mail["Subject"] == "Smart365 [긴급] SENTINEL-A 정밀 SENTINEL-A MCT 알람 발생"
    assert mail["From"] == "alarm@smart365.kr"
    text = mail.get_content()
    assert "값 140" in text and "(value 140," in text
    assert f"https://smart365.example.kr/monitoring/companies/{world.firm_a}/alarms" in text
    assert {d.state for d in _deliveries(world)} == {"sent"}


def test_the_page_adds_a_channel_sends_a_test_and_refuses_a_bad_address(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    app = create_app(bootstrap(_settings(tmp_path), db=world.db))
    with TestClient(app) as client:
        csrf = _login(client, world.emails["member_a"])
        page = f"/monitoring/companies/{world.firm_a}/alarms"
        no_scheme = {"csrf_token": csrf, "name": "슬랙", "kind": "text", "target": "hooks.slack.com/x"}
        bad = client.post(f"/monitoring/companies/{world.firm_a}/channels", data=no_scheme)
        assert "주소: 웹훅 주소는 https://" in bad.text
        form = {"csrf_token": csrf, "name": "슬랙", "kind": "text", "target": f"{receiver.url}/T0/B0/xoxb-9f8e7d",
                "min_severity": "critical", "on_clear": "true"}  # fmt: skip
        client.post(f"/monitoring/companies/{world.firm_a}/channels", data=form)
        shown = client.get(page).text
        assert "슬랙" in shown and "xoxb-9f8e7d" not in shown  # the webhook URL is a password: only its host shows
        channel_id = _channel_id(world, "슬랙")
        done = client.post(f"/monitoring/channels/{channel_id}/test", data={"csrf_token": csrf})
        assert "슬랙(으)로" not in done.text and "시험 메시지를 슬랙" in done.text
        assert json.loads(receiver.requests[-1]["raw"])["text"].startswith(
            "Smart365 알림 시험: SENTINEL-A 정밀의 알람이"
        )
        other = _login(client, world.emails["member_b"])
        refused = client.post(f"/monitoring/channels/{channel_id}/test", data={"csrf_token": other})
        assert refused.status_code in (403, 404) and len(receiver.requests) == 1


def _channel_id(world: World, name: str) -> int:
    with world.db.session(SYSTEM) as session:
        return session.scalars(select(NotificationChannel.id).where(NotificationChannel.name == name)).one()


def test_a_channel_never_calls_this_machine_unless_allowed(world: World, receiver: Receiver, tmp_path: Path) -> None:
    with world.db.session(SYSTEM) as session:
        channel = session.get_one(NotificationChannel, world.ids_a["channel_id"])
        channel.target = f"{receiver.url}/internal"
    settings = Settings(data_dir=tmp_path, secret_key="t", warm_up=False)  # the default: no local calls
    done = notify.send_test(world.db, world.ids_a["channel_id"], settings)
    assert done.state == "failed" and "이 서버 자신이라 보내지 않습니다" in (done.last_error or "")
    assert receiver.requests == []
