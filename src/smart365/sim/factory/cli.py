"""``smart365 sim``: run the factory simulator from the command line (공장 시뮬레이터).

Mount it in the main command line with ``app.add_typer(sim_cli.app, name="sim")``, then::

    smart365 sim run --speed 60 --labels labels.csv
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from smart365.core.i18n import N_, _, bilingual
from smart365.sim.factory.modbus_server import register_map
from smart365.sim.factory.runner import Endpoints, FactoryConfig, run_factory

app = typer.Typer(name="sim", help="공장 시뮬레이터 / factory simulator", no_args_is_help=True, add_completion=False)
console = Console()


def print_endpoints(endpoints: Endpoints, config: FactoryConfig) -> None:
    """Print where the simulator listens."""
    table = Table(title=_("Factory simulator endpoints"))
    table.add_column(_("Protocol"))
    table.add_column(_("Endpoint"))
    table.add_column(_("Machines"))
    users = ", ".join(config.users)
    table.add_row("OPC UA", endpoints.opcua, f"MCT-01..04 ({_('anonymous or user')}: {users})")
    table.add_row("Modbus TCP", endpoints.modbus, f"PRS-01..02 (device id 1..2, {len(register_map())} {_('entries')})")
    broker = _("embedded broker") if endpoints.embedded_broker else _("external broker")
    table.add_row("MQTT / Sparkplug B", f"{endpoints.mqtt} ({broker})", "IMM-01..03")
    console.print(table)
    if config.labels is not None:
        console.print(f"{_('Fault labels')}: {config.labels}")


@app.command()
def run(
    opcua_port: Annotated[int, typer.Option(help="OPC UA 포트 / OPC UA port")] = 4840,
    modbus_port: Annotated[int, typer.Option(help="Modbus TCP 포트 / Modbus TCP port")] = 5020,
    mqtt_url: Annotated[
        str | None,
        typer.Option(help="MQTT 브로커 (없으면 내장 브로커) / MQTT broker URL (default: embedded broker)"),
    ] = None,
    speed: Annotated[float, typer.Option(help="실제 1초당 시뮬레이션 초 / simulated seconds per real second")] = 1.0,
    seed: Annotated[int, typer.Option(help="난수 시드 / random seed")] = 365,
    labels: Annotated[
        Path | None, typer.Option(help="고장 라벨 파일 (.csv/.parquet) / fault label file (.csv or .parquet)")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="실행 시간(초, 기본 무한) / run time in seconds (default: forever)")
    ] = None,
    faults: Annotated[bool, typer.Option(help="고장 주입 / inject faults")] = True,
) -> None:
    """시뮬레이터 실행 / Run the simulated plant (OPC UA, Modbus TCP, MQTT Sparkplug B)."""
    config = FactoryConfig(
        opcua_port=opcua_port,
        modbus_port=modbus_port,
        mqtt_url=mqtt_url,
        speed=speed,
        seed=seed,
        labels=labels,
        duration=duration,
        faults=faults,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_factory(config, on_start=lambda endpoints: print_endpoints(endpoints, config)))
    console.print(_("Simulator stopped."))


@app.command()
def register(
    host: Annotated[str, typer.Option(help="시뮬레이터 주소 / where the simulator runs")] = "127.0.0.1",
    opcua_port: Annotated[int, typer.Option(help="OPC UA 포트 / OPC UA port")] = 4840,
    modbus_port: Annotated[int, typer.Option(help="Modbus TCP 포트 / Modbus TCP port")] = 5020,
    mqtt_url: Annotated[
        str | None, typer.Option(help="MQTT 브로커 (기본: 시뮬레이터 주소의 1883) / MQTT broker URL")
    ] = None,
    history: Annotated[
        float,
        typer.Option(
            help="저장할 과거 이력(시간)과 이상탐지 모델 학습; 내장 저장소는 serve를 멈춘 뒤 / hours of simulated "
            "history to store and train the anomaly models on (embedded store: with serve stopped)"
        ),
    ] = 0.0,
) -> None:
    """시뮬레이터 공장을 등록부에 등록 / Register the simulated plant (the showcase firm's machines, tags,
    alarm rules and OEE settings) in the configured database, pointed at a running `smart365 sim run`."""
    from smart365.bootstrap import bootstrap, records
    from smart365.core.settings import Settings
    from smart365.core.tenancy import SYSTEM
    from smart365.sim.demo import register_showcase
    from smart365.sim.live import DirectFeed, catch_up, showcase_tags

    settings = Settings()
    endpoints = Endpoints(
        f"opc.tcp://{host}:{opcua_port}/smart365/", f"modbus://{host}:{modbus_port}", mqtt_url or f"mqtt://{host}:1883",
        embedded_broker=False,
    )  # fmt: skip
    db = records(settings)
    with db.session(SYSTEM) as session:
        company = register_showcase(session, endpoints)
        name, brn = company.name, company.brn
    console.print(
        bilingual(N_("Registered {name} ({brn}), its machines read from the simulator at:"), name=name, brn=brn)
    )
    console.print(f"  OPC UA {endpoints.opcua}   Modbus TCP {endpoints.modbus}   MQTT {endpoints.mqtt}")
    if history > 0:
        system = bootstrap(settings, db=db)
        try:
            with db.session(SYSTEM) as session:
                _, tags = showcase_tags(session)
            _, stored = catch_up(DirectFeed(db, system.store, tags, system.alarms), history)
        finally:
            system.store.close()
        console.print(
            bilingual(N_("{hours} h of history stored: {points} points."), hours=history, points=f"{stored:,}")
        )


@app.command()
def registers() -> None:
    """Modbus 레지스터 맵 출력 / Print the presses' Modbus register map."""
    table = Table(title=_("Press Modbus register map (per device id)"))
    columns = ("table", "address", "count", "tag", "dtype", "scale", "unit", "word_order")
    for column in columns:
        table.add_column(column)
    for entry in register_map():
        table.add_row(*(str(entry[c]) for c in columns))
    console.print(table)


