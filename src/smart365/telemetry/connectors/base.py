"""The connector contract: validated config, start/stop/health, emit batches, dead letters, reconnect with backoff.

A connector kind subclasses :class:`Connector`, declares its pydantic ``config_model`` and implements
``_run_once()``: connect, then deliver data until the connection is lost (raise) or the task is cancelled.
The base runs ``_run_once`` in a supervisor task and, whenever it raises, waits an exponentially growing,
jittered delay before trying again. A payload a connector cannot read never stops it: it becomes a
:class:`DeadLetter` handed to ``on_dead_letter`` and counted in :meth:`Connector.health`.

>>> validate_config(ConnectorConfig, {"backoff_initial_s": 0})
Traceback (most recent call last):
...
smart365.telemetry.connectors.base.ConnectorConfigError: Invalid connector configuration at 'backoff_initial_s': \
Input should be greater than 0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smart365.core.errors import AppError
from smart365.core.i18n import N_, translate_in
from smart365.telemetry.batch import Batch

if TYPE_CHECKING:
    from smart365.telemetry.pipeline import IngestQueue

log = logging.getLogger(__name__)

State = Literal["connecting", "connected", "backoff", "stopped"]
Emit = Callable[[Batch], Awaitable[None]]

DEAD_LETTER_REASONS: dict[str, str] = {
    "malformed_payload": N_("The payload could not be parsed."),
    "missing_value": N_("The payload has no value at the configured path."),
    "not_numeric": N_("The value is not a number."),
    "bad_timestamp": N_("The timestamp in the payload is unreadable."),
    "no_birth": N_("Data arrived for a Sparkplug node or device whose birth certificate was never seen."),
    "unknown_alias": N_("The Sparkplug metric alias was not announced in a birth certificate."),
}
"""Dead-letter reason code → English message id (Korean in ``connectors.po``)."""


class ConnectorConfigError(AppError):
    """A connector configuration is invalid; the message names the offending field."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "connector_config_invalid"
    default_message: ClassVar[str] = N_("Invalid connector configuration at '{field}': {problem}")


class ConnectorConfig(BaseModel):
    """Settings every connector shares: reconnect backoff. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    backoff_jitter: float = Field(default=0.2, ge=0, le=1)


class TagPoint(BaseModel):
    """One entry of a tag map: which ``tag_id`` a source value feeds, and ``value = raw * scale + offset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag_id: int = Field(ge=0)
    scale: float = 1.0
    offset: float = 0.0


C = TypeVar("C", bound=ConnectorConfig)


