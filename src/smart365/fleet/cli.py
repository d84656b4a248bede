"""``smart365 fleet``: the NATS configurations of the scaled-out shape, and firms' credentials on the hub.

``credential`` gives a firm (or rotates) the password its plant's leaf node logs in with, kept in the hub's
user file; ``hub-config`` writes the hub's nats-server configuration from that file (reload the hub after
each change: ``nats-server --signal reload``); ``leaf-config`` writes a plant's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from smart365.fleet.nats_config import hub_config, leaf_config, new_password
from smart365.fleet.wire import plant_token

app = typer.Typer(name="fleet", help="공장 연결망 / the fleet of plants", no_args_is_help=True, add_completion=False)
console = Console(highlight=False)

Users = Annotated[Path, typer.Option(help="허브 사용자 파일 / the hub's user file (JSON)")]


def _users(path: Path) -> dict[str, dict[str, str]]:
    if path.exists():
        data: dict[str, dict[str, str]] = json.loads(path.read_text())
        return data
    return {"centre": {"password": new_password()}, "firms": {}}


def _save(path: Path, users: dict[str, dict[str, str]]) -> None:
    path.write_text(json.dumps(users, indent=2))
    path.chmod(0o600)


@app.command("credential")
def credential(
    brn: Annotated[str, typer.Argument(help="사업자등록번호 / business registration number")],
    users: Users = Path("fleet-users.json"),
) -> None:
    """기업의 허브 접속 비밀번호 발급(재발급) / Issue or rotate a firm's password for its leaf node."""
    if not (brn.isdigit() and len(brn) == 10):
        raise typer.BadParameter("사업자등록번호는 숫자 10자리입니다 / a business registration number is 10 digits")
    data = _users(users)
    data["firms"][brn] = new_password()
    _save(users, data)
    console.print(f"{brn}: {data['firms'][brn]}")
    console.print("허브 설정을 다시 쓰고 다시 읽히세요 / rewrite the hub's configuration and reload it")


@app.command("hub-config")
def hub(
    out: Annotated[Path, typer.Option(help="쓸 설정 파일 / configuration file to write")],
    store_dir: Annotated[Path, typer.Option(help="JetStream 저장 위치 / JetStream storage")],
    users: Users = Path("fleet-users.json"),
    port: Annotated[int, typer.Option(help="클라이언트 포트 / client port")] = 4222,
    leaf_port: Annotated[int, typer.Option(help="리프 노드 포트 / leaf-node port")] = 7422,
    leaf_advertise: Annotated[
        str | None,
        typer.Option(help="공장이 닿는 리프 노드 주소 / the leaf-node address plants reach, host:port"),
    ] = None,
) -> None:
    """허브(센터) NATS 설정 / The hub's nats-server configuration."""
    data = _users(users)
    _save(users, data)
    conf = hub_config(port, leaf_port, store_dir, data["firms"], centre_password=data["centre"]["password"],
                      leaf_advertise=leaf_advertise)  # fmt: skip
    out.write_text(conf)
    out.chmod(0o600)
    console.print(f"{out}: {len(data['firms'])} 기업 / firms; nats-server -c {out}")


@app.command("leaf-config")
def leaf(
    out: Annotated[Path, typer.Option(help="쓸 설정 파일 / configuration file to write")],
    hub_url: Annotated[str, typer.Option(help="허브의 리프 노드 주소 / the hub's leaf-node URL, nats://hub:7422")],
    brn: Annotated[str, typer.Option(help="사업자등록번호 / business registration number")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="허브 비밀번호 / the firm's password")],
    store_dir: Annotated[Path, typer.Option(help="JetStream 저장 위치 / JetStream storage")],
    plant: Annotated[str, typer.Option(help="공장 ID / plant id (SMART365_INSTALLATION_ID)")],
    port: Annotated[int, typer.Option(help="클라이언트 포트 / client port")] = 4222,
) -> None:
    """공장(리프 노드) NATS 설정 / A plant's nats-server configuration (a leaf node of the hub)."""
    out.write_text(leaf_config(port, hub_url, brn, password, store_dir, plant=plant_token(plant)))
    out.chmod(0o600)
    console.print(f"{out}: nats-server -c {out}; SMART365_FLEET_LEAF_URL=nats://127.0.0.1:{port}")
