"""Settings defaults and the command line, run as a user would (against real databases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from smart365.cli.main import app
from smart365.core.settings import Settings

runner = CliRunner()


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMART365_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SMART365_DATABASE_URL", raising=False)
    return tmp_path


def test_embedded_defaults_live_in_the_data_directory(data_env: Path) -> None:
    settings = Settings()
    assert settings.records_url == f"sqlite:///{data_env / 'data' / 'records.db'}"
    assert settings.signing_key == Settings().signing_key  # generated once, then reused


def test_db_upgrade_user_add_import_and_export(data_env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    added = runner.invoke(
        app,
        ["user", "add", "boss@centre.kr", "--name", "센터장", "--role", "centre_admin", "--password", "long enough 1"],
    )
    assert added.exit_code == 0, added.output
    bad_role = runner.invoke(
        app, ["user", "add", "x@y.kr", "--name", "x", "--role", "company_member", "--password", "long enough 1"]
    )
    assert bad_role.exit_code == 1 and "company" in bad_role.output

    csv = data_env / "firms.csv"
    csv.write_text(
        "회사명,사업자등록번호,업종코드,지역,종업원수\n가나정밀,101-86-00011,29229,경기,30\n"
        "다라금속,101-86-00012,25911,경남,abc\n",
        encoding="utf-8",
    )
    checked = runner.invoke(app, ["companies", "import", str(csv)])
    assert checked.exit_code == 1 and "종업원수" in checked.output and "3" in checked.output
    imported = runner.invoke(app, ["companies", "import", str(csv), "--commit"])
    assert imported.exit_code == 0 and "created 1" in imported.output

    out = data_env / "firms.xlsx"
    assert runner.invoke(app, ["companies", "export", str(out)]).exit_code == 0
    rows = list(load_workbook(out).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[1][:4] == ("가나정밀", "1018600011", "29229", "gyeonggi")
