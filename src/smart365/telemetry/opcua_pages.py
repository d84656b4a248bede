"""OPC UA in the browser: a machine's variables, browsed live, so a person picks tags instead of typing node ids
(``/equipment/{id}/browse``, linked from the machine's page), and the installation's certificate and the servers
it trusts (``/admin/opcua``, for the administrator).

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
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from smart365.core import audit
from smart365.core.errors import AppError, Forbidden, Invalid, NotFound, field_reason
from smart365.core.i18n import N_, _
from smart365.core.lazy import lazy
from smart365.core.tenancy import Principal, Role
from smart365.registry import service as registry
from smart365.registry.models import Equipment, Tag
from smart365.registry.schemas import TagIn
from smart365.registry.vocab import SIGNAL_LABELS
from smart365.telemetry.connectors.opcua import TagSuggestion, browse
from smart365.telemetry.opcua_pki import Pki
from smart365.telemetry.sources import SourceIdentity, opcua_session
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, system_of
from smart365.web.templating import render

if TYPE_CHECKING:
    from asyncua import ua
else:
    ua = lazy("asyncua.ua")

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


NOT_OPCUA = N_("Only an OPC UA machine with an endpoint can be browsed.")


def _machine(session: Any, principal: Principal, equipment_id: int) -> Equipment:
    machine = registry.get(session, Equipment, equipment_id)
    if not principal.can_change(machine.company_id):
        raise Forbidden()
    return machine


def _browsable(machine: Equipment) -> bool:
    return machine.protocol == "opcua" and bool(machine.endpoint)


@pages.get("/equipment/{equipment_id}/browse")
def browse_page(request: Request, equipment_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The machine's OPC UA variables, read from its server now. A plain ``def``: the browse runs in a thread's
    own event loop, never on the server's."""
    machine = _machine(session, principal, equipment_id)
    registered = {t.address: t.label for t in machine.tags if t.address}
    error, rows = None if _browsable(machine) else _(NOT_OPCUA), []
    try:
        found = asyncio.run(asyncio.wait_for(_browse(request, machine), BROWSE_TIMEOUT_S)) if error is None else []
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


def _browse(request: Request, machine: Equipment) -> Any:
    """Browse the machine's server with the session its endpoint asks for (login, security, this installation's
    certificates)."""
    settings = system_of(request).settings
    identity = SourceIdentity(settings.installation, None, settings.opcua_pki)
    session = opcua_session(urlsplit(machine.endpoint or ""), identity)
    return browse(session.pop("endpoint"), **session)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ua.UaStatusCodeError) and exc.code == ua.StatusCodes.BadCertificateUntrusted:
        return _("the server's certificate is not trusted yet: an administrator can trust it under OPC UA certificates")
    if isinstance(exc, TimeoutError):
        return _("no answer within {seconds} s").format(seconds=int(BROWSE_TIMEOUT_S))
    return f"{type(exc).__name__}: {exc}"[:300]


@pages.post("/equipment/{equipment_id}/browse", dependencies=[Csrf])
def add_browsed(
    request: Request, equipment_id: int, principal: PagePrincipal, session: PageSession, posted: PageForm
) -> Response:
    """Add a tag for each ticked variable; a refused row is named with its reason, the others are added."""
    machine = _machine(session, principal, equipment_id)
    if not _browsable(machine):
        raise Invalid(NOT_OPCUA)
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


def _pki(request: Request, principal: Principal) -> Pki:
    principal.require(Role.CENTRE_ADMIN)
    return Pki(Path(system_of(request).settings.opcua_pki))


@pages.get("/admin/opcua")
def trust_page(request: Request, principal: PagePrincipal) -> Response:
    """This installation's OPC UA certificate (for the machines' servers to trust) and the servers it trusts."""
    pki = _pki(request, principal)
    own = asyncio.run(pki.own(system_of(request).settings.installation))
    return render(
        request, "telemetry/opcua_trust.html", active="opcua", own=own, trusted=pki.certificates("trusted"),
        rejected=pki.certificates("rejected"), flash=request.session.pop("flash", None),
    )  # fmt: skip


@pages.get("/admin/opcua/own.der")
def own_certificate(request: Request, principal: PagePrincipal) -> Response:
    """This installation's certificate, to put in a machine server's trust list."""
    pki = _pki(request, principal)
    asyncio.run(pki.own(system_of(request).settings.installation))
    headers = {"Content-Disposition": 'attachment; filename="smart365-opcua.der"'}
    return Response(pki.own_cert.read_bytes(), media_type="application/pkix-cert", headers=headers)


@pages.post("/admin/opcua/trust", dependencies=[Csrf])
def trust(request: Request, principal: PagePrincipal, session: PageSession, posted: PageForm) -> Response:
    """Trust a rejected server certificate, or (``untrust``) stop trusting one; audited."""
    pki, thumbprint = _pki(request, principal), str(posted.get("thumbprint") or "")
    untrust = posted.get("action") == "untrust"
    try:
        cert = pki.untrust(thumbprint) if untrust else pki.trust(thumbprint)
    except KeyError as exc:
        raise NotFound() from exc
    action = audit.Action.OPCUA_UNTRUST if untrust else audit.Action.OPCUA_TRUST
    audit.record(session, action, f"opcua:{cert.thumbprint}", details={"subject": cert.subject})
    done = N_("{subject} is no longer trusted.") if untrust else N_("{subject} is trusted now.")
    request.session["flash"] = _(done).format(subject=cert.subject)
    return RedirectResponse("/admin/opcua", status_code=303)
