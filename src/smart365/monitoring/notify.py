"""Alarm notifications: a firm's alarms sent where its people are — a chat webhook, a generic HTTP POST or e-mail.

A message is queued in the very transaction that raises or clears the alarm (:func:`queue_notifications`, a
``before_flush`` hook the composition root installs, so every path that writes an alarm notifies and none is
lost in a crash), at most once per alarm, change and channel (a unique key). :class:`Notifier`, running in
``serve``, sends what is due without holding a transaction open: it claims a delivery by moving its next try a
minute on (so two servers never send one twice at once, and a crash mid-send only retries), sends, and records
the outcome in the audit log. A refused message (a 4xx other than 408/429, a refused recipient) fails at once
with its reason; a network error or a 5xx is tried again after 30 s, 2, 10 and 30 minutes and an hour.

Formats (the channel's ``kind``):

=========  ===========================================================================================
``text``   ``{"text": …}``: Slack, 카카오워크, Mattermost, Google Chat and other incoming webhooks
``jandi``  잔디 (JANDI) incoming webhook: ``body``, ``connectColor``, ``connectInfo``
``teams``  Microsoft Teams Workflows webhook: an Adaptive Card message
``json``   the alarm as JSON for one's own system, signed ``X-Smart365-Signature: sha256=<HMAC>`` with the secret
``email``  e-mail through ``SMART365_SMTP_URL``
=========  ===========================================================================================

Every webhook request carries ``X-Smart365-Delivery`` (the same on a retry), so a receiver can drop a repeat.

>>> message = Message("raised", "critical", "한빛정밀 MCT-01", "주축 부하 > 120 %", "spindle_load > 120 %", 131.2,
...                   "2026-12-07 18:03:12", None)
>>> message.korean()
'[긴급] 한빛정밀 MCT-01 알람 발생: 주축 부하 > 120 % (값 131.2, 2026-12-07 18:03:12 KST)'
>>> message.headline("en")
'[Critical] 한빛정밀 MCT-01 alarm raised'
>>> payload("text", message, 7, None)[1]["text"].splitlines()[1]
'[Critical] 한빛정밀 MCT-01 alarm raised: spindle_load > 120 % (value 131.2, 2026-12-07 18:03:12 KST)'
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import smtplib
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy import event, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.db import Database, utcnow
from smart365.core.i18n import N_, bilingual, translate_in, use_locale
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent, NotificationChannel, NotificationDelivery
from smart365.monitoring.service import alarm_text, localtime
from smart365.registry.models import Company, Equipment

log = logging.getLogger(__name__)

KINDS = {
    "text": N_("Chat webhook (Slack, 카카오워크, Mattermost)"),
    "jandi": N_("잔디 (JANDI) webhook"),
    "teams": N_("Microsoft Teams (Workflows)"),
    "json": N_("HTTP POST (JSON)"),
    "email": N_("E-mail"),
}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
SEVERITY_WORDS = {"critical": N_("Critical"), "warning": N_("Warning"), "info": N_("Info")}
RETRY_AFTER_S = (30, 120, 600, 1800, 3600)  # then it has failed: six tries over about 1 h 45 min
CLAIM_S = 60  # a claimed delivery is due again after this, should its sender die mid-send
TIMEOUT_S = 10.0
BATCH = 50
COLOURS = {"critical": "#D7263D", "warning": "#F4A261", "info": "#2A9D8F", "cleared": "#6C757D"}


class DeliveryFailed(Exception):
    """A message that was not delivered; ``final`` when trying again cannot help (the receiver refused it)."""

    def __init__(self, reason: str, final: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.final = reason[:500], final


@dataclass(frozen=True)
class Message:
    """What one notification says, in Korean and in English."""

    transition: str  # raised | cleared | test
    severity: str
    where: str  # the firm and machine
    condition_ko: str
    condition_en: str
    value: float | None
    at: str  # Korean time
    url: str | None

    def korean(self) -> str:
        return self.text("ko")

    def english(self) -> str:
        return self.text("en")

    def headline(self, locale: str) -> str:
        """The first words: severity, where and what happened (an e-mail's subject)."""
        if self.transition == "test":
            return translate_in(locale, N_("Test message from Smart365"))
        severity = translate_in(locale, SEVERITY_WORDS.get(self.severity, self.severity))
        change = N_("alarm raised") if self.transition == "raised" else N_("alarm cleared")
        return f"[{severity}] {self.where} {translate_in(locale, change)}"

    def text(self, locale: str) -> str:
        """The whole message in ``locale``."""
        if self.transition == "test":
            told = translate_in(locale, N_("Alarms of {where} will arrive here.")).format(where=self.where)
            return f"{self.headline(locale)}: {told}"
        condition = self.condition_ko if locale == "ko" else self.condition_en
        value = (
            translate_in(locale, N_("value {value}")).format(value=f"{self.value:g}") if self.value is not None else ""
        )
        when = ", ".join(part for part in (value, f"{self.at} KST") if part)
        return f"{self.headline(locale)}: {condition} ({when})"


def payload(kind: str, message: Message, delivery_id: int, facts: dict[str, Any] | None) -> tuple[dict[str, str], Any]:
    """The headers and JSON body a webhook of ``kind`` takes for ``message``."""
    ko, en = message.korean(), message.english()
    link = f"\n{message.url}" if message.url else ""
    colour = COLOURS["cleared" if message.transition == "cleared" else message.severity]
    if kind == "jandi":
        info = [{"title": en, "description": message.url or ""}]
        headers = {"Accept": "application/vnd.tosslab.jandi-v2+json"}
        return headers, {"body": ko, "connectColor": colour, "connectInfo": info}
    if kind == "teams":
        blocks = [{"type": "TextBlock", "text": ko, "wrap": True, "weight": "Bolder"},
                  {"type": "TextBlock", "text": en, "wrap": True, "isSubtle": True}]  # fmt: skip
        card: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.4", "body": blocks,
                                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json"}  # fmt: skip
        if message.url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Smart365", "url": message.url}]
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        return {}, {"type": "message", "attachments": [attachment]}
    if kind == "json":
        return {}, {"event": f"alarm.{message.transition}" if message.transition != "test" else "test",
                    "delivery_id": delivery_id, "severity": message.severity, "where": message.where,
                    "condition": message.condition_en, "value": message.value, "at_kst": message.at,
                    "url": message.url, "text": {"ko": ko, "en": en}, **(facts or {})}  # fmt: skip
    return {}, {"text": f"{ko}\n{en}{link}"}


def queue_notifications(session: Session, _context: Any, _instances: Any) -> None:
    """``before_flush``: a delivery for each channel that wants an alarm raised or cleared in this flush."""
    changes = [(e, "raised") for e in session.new if isinstance(e, AlarmEvent)]
    changes += [(e, "cleared") for e in session.new if isinstance(e, AlarmEvent) and e.cleared_at is not None]
    changes += [(e, "cleared") for e in session.dirty if isinstance(e, AlarmEvent) and _just_cleared(e)]
    if not changes:
        return
    with session.no_autoflush:
        channels = session.scalars(
            select(NotificationChannel).where(
                NotificationChannel.company_id.in_({e.company_id for e, _ in changes}),
                NotificationChannel.enabled.is_(True),
            )
        ).all()
    now = utcnow()
    for alarm, transition in changes:
        for channel in channels:
            if channel.company_id == alarm.company_id and wants(channel, alarm.severity, transition):
                session.add(NotificationDelivery(company_id=alarm.company_id, channel=channel, event=alarm,
                                                 transition=transition, state="pending", next_at=now))  # fmt: skip


def _just_cleared(alarm: AlarmEvent) -> bool:
    added, _unchanged, deleted = sa_inspect(alarm).attrs.cleared_at.history
    return any(value is not None for value in added or ()) and not any(deleted or ())


def wants(channel: NotificationChannel, severity: str, transition: str) -> bool:
    """Whether ``channel`` is sent an alarm of ``severity`` being ``transition`` (raised or cleared).

    >>> channel = NotificationChannel(min_severity="warning", on_clear=False)
    >>> wants(channel, "critical", "raised"), wants(channel, "info", "raised"), wants(channel, "critical", "cleared")
    (True, False, False)
    """
    if transition == "cleared" and not channel.on_clear:
        return False
    return SEVERITY_RANK.get(severity, 1) >= SEVERITY_RANK.get(channel.min_severity, 1)


def install() -> None:
    """From now on, every alarm raised or cleared in any session queues its notifications."""
    if not event.contains(Session, "before_flush", queue_notifications):
        event.listen(Session, "before_flush", queue_notifications)


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery with everything needed to send it, read before the sending (no session held)."""

    delivery_id: int
    company_id: int
    channel_id: int
    kind: str
    target: str
    secret: str | None
    message: Message
    facts: dict[str, Any]
    attempt: int


def message_of(session: Session, delivery: NotificationDelivery, settings: Settings) -> Message:
    """The message a delivery sends: its alarm's (the condition in both languages), or the channel test's."""
    alarm, transition = delivery.event, delivery.transition
    if alarm is None:
        firm_name = session.get_one(Company, delivery.company_id).name
        return Message("test", "info", firm_name, "", "", None, localtime(utcnow()), settings.public_url)
    firm = session.get(Company, alarm.company_id)
    machine = session.get(Equipment, alarm.equipment_id)
    where = " ".join(part for part in ((firm.name if firm else ""), (machine.name if machine else "")) if part)
    texts = {}
    for locale in ("ko", "en"):
        with use_locale(locale):
            texts[locale] = alarm_text(alarm)
    moment = alarm.cleared_at if transition == "cleared" and alarm.cleared_at else alarm.raised_at
    value = alarm.cleared_value if transition == "cleared" else alarm.raised_value
    url = (
        f"{settings.public_url.rstrip('/')}/monitoring/companies/{alarm.company_id}/alarms"
        if settings.public_url
        else None
    )
    return Message(transition, alarm.severity, where, texts["ko"], texts["en"], value, localtime(moment), url)


def send(outgoing: Outgoing, settings: Settings, client: httpx.Client) -> str:
    """Send one message; what the receiver answered, or :class:`DeliveryFailed` with the reason."""
    if outgoing.kind == "email":
        return _mail(outgoing, settings)
    check_destination(outgoing.target, settings.notify_allow_local)
    headers, body = payload(outgoing.kind, outgoing.message, outgoing.delivery_id, outgoing.facts)
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Smart365",
               "X-Smart365-Delivery": str(outgoing.delivery_id), **headers}  # fmt: skip
    if outgoing.kind == "json" and outgoing.secret:
        signature = hmac.new(outgoing.secret.encode(), raw, hashlib.sha256).hexdigest()
        headers["X-Smart365-Signature"] = f"sha256={signature}"
    try:
        answer = client.post(outgoing.target, content=raw, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if answer.is_success:
        return f"HTTP {answer.status_code}"
    final = 400 <= answer.status_code < 500 and answer.status_code not in (408, 429)
    raise DeliveryFailed(f"HTTP {answer.status_code}: {answer.text[:200]}", final=final)


def check_destination(url: str, allow_local: bool) -> None:
    """Refuse a webhook address that is not http(s), or that reaches this machine or a link-local address (a
    cloud's metadata service), so a channel cannot make the server call what only it can reach. Factory LAN
    addresses (10.x, 192.168.x) are allowed: in-house messengers live there.

    >>> check_destination("http://169.254.169.254/latest/meta-data/", allow_local=False)
    Traceback (most recent call last):
    ...
    smart365.monitoring.notify.DeliveryFailed: 169.254.169.254는 링크 로컬 주소라 보내지 않습니다. / \
169.254.169.254 is a link-local address: not sent there.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryFailed(bilingual(N_("Not an http(s) address.")), final=True)
    try:
        found = {
            str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
        }
    except OSError as exc:
        raise DeliveryFailed(f"{parts.hostname}: {exc}") from exc
    for address in found:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_link_local:
            raise DeliveryFailed(
                bilingual(N_("{address} is a link-local address: not sent there."), address=address), True
            )
        if (ip.is_loopback or ip.is_unspecified) and not allow_local:
            local = N_("{address} is this machine: not sent there (SMART365_NOTIFY_ALLOW_LOCAL allows it).")
            raise DeliveryFailed(bilingual(local, address=address), final=True)


def _mail(outgoing: Outgoing, settings: Settings) -> str:
    if not settings.smtp_url:
        raise DeliveryFailed(bilingual(N_("E-mail needs SMART365_SMTP_URL (the mail server).")), final=True)
    server = urlsplit(settings.smtp_url)
    mail = EmailMessage()
    mail["Subject"] = f"Smart365 {outgoing.message.headline('ko')}"
    mail["From"], mail["To"] = settings.smtp_from, outgoing.target
    mail["X-Smart365-Delivery"] = str(outgoing.delivery_id)
    link = f"\n\n{outgoing.message.url}" if outgoing.message.url else ""
    mail.set_content(f"{outgoing.message.korean()}\n\n{outgoing.message.english()}{link}\n")
    secure = server.scheme == "smtps"
    connect = smtplib.SMTP_SSL if secure else smtplib.SMTP
    try:
        with connect(server.hostname or "localhost", server.port or (465 if secure else 25), timeout=TIMEOUT_S) as smtp:
            if not secure and smtp.has_extn("starttls"):
                smtp.starttls()
            if server.username:
                smtp.login(unquote(server.username), unquote(server.password or ""))
            refused = smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        who = ", ".join(map(str, exc.recipients))
        raise DeliveryFailed(bilingual(N_("The mail server refused {who}."), who=who), final=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    return f"accepted by {server.hostname}" + (f", refused: {', '.join(refused)}" if refused else "")


class Notifier:
    """Sends the queued notifications every ``settings.notify_every_s`` seconds (a part of ``serve``)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.deliver_due)
            except Exception:  # the database away for a moment: try again on the next round
                log.exception("sending alarm notifications failed")
            await asyncio.sleep(self.settings.notify_every_s)

    def deliver_due(self, now: datetime | None = None, only: int | None = None) -> int:
        """Claim the deliveries due at ``now`` (or just delivery ``only``), send each and record the outcome;
        returns how many were tried."""
        now = now or utcnow()
        claimed = self._claim(now, only)
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
            for outgoing in claimed:
                try:
                    answer, failure = send(outgoing, self.settings, client), None
                except DeliveryFailed as exc:
                    answer, failure = "", exc
                self._record(outgoing, answer, failure, now)
        return len(claimed)

    def _claim(self, now: datetime, only: int | None) -> list[Outgoing]:
        with self.db.session(SYSTEM) as session:
            query = select(NotificationDelivery).where(
                NotificationDelivery.state == "pending", NotificationDelivery.next_at <= now
            )
            if only is not None:
                query = query.where(NotificationDelivery.id == only)
            due = session.scalars(query.order_by(NotificationDelivery.next_at).limit(BATCH)).all()
            claimed = []
            for delivery in due:
                took = session.execute(
                    update(NotificationDelivery)
                    .where(
                        NotificationDelivery.id == delivery.id,
                        NotificationDelivery.state == "pending",
                        NotificationDelivery.next_at <= now,
                    )
                    .values(next_at=now + timedelta(seconds=CLAIM_S), attempts=NotificationDelivery.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if took.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(self._outgoing(session, delivery))
            return claimed

    def _outgoing(self, session: Session, delivery: NotificationDelivery) -> Outgoing:
        channel, alarm = delivery.channel, delivery.event
        facts = {"alarm_id": alarm.id, "company_id": alarm.company_id, "machine_id": alarm.equipment_id,
                 "tag_id": alarm.tag_id} if alarm is not None else {}  # fmt: skip
        return Outgoing(delivery.id, delivery.company_id, channel.id, channel.kind, channel.target, channel.secret,
                        message_of(session, delivery, self.settings), facts,
                        delivery.attempts + 1)  # fmt: skip

    def _record(self, outgoing: Outgoing, answer: str, failure: DeliveryFailed | None, now: datetime) -> None:
        with self.db.session(SYSTEM) as session:
            delivery = session.get_one(NotificationDelivery, outgoing.delivery_id)
            given_up = failure is not None and (failure.final or outgoing.attempt > len(RETRY_AFTER_S))
            if failure is None:
                delivery.state, delivery.sent_at, delivery.last_error = "sent", now, None
            elif given_up:
                delivery.state, delivery.last_error = "failed", failure.reason
            else:
                delivery.last_error = failure.reason
                delivery.next_at = now + timedelta(seconds=RETRY_AFTER_S[outgoing.attempt - 1])
            details = {"delivery": outgoing.delivery_id, "transition": outgoing.message.transition,
                       "attempt": outgoing.attempt, "answer": answer or (failure.reason if failure else ""),
                       "state": delivery.state}  # fmt: skip
            outcome = audit.Outcome.OK if failure is None else audit.Outcome.FAILED
            audit.record(session, audit.Action.NOTIFY, f"notification_channels:{outgoing.channel_id}",
                         company_id=outgoing.company_id, details=details, outcome=outcome)  # fmt: skip


def send_test(db: Database, channel_id: int, settings: Settings) -> NotificationDelivery:
    """Queue a test message for the channel and send it now; returns the delivery with its outcome."""
    with db.session(SYSTEM) as session:
        channel = session.get_one(NotificationChannel, channel_id)
        delivery = NotificationDelivery(company_id=channel.company_id, channel_id=channel.id, transition="test",
                                        state="pending", next_at=utcnow())  # fmt: skip
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    Notifier(db, settings).deliver_due(only=delivery_id)
    with db.session(SYSTEM) as session:
        done = session.get_one(NotificationDelivery, delivery_id)
        session.expunge(done)
        return done
