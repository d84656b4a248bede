"""``smart365 sim register``: the simulator's plant in the configured registry, pointed where it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from smart365.bootstrap import records
from smart365.cli.main import app
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmRule
from smart365.registry.models import Company, Equipment


def test_register_writes_the_plant_once_and_repoints_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART365_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(app, ["sim", "register", "--opcua-port", "14840", "--modbus-port", "15020"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["sim", "register", "--host", "10.0.0.7", "--mqtt-url", "mqtt://broker:1884"])
    assert again.exit_code == 0, again.output
    db = records(Settings(data_dir=tmp_path))
    with db.session(SYSTEM) as session:
        assert session.scalar(select(func.count()).select_from(Company)) == 1  # idempotent
        endpoints = dict(session.execute(select(Equipment.name, Equipment.endpoint)).all())
        assert session.scalar(select(func.count()).select_from(AlarmRule)) > 0
    assert endpoints["MCT-01"] == "opc.tcp://10.0.0.7:4840/smart365/"
    assert endpoints["PRS-02"] == "modbus://10.0.0.7:5020/2"
    assert endpoints["IMM-01"] == "mqtt://broker:1884/smart365"
    db.dispose()
