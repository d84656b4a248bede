"""Helpers for the connector tests: a recorder for what connectors hand out, waiting, and the broker check."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

from smart365.telemetry.batch import Batch
from smart365.telemetry.connectors import ConnectorEvent, DeadLetter

MOSQUITTO = ("127.0.0.1", 1883)


@dataclass
class Recorder:
    """Collects batches, dead letters and events; pass its bound methods as a connector's callbacks."""

    batches: list[Batch] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    events: list[ConnectorEvent] = field(default_factory=list)

    async def emit(self, batch: Batch) -> None:
        self.batches.append(batch)

    async def on_dead_letter(self, letter: DeadLetter) -> None:
        self.dead.append(letter)

    async def on_event(self, event: ConnectorEvent) -> None:
        self.events.append(event)

    def callbacks(self) -> dict[str, Callable[..., Awaitable[None]]]:
        return {"on_dead_letter": self.on_dead_letter, "on_event": self.on_event}

    def values(self, tag_id: int) -> list[float]:
        """Every value received for ``tag_id``, in arrival order."""
        return [float(v) for b in self.batches for v in b.value[b.tag_id == tag_id]]

    def points(self) -> int:
        return sum(len(b) for b in self.batches)

    def latest(self) -> dict[int, float]:
        """The last value of each tag."""
        out: dict[int, float] = {}
        for b in self.batches:
            for tag, value in zip(b.tag_id.tolist(), b.value.tolist(), strict=True):
                out[tag] = value
        return out

    def events_of(self, kind: str) -> list[ConnectorEvent]:
        return [e for e in self.events if e.kind == kind]


async def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def run(scenario: Awaitable[None], timeout: float = 40.0) -> None:
    """Run an async test scenario with an overall safety timeout."""

    async def guarded() -> None:
        await asyncio.wait_for(scenario, timeout)

    asyncio.run(guarded())


def require_mosquitto() -> tuple[str, int]:
    """The local Mosquitto's address; fail under ``CI=true`` and skip elsewhere when it is unreachable."""
    try:
        with socket.create_connection(MOSQUITTO, timeout=2):
            return MOSQUITTO
    except OSError as error:
        reason = f"Mosquitto at {MOSQUITTO[0]}:{MOSQUITTO[1]} is unreachable ({error})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)


async def forget_session(port: int, client_id: str) -> None:
    """Drop the broker's persistent session of ``client_id`` (a clean-session connect), so tests leave none."""
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=True):
        pass


def mosquitto_binary() -> str:
    """The Mosquitto broker program; fail under ``CI=true`` and skip elsewhere when it is not installed."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    reason = "the mosquitto program is not installed (Debian package 'mosquitto')"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class OwnMosquitto:
    """A Mosquitto of the test's own on a free port, with on-disk persistence, that the test can restart.

    The shared broker on 1883 cannot be restarted by a test; this one is the same program, so a restart
    exercises what production sees: TCP resets, a persistent session restored from the broker's disk.
    """

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {workdir}/\nlog_dest stderr\n"
            # Started as root, Mosquitto would switch to its own user and could not write into the test's folder.
            f"user {getpass.getuser()}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file and exits, as on a service restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
