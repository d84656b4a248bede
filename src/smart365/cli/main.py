"""The ``smart365`` command: serve, demo, db, user, companies (and each feature's sub-commands)."""

from __future__ import annotations

import asyncio
import getpass
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from smart365.analytics import cli as analytics_cli
from smart365.assessment import cli as assessment_cli
from smart365.bootstrap import Shape, System, bootstrap, records
from smart365.centre import cli as centre_cli
from smart365.collab import cli as collab_cli
from smart365.core.accounts import create_user
from smart365.core.db import Database
from smart365.core.errors import AppError
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM, Role
from smart365.fleet import cli as fleet_cli
from smart365.programmes import cli as programmes_cli
from smart365.registry import service as registry
from smart365.registry.importer import export_companies, import_companies
from smart365.sim.factory import cli as sim_cli

app = typer.Typer(help="Smart365 스마트공장 고도화 플랫폼 / smart-factory advancement platform", no_args_is_help=True)
db_app = typer.Typer(help="기록 데이터베이스 / records database", no_args_is_help=True)
user_app = typer.Typer(help="사용자 / users", no_args_is_help=True)
companies_app = typer.Typer(help="기업 등록부 / company registry", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(companies_app, name="companies")
app.add_typer(assessment_cli.app, name="assess")
app.add_typer(sim_cli.app, name="sim")
app.add_typer(centre_cli.app, name="centre")
app.add_typer(analytics_cli.app, name="testbed")
app.add_typer(fleet_cli.app, name="fleet")
app.add_typer(programmes_cli.app, name="programmes")
app.add_typer(collab_cli.app, name="collab")
console = Console()

Host = Annotated[str | None, typer.Option(help="주소 / address to listen on")]
Port = Annotated[int | None, typer.Option(help="포트 / port")]


def _database(settings: Settings) -> Database:
    """The records database, created and migrated when needed."""
    return records(settings)


def _fail(exc: AppError) -> None:
    console.print(f"[red]오류 / error:[/] {exc.localized()} ({exc.english()})")
    raise typer.Exit(code=1)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app's open event streams to end as soon as it is asked to stop."""

    def __init__(self, config: uvicorn.Config, closing: threading.Event) -> None:
        super().__init__(config)
        self.closing = closing

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.closing.set()
        super().handle_exit(sig, frame)


def _run_web(system: System, host: str, port: int) -> None:
    """Serve the system's web app until Ctrl-C; live event streams end at once, then the system stops."""
    from smart365.web.app import create_app

    config = uvicorn.Config(create_app(system), host=host, port=port, timeout_graceful_shutdown=5)
    _Server(config, system.closing).run()


def _bootstrap(settings: Settings, shape: Shape = "serve", db: Database | None = None) -> System:
    try:
        system = bootstrap(settings, db=db, shape=shape)
    except AppError as exc:
        _fail(exc)
        raise
    system.freeze_heap = True  # a long-running process: see System.start
    return system


Collect = Annotated[
    bool | None,
    typer.Option(
        help="등록된 설비 수집 (기본: 내장 저장소일 때) / run the registry's connectors (default: when embedded)"
    ),
]


@app.command()
def serve(host: Host = None, port: Port = None, collect: Collect = None) -> None:
    """웹 서버 실행 (내장 구성에서는 등록된 설비 수집도) / Run the web server; on the embedded default it also
    collects the machines the registry describes (migrates the database first)."""
    settings = Settings()
    if collect is not None:
        settings.collect = collect
    system = _bootstrap(settings)
    where = "이 프로세스 / this process" if system.collection else "worker 프로세스 / the worker processes"
    console.print(f"수집 / collection: {where}")
    _run_web(system, host or settings.host, port or settings.port)


Role_ = Annotated[
    str,
    typer.Option(
        "--role",
        help="plant: 설비 수집 (서버 구성) / collect the registry's machines (server shape); "
        "centre: 공장들이 보낸 데이터를 허브에서 받아 저장 / store what plants forward through the hub",
    ),
]


@app.command()
def worker(
    metrics_port: Annotated[int | None, typer.Option(help="/metrics 포트 / port for Prometheus metrics")] = None,
    role: Role_ = "plant",
) -> None:
    """워커: 웹 없이 수집·저장·점수 계산, 또는 센터에서 공장 데이터 저장 / A worker without the web app: collection,
    ingest and scoring (server shape; several share the connectors by leases), or with ``--role centre`` storing
    what plants forward through the hub's NATS JetStream (several share the stream)."""
    if role not in ("plant", "centre"):
        raise typer.BadParameter("plant 또는 centre / plant or centre", param_hint="--role")
    system = _bootstrap(Settings(), shape="worker" if role == "plant" else "centre")
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    if system.collection is not None:
        console.print(f"수집 워커 / collection worker: {system.collection.leases.holder}")
    else:
        console.print("센터 워커 / centre worker: 허브에서 받아 저장 / storing what plants forward")
    asyncio.run(_work(system))


async def _work(system: System) -> None:
    """Run the system until SIGINT or SIGTERM, then stop it cleanly (queued points stored, leases given back)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await system.start()
    try:
        await stopping.wait()
    finally:
        await system.stop()


@app.command()
def demo(
    host: Host = None,
    port: Port = None,
    firms: Annotated[int, typer.Option(help="합성 기업 수 / synthetic firms to seed")] = 320,
    live: Annotated[bool, typer.Option(help="시뮬레이션 공장 실시간 수집 / run the simulated plant live")] = True,
) -> None:
    """데모 실행: serve + 시뮬레이션 공장 + 합성 데이터 / Run the demo: `serve` plus the simulated plant and
    seeded data (synthetic firms, the showcase firm's history)."""
    from smart365.sim.demo import DEMO_LOGINS, DEMO_PASSWORD, seed_demo
    from smart365.sim.demo_testbed import DemoTestbed
    from smart365.sim.live import LivePlant

    settings = Settings()
    db = _database(settings)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("합성 기업 생성 / seeding firms", total=firms)
        seeded = seed_demo(db, firms, progress=lambda done, _total: bar.update(task, completed=done))
    console.print(
        "기존 데이터를 사용합니다 / reusing existing data" if not seeded else f"{firms + 1} 기업 생성 / firms seeded"
    )
    url = f"http://{host or settings.host}:{port or settings.port}"
    table = Table(title=f"Smart365 데모 / demo — {url}")
    for column in ("역할 / role", "이메일 / email", "비밀번호 / password"):
        table.add_column(column)
    for login in DEMO_LOGINS:
        table.add_row(login.role.value, login.email, DEMO_PASSWORD)
    console.print(table)
    console.print(f"데이터 폴더 / data directory: {settings.data_dir.absolute()}")
    system = _bootstrap(settings, db=db)
    if live:  # the simulated plant: history, then its servers, collected like any factory (sim/live.py)
        system.plugins.append(LivePlant())
        console.print("시뮬레이션 공장 실시간 연결 / simulated plant live: /monitoring")
    system.plugins.append(DemoTestbed())  # after the backfill: one AI test-bed run on the showcase firm's history
    _run_web(system, host or settings.host, port or settings.port)  # Ctrl-C ends live streams too


@db_app.command("upgrade")
def db_upgrade() -> None:
    """스키마 최신화 / Migrate the records database to the latest schema."""
    settings = Settings()
    _database(settings).dispose()
    console.print(f"최신 스키마 / up to date: {settings.records_url}")


@user_app.command("add")
def user_add(
    email: str,
    name: Annotated[str, typer.Option(help="이름 / display name")],
    role: Annotated[Role, typer.Option(help="역할 / role")],
    company_id: Annotated[int | None, typer.Option(help="소속 기업 (기업 회원) / firm of a company member")] = None,
    password: Annotated[
        str | None, typer.Option(help="비밀번호 (생략 시 입력) / password (prompted if omitted)")
    ] = None,
) -> None:
    """사용자 추가 / Add a user."""
    secret = password or getpass.getpass("비밀번호 / password: ")
    try:
        with _database(Settings()).session(SYSTEM) as session:
            user = create_user(session, email, name, secret, role, company_id)
            console.print(f"추가됨 / added: {user.email} ({role.value}) #{user.id}")
    except AppError as exc:
        _fail(exc)


@companies_app.command("import")
def companies_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV 또는 Excel / CSV or Excel")],
    commit: Annotated[bool, typer.Option(help="올바른 행을 가져오기 / import the good rows")] = False,
) -> None:
    """기업 가져오기: 검사 후 --commit 시 올바른 행만 반영 / Import firms: check, then --commit imports good rows."""
    try:
        with _database(Settings()).session(SYSTEM) as session:
            report = import_companies(session, file.read_bytes(), file.name, commit=commit)
    except AppError as exc:
        _fail(exc)
        return
    if report.errors:
        table = Table(title="오류 / errors")
        for column in ("행 / row", "열 / column", "사유 / reason"):
            table.add_column(column, overflow="fold")  # a reason cut short helps nobody fix the file
        for err in report.errors:
            table.add_row(str(err.row), err.column, err.reason)
        console.print(table)
    console.print(f"{report.rows}행 중 {report.valid}행 정상 / {report.valid} of {report.rows} rows valid")
    if commit:
        console.print(
            f"추가 {report.created}, 갱신 {report.updated} / created {report.created}, updated {report.updated}"
        )
    elif report.valid:
        console.print("변경 없음. 반영하려면 --commit / nothing changed; add --commit to import the good rows")
    raise typer.Exit(code=1 if report.errors and not commit else 0)


@companies_app.command("export")
def companies_export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="저장할 .xlsx / .xlsx to write")],
    region: Annotated[str | None, typer.Option(help="지역 코드 / region code")] = None,
    sobujang: Annotated[bool | None, typer.Option(help="소부장만 / only 소부장 firms")] = None,
) -> None:
    """기업 내보내기 (Excel) / Export firms to Excel."""
    with _database(Settings()).session(SYSTEM) as session:
        data = export_companies(session, registry.CompanyFilter(region=region, sobujang=sobujang))
    file.write_bytes(data)
    console.print(f"저장됨 / written: {file}")
