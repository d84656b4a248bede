"""Run the whole simulated plant in one asyncio process: physics, OPC UA, Modbus TCP and MQTT.

Every tick (``tick`` real seconds) the plant advances ``speed × tick`` simulated seconds and every server is
updated. Without an MQTT URL an embedded amqtt broker is started (on 1883 when free, else a free port), so
the demo works on a laptop with no server. Faults are drawn per simulated ``fault_horizon_s`` and their
labels rewritten to ``labels`` each time.

>>> free_port() > 0
True
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smart365.core.lazy import lazy
from smart365.sim.factory.modbus_server import PressModbusServer
from smart365.sim.factory.mqtt_publisher import MqttPublisher
from smart365.sim.factory.physics import TAGS, Plant, write_labels

if TYPE_CHECKING:
    from smart365.sim.factory import opcua_server
else:  # the OPC UA server (asyncua) loads when a simulated plant starts, not with every command
    opcua_server = lazy("smart365.sim.factory.opcua_server")


@dataclass
class FactoryConfig:
    """What to start and how fast to run."""

    opcua_port: int = 4840
    modbus_port: int = 5020
    mqtt_url: str | None = None
    host: str = "127.0.0.1"
    speed: float = 1.0
    tick: float = 1.0
    seed: int = 365
    labels: Path | None = None
    start: datetime | None = None  # simulated clock at start (default: now)
    duration: float | None = None
    faults: bool = True
    fault_horizon_s: float = 8 * 3600
    users: dict[str, str] = field(default_factory=lambda: dict(opcua_server.DEFAULT_USERS))
    mqtt_group: str = "smart365"
    mqtt_edge: str = "hanbit-ansan"
    mqtt_site: str = "ansan"


@dataclass(frozen=True)
class Endpoints:
    """Where the running simulator listens."""

    opcua: str
    modbus: str
    mqtt: str
    embedded_broker: bool


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def start_embedded_broker(host: str = "127.0.0.1", port: int | None = None) -> tuple[Any, str]:
    """Start an amqtt broker (1883 when free) allowing anonymous clients; returns it and its URL."""
    from amqtt.broker import Broker

    port = port or (1883 if port_is_free(1883, host) else free_port(host))
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    return broker, f"mqtt://{host}:{port}"


class Factory:
    """The running simulator.

    >>> factory = Factory(FactoryConfig(seed=1)); sorted(factory.plant.machines)[:1]
    ['IMM-01']
    """

    def __init__(self, config: FactoryConfig, plant: Plant | None = None) -> None:
        self.config = config
        self.plant = plant or Plant.showcase(seed=config.seed, start=config.start or datetime.now(UTC))
        machines = self.plant.machines.values()
        self.opcua = opcua_server.PlantOpcUaServer(
            {m.name: (m.line, TAGS[m.kind]) for m in machines if m.kind == "cnc"},
            port=config.opcua_port,
            host=config.host,
            users=config.users,
        )
        self.modbus = PressModbusServer(
            [m.name for m in machines if m.kind == "press"], host=config.host, port=config.modbus_port
        )
        self.mqtt: MqttPublisher | None = None
        self.broker: Any = None
        self._next_faults = 0.0

    async def start(self) -> Endpoints:
        """Start the broker (when needed) and every server; publish the births."""
        url = self.config.mqtt_url
        if url is None:
            self.broker, url = await start_embedded_broker(self.config.host)
        self._schedule_faults()
        readings = self.plant.readings()
        await self.opcua.start()
        await self.opcua.update(readings)
        await self.modbus.start()
        self.modbus.update(readings)
        injection = {m.name: m.kind for m in self.plant.machines.values() if m.kind == "injection"}
        cfg = self.config
        self.mqtt = MqttPublisher(url, injection, group=cfg.mqtt_group, edge=cfg.mqtt_edge, site_slug=cfg.mqtt_site)
        await self.mqtt.start(readings)
        return Endpoints(self.opcua.endpoint, f"modbus://{cfg.host}:{cfg.modbus_port}", url, self.broker is not None)

    def _schedule_faults(self) -> None:
        if self.config.faults and self.plant.t >= self._next_faults:
            self.plant.random_faults(self.config.fault_horizon_s)
            self._next_faults = self.plant.t + self.config.fault_horizon_s
        if self.config.labels is not None:
            write_labels(self.plant.labels, self.config.labels)

    async def tick(self) -> None:
        """Advance the plant one tick and update every server."""
        readings = self.plant.advance(self.config.speed * self.config.tick)
        if self.config.faults and self.plant.t >= self._next_faults:
            self._schedule_faults()
        await self.opcua.update(readings)
        self.modbus.update(readings)
        if self.mqtt is not None:
            await self.mqtt.update(readings)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Tick until ``stop`` is set or ``duration`` real seconds have passed."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop = stop or asyncio.Event()
        while not stop.is_set():
            if self.config.duration is not None and loop.time() - started >= self.config.duration:
                break
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.tick)

    async def stop(self) -> None:
        """Stop everything, each step even when an earlier one failed."""
        steps: list[Callable[[], Awaitable[Any]]] = [self.opcua.stop, self.modbus.stop]
        if self.mqtt is not None:
            steps.insert(0, self.mqtt.stop)
        if self.broker is not None:
            steps.append(self.broker.shutdown)
        for step in steps:
            with contextlib.suppress(Exception):
                await step()
        if self.config.labels is not None:
            write_labels(self.plant.labels, self.config.labels)


async def run_factory(
    config: FactoryConfig,
    on_start: Callable[[Endpoints], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Plant:
    """Start, run until ``stop``/``duration``/cancellation, shut down cleanly; returns the plant."""
    factory = Factory(config)
    try:
        endpoints = await factory.start()
        if on_start is not None:
            on_start(endpoints)
        await factory.run(stop)
    finally:
        await factory.stop()
    return factory.plant
