"""The ``smart365`` command: serve, demo, db, user, companies (and each feature's sub-commands)."""

from __future__ import annotations

import getpass
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from smart365.analytics import cli as analytics_cli
from smart365.assessment import cli as assessment_cli
from smart365.centre import cli as centre_cli
from smart365.core import migrate
from smart365.core.accounts import create_user
from smart365.core.db import Database
from smart365.core.errors import AppError
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM, Role
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
console = Console()

Host = Annotated[str | None, typer.Option(help="주소 / address to listen on")]
Port = Annotated[int | None, typer.Option(help="포트 / port")]


def _database(settings: Settings) -> Database:
    """The records database, created and migrated when needed."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.records_url)
    return Database(settings.records_url)


def _fail(exc: AppError) -> None:
    console.print(f"[red]오류 / error:[/] {exc.localized()} ({exc.english()})")
    raise typer.Exit(code=1)


def _warm_up(db: Database, settings: Settings) -> None:
    """Train the ticket classifier in the background while the server starts."""
    from smart365.centre.api import model_dir
    from smart365.centre.triage import warm_up

    threading.Thread(target=warm_up, args=(db, model_dir(settings)), daemon=True, name="warm-up").start()


@app.command()
def serve(host: Host = None, port: Port = None) -> None:
    """웹 서버 실행 / Run the web server (migrates the database first)."""
    from smart365.web.app import create_app

    settings = Settings()
    db = _database(settings)
    _warm_up(db, settings)
    uvicorn.run(create_app(settings, db), host=host or settings.host, port=port or settings.port)


@app.command()
def demo(
    host: Host = None,
    port: Port = None,
    firms: Annotated[int, typer.Option(help="합성 기업 수 / synthetic firms to seed")] = 320,
    live: Annotated[bool, typer.Option(help="시뮬레이션 공장 실시간 수집 / run the simulated plant live")] = True,
) -> None:
    """데모 실행: 내장 DB, 합성 기업군, 시뮬레이션 공장, 웹 UI / Run the demo: embedded data, synthetic firms,
    the simulated plant live, web UI."""
    from smart365.monitoring.runtime import run_server
    from smart365.sim.demo import DEMO_LOGINS, DEMO_PASSWORD, seed_demo
    from smart365.web.app import create_app

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
    _warm_up(db, settings)
    web = create_app(settings, db)
    if live:  # the simulated plant, its connectors and alarms run with the server (sim/live.py)
        from smart365.sim.live import attach_live_plant

        attach_live_plant(web)
        console.print("시뮬레이션 공장 실시간 연결 / simulated plant live: /monitoring")
    from smart365.sim.demo_testbed import attach_demo_testbed

    attach_demo_testbed(web)  # after the backfill: one AI test-bed run on the showcase firm's history
    run_server(web, host=host or settings.host, port=port or settings.port)  # Ctrl-C ends live streams too


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
