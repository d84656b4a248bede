"""The model registry on SQLite and PostgreSQL: versions, deploy retires the predecessor, rollback, who may
deploy, and a fitted state that predicts the same after a trip through the table."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from smart365.analytics import registry
from smart365.analytics.anomaly import PcaDetector
from smart365.analytics.models import AnalyticsModel
from smart365.core.accounts import User, principal_for
from smart365.core.errors import Forbidden, Invalid, NotFound
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Tag
from tests.conftest import World

T0, T1 = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)


def _history(tag_ids: list[int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    load = rng.normal(50, 2, 400)
    return pd.DataFrame({str(tag_ids[0]): load, str(tag_ids[1]): 30 + 0.25 * load + rng.normal(0, 0.3, 400)})


def _tags(world: World) -> list[int]:
    with world.db.session(SYSTEM) as session:
        extra = Tag(company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="spindle_temp")
        session.add(extra)
        session.flush()
        return [world.ids_a["tag_id"], extra.id]


def _register(session: object, world: World, tag_ids: list[int], seed: int = 0) -> AnalyticsModel:
    detector = PcaDetector().fit(_history(tag_ids, seed))
    return registry.register(
        session,  # type: ignore[arg-type]
        company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="spindle", kind="anomaly.pca",
        state=detector.state(), tag_ids=tag_ids, trained_from=T0, trained_to=T1,
        metrics={"threshold": detector.threshold, "nan": float("nan")}, created_by="김엔지니어",
    )  # fmt: skip


def _principal(world: World, who: str) -> object:
    with world.db.session(SYSTEM) as session:
        user = session.scalars(select(User).where(User.email == world.emails[who])).one()
        return principal_for(session, user)


def test_versions_deploy_retires_the_previous_and_rollback_redeploys_an_older_one(world: World) -> None:
    tags = _tags(world)
    with world.db.session(SYSTEM) as session:
        v1, v2 = _register(session, world, tags, 0), _register(session, world, tags, 1)
        assert (v1.version, v2.version, v1.status, v2.status) == (1, 2, "candidate", "candidate")
        assert v1.metrics == {"threshold": pytest.approx(1.0), "nan": None}
        ids = v1.id, v2.id
    for deployed, retired in ((ids[0], None), (ids[1], ids[0]), (ids[0], ids[1])):  # deploy v1, v2, roll back
        with world.db.session(SYSTEM) as session:
            row = registry.deploy(session, deployed, by="관리자")
            assert row.status == "deployed" and row.deployed_by == "관리자" and row.deployed_at is not None
        with world.db.session(SYSTEM) as session:
            status = {m.id: m.status for m in registry.versions(session, world.ids_a["equipment_id"], "spindle")}
            assert [m.id for m in registry.deployed(session, world.ids_a["equipment_id"])] == [deployed]
        assert status[deployed] == "deployed"
        if retired is not None:
            assert status[retired] == "retired"
    with world.db.session(SYSTEM) as session:
        assert [m.version for m in registry.versions(session, world.ids_a["equipment_id"], "spindle")] == [2, 1]


def test_a_state_saved_in_the_table_predicts_the_same(world: World) -> None:
    tags = _tags(world)
    detector = PcaDetector().fit(_history(tags))
    batch = _history(tags, seed=7)
    batch.iloc[50:60, 0] += 15.0
    with world.db.session(SYSTEM) as session:
        model_id = registry.register(
            session, company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="pca", kind="anomaly.pca",
            state=detector.state(), tag_ids=tags, trained_from=T0, trained_to=T1, metrics={}, created_by="x",
        ).id  # fmt: skip
    with world.db.session(SYSTEM) as session:
        loaded = registry.load_detector(registry.get_model(session, model_id))
    np.testing.assert_array_equal(loaded.score(batch), detector.score(batch))
    assert loaded.detect(batch)[50:60].all()


def test_consultants_read_but_cannot_deploy_and_other_firms_find_nothing(world: World) -> None:
    model_id = world.ids_a["model_id"]
    with world.db.session(_principal(world, "consultant_a")) as session:
        assert registry.get_model(session, model_id).name.startswith("SENTINEL")
        with pytest.raises(Forbidden):
            registry.deploy(session, model_id, by="consultant")
    for outsider in ("member_b", "consultant_b", "partner"):
        with world.db.session(_principal(world, outsider)) as session, pytest.raises(NotFound):
            registry.deploy(session, model_id, by=outsider)
    with world.db.session(_principal(world, "member_a")) as session:
        assert registry.deploy(session, model_id, by="member").status == "deployed"


def test_register_refuses_another_machines_tag_and_a_state_of_another_kind(world: World) -> None:
    tags = _tags(world)
    state = PcaDetector().fit(_history(tags)).state()
    common = {"company_id": world.firm_a, "equipment_id": world.ids_a["equipment_id"], "name": "m", "state": state,
              "trained_from": T0, "trained_to": T1, "metrics": {}, "created_by": "x"}  # fmt: skip
    with world.db.session(SYSTEM) as session:
        other_tag = session.scalars(select(Tag.id).where(Tag.company_id == world.firm_b)).first()
        with pytest.raises(Invalid, match="not a tag of this machine"):
            registry.register(session, kind="anomaly.pca", tag_ids=[other_tag], **common)  # type: ignore[arg-type]
        with pytest.raises(Invalid, match="kind"):
            registry.register(session, kind="anomaly.ewma", tag_ids=tags, **common)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            registry.register(session, kind="anomaly.pca", tag_ids=tags, **(common | {"company_id": world.firm_b}))  # type: ignore[arg-type]


def test_a_training_window_in_korean_time_is_stored_as_the_same_instants(world: World) -> None:
    from datetime import timedelta, timezone

    from smart365.core.db import as_utc

    kst = timezone(timedelta(hours=9))
    start, end = datetime(2026, 1, 5, 16, 26, tzinfo=kst), datetime(2026, 1, 6, 0, 26, tzinfo=kst)
    tags = _tags(world)
    with world.db.session(SYSTEM) as session:
        row = registry.register(
            session, company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="kst",
            kind="anomaly.pca", state=PcaDetector().fit(_history(tags)).state(), tag_ids=tags,
            trained_from=start, trained_to=end, metrics={}, created_by="x",
        )  # fmt: skip
        row_id = row.id
    with world.db.session(SYSTEM) as session:
        stored = session.get(AnalyticsModel, row_id)
        assert stored is not None
        assert (as_utc(stored.trained_from), as_utc(stored.trained_to)) == (start, end)
