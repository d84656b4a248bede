"""An OPC UA machine's variables, browsed live, so a person picks tags instead of typing node ids
(``/equipment/{id}/browse``, linked from the machine's page).

The page connects to the machine's endpoint, walks its address space (:func:`~smart365.telemetry.connectors.browse`)
and lists every variable with its browse path, data type, unit and range (an ``AnalogItemType``'s ``EURange``), a tag
name made from its browse name, and whether a tag already reads it. Ticked rows become tags with the node id as their
address; each row is written on its own, so one refused row (a name taken) says why and the others are added.

>>> tag_name("SpindleLoad"), tag_name("Spindle Temp."), tag_name("주축부하"), tag_name("AI_01/Value")
('spindle_load', 'spindle_temp', '주축부하', 'ai_01_value')
"""

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from smart365.core.errors import AppError, Forbidden, Invalid, field_reason
from smart365.core.i18n import N_, _
from smart365.core.tenancy import Principal
from smart365.registry import service as registry
from smart365.registry.models import Equipment, Tag
from smart365.registry.schemas import TagIn
from smart365.registry.vocab import SIGNAL_LABELS
from smart365.telemetry.connectors.opcua import TagSuggestion, browse
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)
BROWSE_TIMEOUT_S = 20.0
ROWS_MAX = 2000  # variables one page lists (a large server is browsed per folder in a later step)


@dataclass(frozen=True)
class Row:
    """A browsed variable as the page offers it."""

    found: TagSuggestion
    name: str
    registered: str | None  # the tag that already reads this node


def tag_name(browse_name: str) -> str:
    """A tag name from a browse name: ``SpindleLoad`` → ``spindle_load``; Hangul stays as it is."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", browse_name.strip())
    return re.sub(r"[^0-9a-zA-Z가-힣]+", "_", spaced).strip("_").lower()


def _machine(session: Any, principal: Principal, equipment_id: int) -> Equipment:
    machine = registry.get(session, Equipment, equipment_id)
    if not principal.can_change(machine.company_id):
        raise Forbidden()
    if machine.protocol != "opcua" or not machine.endpoint:
        raise Invalid(N_("Only an OPC UA machine with an endpoint can be browsed."))
    return machine


@pages.get("/equipment/{equipment_id}/browse")
def browse_page(request: Request, equipment_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The machine's OPC UA variables, read from its server now. A plain ``def``: the browse runs in a thread's
    own event loop, never on the server's."""
    machine = _machine(session, principal, equipment_id)
    registered = {t.address: t.label for t in machine.tags if t.address}
    error, rows = None, []
    try:
        found = asyncio.run(asyncio.wait_for(browse(machine.endpoint or ""), BROWSE_TIMEOUT_S))
    except Exception as exc:  # the server away, refusing us, or speaking nonsense: said on the page
        error = _("The machine's OPC UA server could not be browsed: {reason}").format(reason=_reason(exc))
    else:
        taken = {t.name for t in machine.tags}
        rows = [Row(s, tag_name(s.browse_path.rsplit("/", 1)[-1]), registered.get(s.node_id)) for s in found]
        rows = [r if r.name not in taken or r.registered else Row(r.found, f"{r.name}_2", None) for r in rows]
    return render(
        request, "telemetry/browse.html", active="companies", machine=machine, rows=rows[:ROWS_MAX],
        capped=len(rows) > ROWS_MAX, error=error, flash_error=request.session.pop("flash_error", None),
        flash=request.session.pop("flash", None), labels=SIGNAL_LABELS,
    )  # fmt: skip


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return _("no answer within {seconds} s").format(seconds=int(BROWSE_TIMEOUT_S))
    return f"{type(exc).__name__}: {exc}"[:300]


@pages.post("/equipment/{equipment_id}/browse", dependencies=[Csrf])
def add_browsed(
    request: Request, equipment_id: int, principal: PagePrincipal, session: PageSession, posted: PageForm
) -> Response:
    """Add a tag for each ticked variable; a refused row is named with its reason, the others are added."""
    machine = _machine(session, principal, equipment_id)
    picked = [str(value) for value in posted.getlist("pick")]
    added, refused = 0, []
    for row in picked:
        fields = {key: str(posted.get(f"{key}-{row}") or "").strip() or None for key in _FIELDS}
        problem = _add(session, machine, {k: v for k, v in fields.items() if v is not None})
        if problem is None:
            added += 1
        else:
            refused.append(f"{fields['name'] or fields['address']}: {problem}")
    if added:
        request.session["flash"] = _("{n} tags added.").format(n=added)
    if refused:
        request.session["flash_error"] = " ".join(refused)
    target = f"/equipment/{machine.id}" if added and not refused else f"/equipment/{machine.id}/browse"
    return RedirectResponse(target, status_code=303)


_FIELDS = ("name", "display_name", "unit", "address", "min_value", "max_value")


def _add(session: Any, machine: Equipment, fields: dict[str, Any]) -> str | None:
    """Write one tag in its own savepoint; why it was refused, or ``None``."""
    try:
        data = TagIn.model_validate(fields)
    except ValidationError as exc:
        return " ".join(field_reason(e) for e in exc.errors())
    try:
        registry.create_child(session, Tag, machine.id, data)
    except AppError as exc:
        return exc.localized()
    return None
