"""``smart365 collab``: the usage log's own check.

``verify`` walks every firm's chain (or one firm's, ``--firm``), a batch at a time, and reports the first record
that no longer fits: changed (``hash``), out of its place (``link``) or with records missing before it
(``gap``). It exits 1 when it finds one, so cron or CI can act on it.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from smart365.collab.ledger import verify
from smart365.core.db import Database
from smart365.core.settings import Settings

app = typer.Typer(name="collab", help="데이터 협력 / data collaboration", no_args_is_help=True, add_completion=False)
console = Console(highlight=False)


@app.callback()
def collab() -> None:
    """데이터 협력 / data collaboration: offers, agreements, the usage log."""


@app.command("verify")
def verify_command(
    firm: Annotated[int | None, typer.Option(help="한 기업의 체인만 / only this firm's chain (company id)")] = None,
    database_url: Annotated[str | None, typer.Option(help="기록 DB / records database URL")] = None,
) -> None:
    """이용 기록의 해시 체인 검증 / verify the usage log's hash chains."""
    db = Database(database_url or Settings().records_url)
    started = time.perf_counter()
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("검증 / verifying", total=None)
            found = verify(db, firm, progress=lambda n: progress.update(task, completed=n))
    finally:
        db.dispose()
    took = time.perf_counter() - started
    if found.ok:
        console.print(f"[green]이상 없음 / intact:[/] {found.records:,} records, {found.chains} chains, {took:.2f} s")
        return
    bad = found.first_bad
    assert bad is not None
    console.print(
        f"[red]변조 발견 / tampered:[/] firm {bad.company_id} seq {bad.seq} (row {bad.id}): {bad.reason} "
        f"— {found.records:,} records before it verified"
    )
    raise typer.Exit(code=1)
