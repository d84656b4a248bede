"""Negotiation, transfers and the usage log on both databases, through the service the pages and API use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from smart365.collab import ledger, service
from smart365.collab.service import IllegalTransition, PullRefused, State, Who
from smart365.core.audit import Actor
from smart365.core.db import SEOUL, Database
from smart365.core.errors import Forbidden, Invalid, NotFound
from smart365.core.tenancy import Principal, Role
from smart365.telemetry.batch import Batch
from smart365.telemetry.store import DuckDBStore
from tests.conftest import World

START = datetime(2026, 1, 1, tzinfo=UTC)


def _who(
    world: World, key: str, role: Role, company_id: int | None = None, assigned: frozenset[int] = frozenset()
) -> Who:
    from sqlalchemy import select

    from smart365.core.accounts import User
    from smart365.core.tenancy import SYSTEM

    with world.db.session(SYSTEM) as s:
        user = s.scalar(select(User).where(User.email == world.emails[key]))
        assert user is not None
        principal = Principal(user_id=user.id, role=role, company_id=company_id, assigned=assigned)
        return Who(principal, Actor(user.id, user.email))


@pytest.fixture
def store(world: World) -> DuckDBStore:
    store = DuckDBStore(":memory:")
    start_us = int(START.timestamp() * 1e6)
    store.append(Batch.from_columns(world.ids_a["tag_id"], [start_us + i * 60_000_000 for i in range(100)],
                                    [float(i) for i in range(100)]))  # fmt: skip
    return store


def _offer(world: World, member: Who, partner: Who, **form: object) -> int:
    fields = {"assignee_kind": "partner", "partner": str(partner.principal.user_id), "purpose": ["quality"]} | form
    return service.publish(
        world.db, member, company_id=world.firm_a, title="가공 데이터", description="MCT 주축 부하",
        tag_ids=[world.ids_a["tag_id"]], data_start=START, data_end=START + timedelta(days=1), form=fields,
    )  # fmt: skip


def _finalized(world: World, member: Who, partner: Who, **form: object) -> int:
    agreement_id = service.request(world.db, partner, _offer(world, member, partner, **form), "quality")
    service.accept(world.db, member, agreement_id)
    service.agree(world.db, partner, agreement_id)
    return agreement_id


@pytest.fixture
def people(world: World) -> dict[str, Who]:
    return {
        "member": _who(world, "member_a", Role.COMPANY_MEMBER, world.firm_a),
        "member_b": _who(world, "member_b", Role.COMPANY_MEMBER, world.firm_b),
        "partner": _who(world, "partner_p", Role.DATA_PARTNER),
        "other": _who(world, "partner", Role.DATA_PARTNER),
        "consultant": _who(world, "consultant_a", Role.CONSULTANT, assigned=frozenset({world.firm_a})),
    }


def test_negotiation_walks_the_dsp_states_and_refuses_illegal_steps(world: World, people: dict[str, Who]) -> None:
    member, partner = people["member"], people["partner"]
    offer_id = _offer(world, member, partner)
    agreement_id = service.request(world.db, partner, offer_id, "quality")
    with pytest.raises(IllegalTransition):
        service.agree(world.db, partner, agreement_id)  # REQUESTED → ACCEPTED is not a step
    with pytest.raises(IllegalTransition):
        service.accept(world.db, partner, agreement_id)  # the consumer cannot offer
    with pytest.raises(Forbidden):
        service.accept(world.db, people["consultant"], agreement_id)  # the centre watches, the firm decides
    service.accept(world.db, member, agreement_id)
    assert service.agreement(world.db, partner, agreement_id).state == State.OFFERED
    with pytest.raises(IllegalTransition):
        service.accept(world.db, member, agreement_id)  # twice
    service.agree(world.db, partner, agreement_id)
    assert service.agreement(world.db, member, agreement_id).state == State.FINALIZED
    states = [line.details.get("state") for line in reversed(service.usage_log(world.db, member, world.firm_a))
              if line.agreement_id == agreement_id]  # fmt: skip
    assert states == ["REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED"]
    with pytest.raises(Invalid):
        service.request(world.db, partner, offer_id, "ai_training")  # not a purpose of the offer


def test_the_step_table_refuses_what_it_does_not_hold() -> None:
    for current, target in [(State.FINALIZED, State.REQUESTED), (State.TERMINATED, State.FINALIZED),
                            (State.OFFERED, State.FINALIZED), (None, State.AGREED)]:  # fmt: skip
        with pytest.raises(IllegalTransition):
            service.step(current, target, service.Side.PROVIDER)


def test_pull_needs_a_finalized_agreement_and_stops_at_revocation(
    world: World, people: dict[str, Who], store: DuckDBStore
) -> None:
    member, partner = people["member"], people["partner"]
    agreement_id = service.request(world.db, partner, _offer(world, member, partner), "quality")
    with pytest.raises(PullRefused, match="finalized"):
        service.pull(world.db, store, partner, agreement_id)
    service.accept(world.db, member, agreement_id)
    service.agree(world.db, partner, agreement_id)
    granted = service.pull(world.db, store, partner, agreement_id)
    body = b"".join(granted.chunks).decode("utf-8-sig")
    assert body.count("\n") == 101 and "SENTINEL" not in body.splitlines()[0]
    view = service.agreement(world.db, member, agreement_id)
    assert view.uses == 1
    with pytest.raises(Forbidden):
        service.pull(world.db, store, member, agreement_id)  # the provider does not pull
    with pytest.raises(NotFound):
        service.pull(world.db, store, people["other"], agreement_id)  # another partner does not even see it
    with pytest.raises(NotFound):
        service.pull(world.db, store, people["member_b"], agreement_id)
    service.terminate(world.db, member, agreement_id, "계약 조건 위반")
    with pytest.raises(PullRefused, match="계약 조건 위반"):
        service.pull(world.db, store, partner, agreement_id)
    kinds = [line.kind for line in service.usage_log(world.db, member, world.firm_a)]
    assert kinds[:3] == ["transfer.refused", "agreement.revoked", "agreement.state"]
    assert "transfer.done" in kinds and "transfer.pull" in kinds
    assert ledger.verify(world.db, world.firm_a).ok


def test_pull_refused_past_the_window_and_the_count(world: World, people: dict[str, Who], store: DuckDBStore) -> None:
    member, partner = people["member"], people["partner"]
    end = datetime.now(UTC) + timedelta(days=1)
    agreement_id = _finalized(
        world, member, partner, max_uses="2", end=end.astimezone(SEOUL).strftime("%Y-%m-%dT%H:%M:%S")
    )
    for _ in range(2):
        b"".join(service.pull(world.db, store, partner, agreement_id).chunks)
    with pytest.raises(PullRefused, match="2"):
        service.pull(world.db, store, partner, agreement_id)
    other = _finalized(world, member, partner, end=end.astimezone(SEOUL).strftime("%Y-%m-%dT%H:%M:%S"))
    with pytest.raises(PullRefused, match="closed"):
        service.pull(world.db, store, partner, other, now=end + timedelta(seconds=2))


def test_tenancy_of_offers_and_agreements(world: World, people: dict[str, Who]) -> None:
    member, partner = people["member"], people["partner"]
    offer_id = _offer(world, member, partner)
    assert offer_id in [o.id for o in service.catalogue(world.db, partner)]
    for outsider in ("other", "member_b"):
        assert offer_id not in [o.id for o in service.catalogue(world.db, people[outsider])]
        with pytest.raises(NotFound):
            service.offer(world.db, people[outsider], offer_id)
        with pytest.raises(NotFound):
            service.request(world.db, people[outsider], offer_id, "quality")
    with pytest.raises(NotFound):
        service.usage_log(world.db, people["member_b"], world.firm_a)
    with pytest.raises(NotFound):
        service.usage_log(world.db, partner, world.firm_a)  # a partner never reads a firm's log
    with pytest.raises(Forbidden):
        service.publish(world.db, people["member_b"], company_id=world.firm_a, title="x", description="",
                        tag_ids=[world.ids_a["tag_id"]], data_start=START, data_end=START + timedelta(days=1),
                        form={"assignee_kind": "centre", "purpose": ["quality"]})  # fmt: skip
    with db_tags_of_b(world) as tag_b, pytest.raises(Invalid, match="not the firm's"):
        service.publish(world.db, member, company_id=world.firm_a, title="x", description="", tag_ids=[tag_b],
                        data_start=START, data_end=START + timedelta(days=1),
                        form={"assignee_kind": "centre", "purpose": ["quality"]})  # fmt: skip


class db_tags_of_b:  # noqa: N801 - a tiny context manager
    def __init__(self, world: World) -> None:
        self.world = world

    def __enter__(self) -> int:
        from sqlalchemy import select

        from smart365.core.tenancy import SYSTEM
        from smart365.registry.models import Tag

        with self.world.db.session(SYSTEM) as s:
            return int(s.scalar(select(Tag.id).where(Tag.company_id == self.world.firm_b)) or 0)

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize("column", ["details", "actor", "at_us", "kind"])
def test_verify_finds_the_first_tampered_record(world: World, people: dict[str, Who], column: str) -> None:
    _finalized(world, people["member"], people["partner"])
    assert ledger.verify(world.db).ok
    value = {"details": "'{}'", "actor": "'nobody'", "at_us": "at_us + 1", "kind": "'offer.withdrawn'"}[column]
    with world.db.engine.begin() as c:
        ledger.lift_guard(c)
        fourth = "SELECT id, seq FROM collab_usage_log WHERE company_id = :c ORDER BY seq LIMIT 1 OFFSET 3"
        target = c.execute(text(fourth),
                           {"c": world.firm_a}).one()  # fmt: skip
        c.execute(text(f"UPDATE collab_usage_log SET {column} = {value} WHERE id = :i"), {"i": target.id})
    found = ledger.verify(world.db)
    assert not found.ok and found.first_bad is not None
    assert (found.first_bad.id, found.first_bad.reason) == (target.id, "hash")


def test_verify_finds_a_removed_record_and_the_orm_refuses_changes(world: World, people: dict[str, Who]) -> None:
    from sqlalchemy import select

    from smart365.collab.models import UsageRecord
    from smart365.core.tenancy import SYSTEM

    _finalized(world, people["member"], people["partner"])
    with pytest.raises(ledger.LogTampering), world.db.session(SYSTEM) as s:
        record = s.scalars(select(UsageRecord).limit(1)).one()
        record.actor = "x"
        s.flush()
    with pytest.raises(DBAPIError, match="append-only"), world.db.engine.begin() as c:
        c.execute(text("DELETE FROM collab_usage_log WHERE company_id = :c AND seq = 2"), {"c": world.firm_a})
    with world.db.engine.begin() as c:
        ledger.lift_guard(c)
        c.execute(text("DELETE FROM collab_usage_log WHERE company_id = :c AND seq = 2"), {"c": world.firm_a})
    found = ledger.verify(world.db, world.firm_a)
    assert not found.ok and found.first_bad is not None and (found.first_bad.seq, found.first_bad.reason) == (3, "gap")


def test_verify_command_reports_the_first_tampered_record(
    world: World, people: dict[str, Who], tmp_path: object
) -> None:
    from typer.testing import CliRunner

    from smart365.collab.cli import app

    _finalized(world, people["member"], people["partner"])
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--database-url", world.db.url])
    assert ok.exit_code == 0, ok.output
    with world.db.engine.begin() as c:
        ledger.lift_guard(c)
        c.execute(text("UPDATE collab_usage_log SET details = '{\"reason\":\"x\"}' WHERE company_id = :c AND seq = 4"),
                  {"c": world.firm_a})  # fmt: skip
    bad = runner.invoke(app, ["verify", "--database-url", world.db.url])
    assert bad.exit_code == 1
    assert "seq 4" in bad.output and "hash" in bad.output


def test_the_world_agreement_is_finalized(world: World, db: Database) -> None:
    assert service.agreement(db, service.SYSTEM_WHO, world.ids_a["agreement_id"]).state == State.FINALIZED
