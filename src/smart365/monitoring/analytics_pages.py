"""A machine's analytics page (분석): SPC chart of a chosen tag with baseline limits, run-rule violations and
capability; the machine's anomaly models (versions, training window, metrics, deploy and roll back, train a
new version); its recent anomaly alarms with their explanations.

It lives in ``monitoring`` because it needs the registry, the store and the page shell, which
``analytics`` may not import. Deploying is for the centre and the firm's own members (the registry service
refuses consultants); the tenancy-scoped session hides other firms' machines and models.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from smart365.analytics import registry as models
from smart365.analytics.models import AnalyticsModel
from smart365.analytics.spc import CHART_TITLES
from smart365.core.errors import Invalid
from smart365.core.i18n import N_
from smart365.core.tenancy import Principal, Role
from smart365.monitoring import scoring, service, spc_view
from smart365.monitoring.oee import KST
from smart365.monitoring.pages import SEVERITY_LABELS, store_of
from smart365.monitoring.training import DETECTORS, default_inputs, train_anomaly_model
from smart365.registry import service as registry
from smart365.registry.models import Equipment, Tag
from smart365.web.deps import Csrf, PagePrincipal, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)

WINDOWS_H = (1, 4, 8, 24, 72)
STATUS_LABELS = {"candidate": N_("Candidate"), "deployed": N_("Deployed"), "retired": N_("Retired")}
METRIC_LABELS = {
    "rows": N_("Training rows"),
    "threshold": N_("Alarm threshold"),
    "train_alarm_rate": N_("Alarm rate on training data"),
    "holdout_alarm_rate": N_("Alarm rate on held-out data"),
    "fit_seconds": N_("Fit time (s)"),
    # what a deployed AI test-bed winner scored across its time-ordered folds
    "rmse": N_("RMSE"),
    "mae": N_("MAE"),
    "r2": N_("R²"),
    "balanced_accuracy": N_("Balanced accuracy"),
    "f1_macro": N_("Macro F1"),
    "f1": N_("F1"),
    "far": N_("False alarm rate (%)"),
    "mar": N_("Missed anomaly rate (%)"),
}


def can_deploy(principal: Principal, company_id: int) -> bool:
    """The centre and the firm's own members deploy; consultants read only (as the registry service says)."""
    return principal.can_change(company_id) and principal.role is not Role.CONSULTANT


def parse_moment(value: str | None, what: str) -> datetime | None:
    """A ``datetime-local`` value (Korean time unless it names a zone); empty means not given.

    >>> parse_moment("2026-01-05T09:30", "from").isoformat()
    '2026-01-05T00:30:00+00:00'
    """
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(N_("{field} is not a date and time: {value}"), field=what, value=value) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=KST)).astimezone(UTC)


def parse_number(value: str | None, what: str) -> float | None:
    """A number from a form field; empty means not given.

    >>> parse_number("1.5", "LSL"), parse_number("", "LSL")
    (1.5, None)
    """
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise Invalid(N_("{field} must be a number."), field=what) from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise Invalid(N_("{field} must be a number."), field=what)
    return number


def _tag_of(machine: Equipment, tag_id: str | None) -> Tag:
    charted = [t for t in machine.tags if t.name not in service.HIDDEN_TAGS]
    if not tag_id:
        preferred = default_inputs(machine) or charted
        if not preferred:
            raise Invalid(N_("This machine has no tags to chart."))
        return preferred[0]
    found = next((t for t in charted if str(t.id) == tag_id), None)
    if found is None:
        raise Invalid(N_("Tag {tag} is not a tag of this machine."), tag=tag_id)
    return found


def _state_tag(machine: Equipment) -> int | None:
    tag = service.state_tag(machine)
    return tag.id if tag is not None else None