def validate_config(model: type[C], raw: Mapping[str, Any] | C) -> C:
    """Validate ``raw`` against ``model``; raise :class:`ConnectorConfigError` naming the first bad field.

    >>> validate_config(ConnectorConfig, {"backoff_max_s": 5}).backoff_max_s
    5.0
    """
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise ConnectorConfigError(field=where, problem=first["msg"]) from error


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a connector could not turn into points: where it came from, why, and (part of) the payload."""

    connector: str
    source: str
    reason: str
    payload: bytes
    detail: str = ""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def message(self, locale: str) -> str:
        """The reason in ``locale`` ("ko" or "en").

        >>> DeadLetter("mqtt", "a/b", "malformed_payload", b"{").message("en")
        'The payload could not be parsed.'
        """
        return translate_in(locale, DEAD_LETTER_REASONS[self.reason])

    def as_record(self) -> dict[str, Any]:
        """A plain dict for a dead-letter store: reason code with Korean and English text."""
        return {
            "connector": self.connector,
            "source": self.source,
            "reason": self.reason,
            "message_ko": self.message("ko"),
            "message_en": self.message("en"),
            "detail": self.detail,
            "payload": self.payload[:1024],
            "received_at": self.received_at,
        }


@dataclass(frozen=True, slots=True)
class ConnectorEvent:
    """Something a connector observed besides values, e.g. ``equipment_state`` (online/offline) or ``seq_gap``."""

    connector: str
    kind: str
    source: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def emit_to(queue: IngestQueue) -> Emit:
    """An ``emit`` callback that queues batches and returns only once each one is stored (at-least-once).

    >>> callable(emit_to.__call__)
    True
    """

    async def emit(batch: Batch) -> None:
        outcome = await queue.put(batch)
        await outcome

    return emit


def backoff_delay(attempt: int, initial: float, maximum: float, jitter: float, rng: random.Random) -> float:
    """Exponential delay for the ``attempt``-th retry (0-based), capped, with ± ``jitter`` relative noise.

    >>> backoff_delay(3, 0.5, 30, 0.0, random.Random(1)), backoff_delay(20, 0.5, 30, 0.0, random.Random(1))
    (4.0, 30.0)
    """
    base = min(maximum, initial * 2 ** min(attempt, 30))
    return max(0.0, base * (1 + jitter * (2 * rng.random() - 1)))


class Connector(ABC, Generic[C]):
    """Base of every connector kind: one contract so the pipeline never knows which protocol fed it.

    Subclasses set ``kind`` and ``config_model`` and implement ``_run_once``; they call ``_connected()``
    once the source is live, ``_emit`` with batches, ``_dead_letter`` for unreadable input and
    ``_event`` for other observations.
    """

    kind: ClassVar[str] = ""
    config_model: ClassVar[type[ConnectorConfig]] = ConnectorConfig

    def __init__(
        self,
        config: Mapping[str, Any] | C,
        emit: Emit,
        *,
        on_dead_letter: Callable[[DeadLetter], Awaitable[None]] | None = None,
        on_event: Callable[[ConnectorEvent], Awaitable[None]] | None = None,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config: C = validate_config(self.config_model, config)  # type: ignore[assignment]
        self.name = name or self.kind
        self._emit_cb = emit
        self._on_dead_letter = on_dead_letter
        self._on_event = on_event
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self.state: State = "stopped"
        self.last_data_at: datetime | None = None
        self.last_error: str | None = None
        self.errors = 0
        self.points = 0
        self.dead_letters = 0
        self.connects = 0

    # -- the contract -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the supervisor task (returns at once; the connection is made in the background)."""
        if self._task is not None and not self._task.done():
            return
        self.state = "connecting"
        self._task = asyncio.create_task(self._supervise(), name=f"connector-{self.name}")

    async def stop(self) -> None:
        """Cancel the connection and wait until it has closed."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.state = "stopped"

    def health(self) -> dict[str, Any]:
        """State (connecting, connected, backoff, stopped), last data time, error, point and dead-letter counts."""
        return {
            "state": self.state,
            "last_data_at": self.last_data_at,
            "errors": self.errors,
            "last_error": self.last_error,
            "points": self.points,
            "dead_letters": self.dead_letters,
            "connects": self.connects,
        }

    def retag(self, config: Mapping[str, Any]) -> bool:
        """Take a new config in place when it differs from the running one in its tag map only; ``False`` when the
        connector must restart for it (the default: most kinds read their tags when they connect)."""
        return False

    @abstractmethod
    async def _run_once(self) -> None:
        """Connect and deliver data until the connection is lost (raise) or the task is cancelled."""

    # -- helpers for subclasses -------------------------------------------------------------------------

    def _connected(self) -> None:
        self.state = "connected"
        self.connects += 1

    async def _emit(self, batch: Batch) -> None:
        if not len(batch):
            return
        await self._emit_cb(batch)
        self.points += len(batch)
        self.last_data_at = datetime.now(UTC)

    async def _dead_letter(self, source: str, reason: str, payload: bytes | str, detail: str = "") -> None:
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        letter = DeadLetter(self.name, source, reason, raw, detail)
        self.dead_letters += 1
        log.info("connector %s dead-lettered a message from %s: %s %s", self.name, source, reason, detail)
        if self._on_dead_letter is not None:
            await self._on_dead_letter(letter)

    async def _event(self, kind: str, source: str, **detail: Any) -> None:
        if self._on_event is not None:
            await self._on_event(ConnectorEvent(self.name, kind, source, detail))

    # -- supervision ------------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            self.state = "connecting"
            connects = self.connects
            started = time.monotonic()
            try:
                await self._run_once()
                raise ConnectionError("connection ended")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.errors += 1
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("connector %s disconnected: %s", self.name, self.last_error)
            if self.connects > connects and time.monotonic() - started > self.config.backoff_initial_s:
                attempt = 0  # it had been working: start the backoff from the beginning
            self.state = "backoff"
            cfg = self.config
            delay = backoff_delay(attempt, cfg.backoff_initial_s, cfg.backoff_max_s, cfg.backoff_jitter, self._rng)
            await asyncio.sleep(delay)
            attempt += 1
