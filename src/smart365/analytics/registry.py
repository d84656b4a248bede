"""Model registry: register fitted models of a machine as numbered versions, deploy one, roll back.

A version starts as a *candidate*; :func:`deploy` makes it the machine's *deployed* model of that name and
retires the one deployed before, so rolling back is deploying an older version. The fitted state is
stored as :class:`~smart365.analytics.contract.ModelState` bytes (no pickle) and loaded back with
:func:`load_detector`.

Who may register or deploy: the centre and the firm's own members (and the system, e.g. the demo);
consultants assigned to the firm read only; everybody else finds nothing (the session's tenancy scope).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smart365.analytics.contract import Detector, Model, ModelState, load
from smart365.analytics.models import AnalyticsModel
from smart365.core import audit
from smart365.core.db import Base, as_utc, utcnow
from smart365.core.errors import Forbidden, Invalid, NotFound
from smart365.core.i18n import N_, gettext
from smart365.core.tenancy import Role, principal_of

NAME_MAX = 100
#: What a person reads for a stored model kind that has no name of its own elsewhere (the test-bed's saved
#: winners); the kind itself is an internal key.
KIND_LABELS = {
    "anomaly.pca": N_("PCA (T² and SPE)"),
    "anomaly.ewma": N_("EWMA per signal"),
    "anomaly.iforest": N_("Isolation forest"),
    "anomaly.autoencoder": N_("Autoencoder"),
    "anomaly.stuck": N_("Stuck sensor (unchanged value)"),
    "anomaly.trend": N_("Trend (rising or falling too fast)"),
    "quality.lightgbm": N_("Quality prediction (LightGBM)"),
    "rul.lightgbm": N_("Remaining useful life (LightGBM)"),
    "testbed.lightgbm": N_("LightGBM (AI test-bed winner)"),
    "testbed.linear": N_("linear model (AI test-bed winner)"),
    "testbed.forest": N_("random forest (AI test-bed winner)"),
}


def kind_label(kind: str) -> str:
    """A model kind as a person reads it, in the current language (an unknown kind shows as itself).

    >>> from smart365.core.i18n import use_locale
    >>> with use_locale("ko"):
    ...     kind_label("testbed.lightgbm"), kind_label("x.y")
    ('LightGBM (AI 테스트베드 우승 모델)', 'x.y')
    """
    return gettext(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def _require_author(session: Session, company_id: int) -> None:
    """Only the centre, the firm's own members and the system may change a firm's models."""
    principal = principal_of(session)
    if not principal.can_change(company_id):
        raise NotFound()
    if principal.role is Role.CONSULTANT:
        raise Forbidden(N_("Consultants may read a firm's models but not change them."))


def _check_machine(session: Session, company_id: int, equipment_id: int, tag_ids: Sequence[int]) -> None:
    """The machine is the firm's and every input tag is the machine's (read through the tables by name:
    analytics does not import the registry package)."""
    equipment, tags = Base.metadata.tables["equipment"], Base.metadata.tables["tags"]
    owner = session.execute(select(equipment.c.company_id).where(equipment.c.id == equipment_id)).scalar()
    if owner is None or owner != company_id:
        raise NotFound()
    if not tag_ids:
        raise Invalid(N_("A model needs at least one input tag."))
    found = set(session.execute(select(tags.c.id).where(tags.c.equipment_id == equipment_id)).scalars())
    unknown = [t for t in tag_ids if t not in found]
    if unknown:
        raise Invalid(N_("Tag {tag} is not a tag of this machine."), tag=unknown[0])


def register(
    session: Session,
    *,
    company_id: int,
    equipment_id: int,
    name: str,
    kind: str,
    state: ModelState,
    tag_ids: list[int],
    trained_from: datetime,
    trained_to: datetime,
    metrics: dict[str, float],
    created_by: str,
) -> AnalyticsModel:
    """Store a fitted model as the next version (1, 2, …) of ``name`` on the machine, as a candidate.

    ``metrics`` are kept as numbers (a value that is not finite is kept as ``null``).
    """
    _require_author(session, company_id)
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise Invalid(N_("A model name needs 1 to {limit} characters."), limit=NAME_MAX)
    if state.kind != kind:
        raise Invalid(N_("The model state is of kind {state}, not {kind}."), state=state.kind, kind=kind)
    load(state)  # an unknown kind or a broken state is refused now, not when it is deployed
    if as_utc(trained_from) >= as_utc(trained_to):
        raise Invalid(N_("The training window must start before it ends."))
    _check_machine(session, company_id, equipment_id, tag_ids)
    latest = session.scalar(
        select(func.max(AnalyticsModel.version)).where(
            AnalyticsModel.equipment_id == equipment_id, AnalyticsModel.name == name
        )
    )
    row = AnalyticsModel(
        company_id=company_id,
        equipment_id=equipment_id,
        name=name,
        kind=kind,
        version=(latest or 0) + 1,
        tag_ids=[int(t) for t in tag_ids],
        trained_from=as_utc(trained_from),  # stored times are UTC (SQLite would drop another offset)
        trained_to=as_utc(trained_to),
        metrics={str(k): (float(v) if math.isfinite(float(v)) else None) for k, v in metrics.items()},
        settings={},
        state=state.to_bytes(),
        status="candidate",
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def get_model(session: Session, model_id: int) -> AnalyticsModel:
    """A model the principal may see, else :class:`NotFound`."""
    row = session.get(AnalyticsModel, model_id)
    if row is None:
        raise NotFound()
    return row


def deploy(session: Session, model_id: int, *, by: str) -> AnalyticsModel:
    """Make version ``model_id`` the deployed one of its name on its machine; the one deployed before is
    retired. Deploying an older version is the rollback; deploying the deployed one changes nothing."""
    row = get_model(session, model_id)
    _require_author(session, row.company_id)
    if row.status == "deployed":
        return row
    current = session.scalars(
        select(AnalyticsModel).where(
            AnalyticsModel.equipment_id == row.equipment_id,
            AnalyticsModel.name == row.name,
            AnalyticsModel.status == "deployed",
        )
    )
    replaced = list(current)
    for other in replaced:
        other.status = "retired"
    row.status, row.deployed_by, row.deployed_at = "deployed", by, utcnow()
    back = any(other.version > row.version for other in replaced)
    action = audit.Action.MODEL_ROLLBACK if back else audit.Action.MODEL_DEPLOY
    details = {"name": row.name, "version": row.version, "replaced": [o.version for o in replaced]}
    audit.record(session, action, f"model:{row.id}", company_id=row.company_id, details=details)
    session.flush()
    return row


def versions(session: Session, equipment_id: int, name: str | None = None) -> list[AnalyticsModel]:
    """A machine's models (of one ``name``, or all), by name and newest version first."""
    query = select(AnalyticsModel).where(AnalyticsModel.equipment_id == equipment_id)
    if name is not None:
        query = query.where(AnalyticsModel.name == name)
    return list(session.scalars(query.order_by(AnalyticsModel.name, AnalyticsModel.version.desc())))


def deployed(session: Session, equipment_id: int | None = None) -> list[AnalyticsModel]:
    """The deployed models (of one machine, or of every machine the principal sees)."""
    query = select(AnalyticsModel).where(AnalyticsModel.status == "deployed")
    if equipment_id is not None:
        query = query.where(AnalyticsModel.equipment_id == equipment_id)
    return list(session.scalars(query.order_by(AnalyticsModel.equipment_id, AnalyticsModel.name)))


def load_model(row: AnalyticsModel) -> Model:
    """The fitted model of a registry row (from its state bytes; never unpickles)."""
    return load(row.state)


def load_detector(row: AnalyticsModel) -> Detector:
    """The fitted anomaly detector of a registry row; a row holding another kind of model is refused."""
    model = load_model(row)
    if not isinstance(model, Detector):
        raise Invalid(N_("Model {name} is not an anomaly detector."), name=row.name)
    return model


#: Kinds whose deployed models score the machine's live data (a detector, or a test-bed winner's probability)
LIVE_KINDS = ("anomaly.", "testbed.")


def scores_live(row: AnalyticsModel) -> bool:
    """Whether a deployed row scores live data (its kind is a detector or a test-bed winner)."""
    return row.kind.startswith(LIVE_KINDS)