@pages.get("/monitoring/equipment/{equipment_id}/analytics")
def analytics_page(
    request: Request,
    equipment_id: int,
    principal: PagePrincipal,
    session: PageSession,
    tag_id: str | None = None,
    chart: str = "I-MR",
    n: str = "5",
    rules: str = "nelson",
    hours: str = "8",
    baseline_from: str | None = None,
    baseline_to: str | None = None,
    lsl: str | None = None,
    usl: str | None = None,
    running: str = "1",
) -> Response:
    """SPC of a chosen tag, the machine's models and its anomaly alarms."""
    machine = registry.get(session, Equipment, equipment_id)
    tag = _tag_of(machine, tag_id)
    if chart not in CHART_TITLES:
        raise Invalid(N_("Unknown chart {chart}: choose I-MR, Xbar-R or Xbar-S."), chart=chart)
    if rules not in ("nelson", "western_electric"):
        raise Invalid(N_("Unknown rules {rules}: choose nelson or western_electric."), rules=rules)
    window_h = parse_number(hours, "hours") or 8.0
    if not 0 < window_h <= 24 * 31:
        raise Invalid(N_("Show between 1 hour and 31 days."))
    size = parse_number(n, "n")
    if size is None or size != int(size):
        raise Invalid(N_("Subgroup size must be a whole number."))
    now = datetime.now(UTC)
    ask = spc_view.SpcRequest(
        start=now - timedelta(hours=window_h),
        end=now,
        baseline_from=parse_moment(baseline_from, "baseline_from"),
        baseline_to=parse_moment(baseline_to, "baseline_to"),
        chart=chart,  # type: ignore[arg-type]
        n=int(size),
        rules=rules,  # type: ignore[arg-type]
        lsl=parse_number(lsl, "LSL"),
        usl=parse_number(usl, "USL"),
        running_only=running == "1",
    )
    try:
        view: spc_view.SpcView | None = spc_view.build(store_of(request), tag.id, ask, _state_tag(machine))
        no_data = None
    except spc_view.NoData as exc:  # a machine without history still shows its models and alarms
        view, no_data = None, exc.localized()
    return render(
        request,
        "monitoring/analytics.html",
        active="monitoring",
        machine=machine,
        tag=tag,
        tags=[t for t in machine.tags if t.name not in service.HIDDEN_TAGS],
        export_query=urlencode({"start": ask.start.isoformat(), "end": ask.end.isoformat()}),
        ask=ask,
        form={"chart": chart, "n": int(size), "rules": rules, "hours": window_h, "lsl": lsl or "", "usl": usl or "",
              "baseline_from": baseline_from or "", "baseline_to": baseline_to or "", "running": running == "1"},
        view=view,
        no_data=no_data,
        chart_titles=CHART_TITLES,
        rules_title=spc_view.rules_title(ask.rules),
        windows=WINDOWS_H,
        models=models.versions(session, machine.id),
        tag_names={t.id: t.display_name or t.name for t in machine.tags},
        detectors=DETECTORS,
        kind_label=models.kind_label,
        status_labels=STATUS_LABELS,
        metric_labels=METRIC_LABELS,
        anomalies=[e for e in service.company_events(session, machine.company_id, equipment_id=machine.id, limit=100)
                   if scoring.is_anomaly(e)][:20],
        summary=scoring.summary,
        sentences=scoring.sentences,
        signal_label=scoring.signal_label,
        can_deploy=can_deploy(principal, machine.company_id),
        severity_labels=SEVERITY_LABELS,
    )  # fmt: skip


@pages.post("/monitoring/models/{model_id}/deploy", dependencies=[Csrf])
def deploy_model(request: Request, model_id: int, session: PageSession) -> Response:
    """Deploy a version (an older one: roll back); the running monitor picks it up within 30 s."""
    row = models.deploy(session, model_id, by=_who(request))
    return RedirectResponse(f"/monitoring/equipment/{row.equipment_id}/analytics#models", status_code=303)


@pages.post("/monitoring/equipment/{equipment_id}/models", dependencies=[Csrf])
def train_model(
    request: Request,
    equipment_id: int,
    session: PageSession,
    kind: Annotated[str, Form()] = "anomaly.pca",
    train_from: Annotated[str | None, Form()] = None,
    train_to: Annotated[str | None, Form()] = None,
) -> Response:
    """Train a new candidate version on the machine's history in the chosen window (default: the last 8 h)."""
    machine = registry.get(session, Equipment, equipment_id)
    now = datetime.now(UTC)
    start = parse_moment(train_from, "train_from") or now - timedelta(hours=8)
    end = parse_moment(train_to, "train_to") or now
    if start >= end:
        raise Invalid(N_("The training window must start before it ends."))
    existing = models.deployed(session, machine.id)
    settings = dict(existing[0].settings) if existing else None
    tag_ids = list(existing[0].tag_ids) if existing else None
    train_anomaly_model(  # the registry refuses consultants with its own reason
        session, store_of(request), equipment_id=machine.id, start=start, end=end, created_by=_who(request),
        kind=kind, tag_ids=tag_ids, settings=settings,
    )  # fmt: skip
    return RedirectResponse(f"/monitoring/equipment/{machine.id}/analytics#models", status_code=303)


def model_json(row: AnalyticsModel) -> dict[str, Any]:
    """A registry row for the API (no state bytes)."""
    return {
        "id": row.id, "equipment_id": row.equipment_id, "name": row.name, "kind": row.kind, "version": row.version,
        "status": row.status, "tag_ids": row.tag_ids, "trained_from": row.trained_from, "trained_to": row.trained_to,
        "metrics": row.metrics, "created_by": row.created_by, "deployed_by": row.deployed_by,
        "deployed_at": row.deployed_at,
    }  # fmt: skip


def _who(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return str(user.name) if user is not None else "?"