@app.command("fleet")
def fleet(
    factories: Annotated[int, typer.Option(help="모의 공장(기업) 수 / simulated plants (one firm each)")] = 20,
    tags: Annotated[int, typer.Option(help="공장당 태그 수 / tags a plant")] = 100,
    minutes: Annotated[int, typer.Option(help="보낼 1분 롤업 (분) / minutes of 1-minute rollups to send")] = 1,
    hub_url: Annotated[
        str | None,
        typer.Option(
            help="허브 주소 (없으면 임시 허브와 센터 DB) / the hub, nats://host:4222 (default: a private hub "
            "and centre database)"
        ),
    ] = None,
    users: Annotated[
        Path, typer.Option(help="--hub-url 일 때 기업 비밀번호 파일 / the hub's user file, with --hub-url")
    ] = Path("fleet-users.json"),
    register: Annotated[
        bool,
        typer.Option(
            help="모의 기업들을 사용자 파일에 등록하고 끝냄 / add the simulated firms to the user file and stop "
            "(then fleet hub-config and reload the hub)"
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="임시 센터의 워커 수 / centre workers (private hub only)")] = 1,
    in_flight: Annotated[int, typer.Option(help="공장당 미확인 발행 수 / unacknowledged publishes a plant")] = 8,
    seed: Annotated[int, typer.Option(help="난수 시드 / random seed")] = 365,
    pg: Annotated[
        str, typer.Option(help="임시 센터 DB를 만들 PostgreSQL / PostgreSQL for the private centre database")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
) -> None:
    """공장 연결망 모의 실행 / Simulate many plants forwarding 1-minute rollups to the centre's hub, each as its
    own firm with its own buffer (nothing lost while the hub is away)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from smart365.sim import fleet as sim_fleet

    loads = sim_fleet.fleet_loads(factories, tags, minutes, seed=seed)
    if register:
        added = sim_fleet.register_firms(users, loads)
        console.print(f"{users}: {added} 기업 추가 / firms added; smart365 fleet hub-config --users {users} …")
        return
    total = sum(load.rows for load in loads)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("행 / rows", total=total)

        def advance(rows: int) -> None:
            progress.update(task, completed=rows)

        if hub_url is None:
            with sim_fleet.centre_database(pg) as url:
                report = asyncio.run(sim_fleet.simulate_private(loads, url, workers=workers, in_flight=in_flight,
                                                                on_progress=advance))  # fmt: skip
            sent = report.sent
        else:
            passwords = sim_fleet.users_file_passwords(users)
            runner = sim_fleet.Fleet(hub_url, passwords, loads, in_flight=in_flight)

            async def publish() -> sim_fleet.FleetStats:
                try:
                    await runner.connect()
                    return await runner.run(advance)
                finally:
                    await runner.close()

            sent = asyncio.run(publish())
    table = Table(title="모의 공장 연결망 / simulated fleet")
    table.add_column("항목 / measure")
    table.add_column("값 / value", justify="right")
    table.add_row("plants / 공장", f"{sent.plants:,}")
    table.add_row("rows acknowledged by the hub / 허브 확인 행", f"{sent.rows:,}")
    table.add_row("messages / 메시지", f"{sent.messages:,} ({sent.rows_per_message:,.0f} rows each)")
    table.add_row("JSON bytes per row / 행당 바이트", f"{sent.bytes_per_row:.1f}")
    table.add_row("hub duplicates, retries / 중복, 재시도", f"{sent.duplicates:,}, {sent.retries:,}")
    if hub_url is None:
        table.add_row("rows at the centre / 센터 저장 행", f"{report.stored_rows:,} (lost {report.lost:,})")
        table.add_row("exactly once / 정확히 한 번", "yes" if report.exact else "NO")
        table.add_row("rows/s, first publish to last commit", f"{report.rows_per_s:,.0f}")
        table.add_row("redelivered / 재전달", f"{report.redelivered:,}")
    console.print(table)
    if hub_url is None and not report.exact:
        raise typer.Exit(code=1)
