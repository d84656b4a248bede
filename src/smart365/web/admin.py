"""The centre administrator's pages and API: the audit log (감사 기록) with its Excel export, and users
(role, firm, disable/enable). Centre administrators only; every change goes through
:mod:`smart365.core.accounts`, which audits it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from smart365.core import accounts, audit
from smart365.core.db import SEOUL
from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_, _
from smart365.core.tenancy import Principal, Role
from smart365.registry.models import Company
from smart365.web.deps import ApiSession, CentreAdmin, Csrf, PagePrincipal, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["users"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 50
#: Roles an administrator may give (the system role never logs in).
ROLES = (Role.CENTRE_ADMIN, Role.CONSULTANT, Role.COMPANY_MEMBER, Role.DATA_PARTNER)

#: What an audit row's ``target`` kind means, in words.
TARGET_LABELS = {
    "user": N_("User"),
    "company": N_("Company"),
    "companies": N_("Companies"),
    "sites": N_("Site"),
    "lines": N_("Production line"),
    "equipment": N_("Machine"),
    "tags": N_("Tag"),
    "model": N_("Model"),
    "testbed_run": N_("Test-bed run"),
    "api_key": N_("API key"),
    "campaign": N_("Survey campaign"),
    "history": N_("Tag history of firm"),
    "centre": N_("Centre dashboard"),
    "audit": N_("Audit log"),
}
#: The audit details' keys and coded values, in words.
DETAIL_LABELS = {
    "via": N_("Through"),
    "name": N_("Name"),
    "brn": N_("Registration no."),
    "file": N_("File"),
    "rows": N_("Rows"),
    "created": N_("Added"),
    "updated": N_("Updated"),
    "points": N_("Values"),
    "stored": N_("Stored"),
    "version": N_("Version"),
    "replaced": N_("Replaced version"),
    "model": N_("Model"),
    "model_id": N_("Model no."),
    "target": N_("Target"),
    "role": N_("Role"),
    "company_id": N_("Company no."),
    "before": N_("Before"),
    "after": N_("After"),
    "email": N_("Email"),
    "key": N_("Key"),
    "filters": N_("Filters"),
    "tickets": N_("Tickets"),
    "retry_after_s": N_("Seconds to wait"),
    # the filters an export was made with
    "q": N_("Search"),
    "region": N_("Region"),
    "sobujang": N_("소부장"),
    "ksic": N_("Industry (KSIC)"),
    "system": N_("System in use"),
    "user": N_("User (email)"),
    "action": N_("Action"),
    "outcome": N_("Outcome"),
    "since": N_("From"),
    "until": N_("To"),
}
VALUE_LABELS = {"browser": N_("browser"), "api": N_("API")}
ROLE_LABELS = {
    "centre_admin": N_("Centre administrator"),
    "consultant": N_("Consultant"),
    "company_member": N_("Company member"),
    "data_partner": N_("Data partner"),
}


def _admin(principal: Principal) -> None:
    principal.require(Role.CENTRE_ADMIN)


# -- the audit log ---------------------------------------------------------------------------------------


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise Invalid(N_("Write dates as YYYY-MM-DD.")) from exc


def _audit_filter(request: Request) -> audit.AuditFilter:
    """The page's filters; the dates are whole days in Korean time (the end day included)."""
    q = request.query_params
    since, until = _day(q.get("since")), _day(q.get("until"))
    return audit.AuditFilter(
        user=q.get("user") or None,
        action=q.get("action") or None,
        outcome=q.get("outcome") or None,
        since=datetime.combine(since, datetime.min.time(), SEOUL) if since else None,
        until=datetime.combine(until + timedelta(days=1), datetime.min.time(), SEOUL) if until else None,
    )


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


def _key_label(key: object) -> str:
    return _(DETAIL_LABELS.get(str(key), str(key)))


def _detail_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{_key_label(k)} {_detail_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_detail_text(v) for v in value) or "–"
    if value is None:
        return "–"
    text = str(value)
    label = VALUE_LABELS.get(text) or ROLE_LABELS.get(text)
    return _(label) if label else text


def describe(details: dict[str, Any]) -> list[tuple[str, str]]:
    """An entry's details as (label, text) pairs a manager reads, e.g. ``("경로", "브라우저")``."""
    return [(_key_label(k), _detail_text(v)) for k, v in details.items()]


def target_text(target: str | None) -> str:
    """``"sites:12"`` → ``"사이트 #12"``; a plain word target in words too."""
    if not target:
        return "–"
    kind, _sep, ident = target.partition(":")
    label = _(TARGET_LABELS.get(kind, kind))
    return f"{label} #{ident}" if ident else label


@pages.get("/admin/audit")
def audit_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The audit log, newest first, filtered by user, action, outcome and days, 50 a page."""
    _admin(principal)
    page = _page_number(request)
    rows, total = audit.search(session, _audit_filter(request), page, PAGE_SIZE)
    names = dict(session.execute(select(Company.id, Company.name).where(Company.id.in_({r.company_id for r in rows})))
                 .all())  # fmt: skip
    return render(
        request,
        "admin/audit.html",
        active="audit",
        rows=rows,
        total=total,
        page=page,
        pages_total=max(1, -(-total // PAGE_SIZE)),
        query=request.query_params,
        actions=audit.ACTION_LABELS,
        outcomes=audit.OUTCOME_LABELS,
        company_names=names,
        describe=describe,
        target_text=target_text,
    )


@pages.get("/admin/audit/export.xlsx")
def audit_export(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The filtered entries as Excel (up to 100,000 rows); the export itself is audited."""
    _admin(principal)
    flt = _audit_filter(request)
    data = audit.export_workbook(audit.export_rows(session, flt))
    filters = {k: v for k, v in request.query_params.items() if k != "page" and v}
    audit.record(session, audit.Action.EXPORT, "audit", details={"filters": filters})
    headers = {"Content-Disposition": 'attachment; filename="smart365-audit.xlsx"'}
    return Response(data, media_type=XLSX, headers=headers)


# -- users -----------------------------------------------------------------------------------------------


def _last_logins(session: Session) -> dict[int, datetime]:
    """Each user's last successful login, from the audit log."""
    query = (
        select(audit.AuditEntry.user_id, func.max(audit.AuditEntry.at))
        .where(audit.AuditEntry.action == audit.Action.LOGIN, audit.AuditEntry.outcome == audit.Outcome.OK)
        .group_by(audit.AuditEntry.user_id)
    )
    return {user_id: at for user_id, at in session.execute(query) if user_id is not None}


@pages.get("/admin/users")
def users_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """Every user with their role, firm and state, and the forms to change them."""
    _admin(principal)
    q = request.query_params.get("q")
    firms = dict(session.execute(select(Company.id, Company.name).order_by(Company.name)).all())
    saved = request.query_params.get("saved")
    return render(
        request,
        "admin/users.html",
        active="users",
        users=accounts.list_users(session, q),
        firms=firms,
        last_login=_last_logins(session),
        roles=ROLES,
        q=q or "",
        flash=_("Saved.") if saved else None,
        flash_error=request.session.pop("flash_error", None),
    )


def _firm_id(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise Invalid(N_("Choose the firm from the list (its number)."))
    return int(text)


def _back_to_users(request: Request, action: Callable[[], None]) -> Response:
    """Run ``action``; a refusal comes back as a message on the users page, not an error page."""
    try:
        action()
    except AppError as exc:
        request.session["flash_error"] = exc.localized()
        return RedirectResponse("/admin/users", status_code=303)
    return RedirectResponse("/admin/users?saved=1", status_code=303)


@pages.post("/admin/users/{user_id}/role", dependencies=[Csrf])
def users_set_role(
    request: Request,
    user_id: int,
    principal: PagePrincipal,
    session: PageSession,
    role: Annotated[str, Form()] = "",
    company_id: Annotated[str | None, Form()] = None,
) -> Response:
    """Give a user another role (a company member also a firm)."""
    _admin(principal)
    user = accounts.get_user(session, user_id)

    def change() -> None:
        if role not in {r.value for r in ROLES}:
            raise Invalid(N_("Choose a role."))
        firm = _firm_id(company_id) if role == Role.COMPANY_MEMBER else None
        with session.begin_nested():
            accounts.set_role(session, user, Role(role), firm)

    return _back_to_users(request, change)


@pages.post("/admin/users/{user_id}/active", dependencies=[Csrf])
def users_set_active(
    request: Request,
    user_id: int,
    principal: PagePrincipal,
    session: PageSession,
    active: Annotated[str, Form()] = "",
) -> Response:
    """Disable (``active=0``) or enable (``active=1``) a user; disabling logs them out everywhere at once."""
    _admin(principal)
    user = accounts.get_user(session, user_id)

    def change() -> None:
        with session.begin_nested():
            accounts.set_active(session, user, active == "1")

    return _back_to_users(request, change)


# -- the same for scripts ----------------------------------------------------------------------------------


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str
    company_id: int | None
    active: bool
    created_at: datetime


class RoleIn(BaseModel):
    """A user's new role; ``company_id`` for a company member, none for other roles."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"role": "company_member", "company_id": 1}, {"role": "consultant"}]}
    )

    role: Role
    company_id: int | None = None


@api.get("/users", response_model=list[UserOut])
def list_users(session: ApiSession, _admin: CentreAdmin, q: str | None = None) -> list[UserOut]:
    """Every user (``q``: part of the email or name). Centre administrators only."""
    return [UserOut.model_validate(u) for u in accounts.list_users(session, q)]


@api.put("/users/{user_id}/role", response_model=UserOut)
def set_role(session: ApiSession, _admin: CentreAdmin, user_id: int, data: RoleIn) -> UserOut:
    """Change a user's role (and firm); audited, effective on their next request."""
    user = accounts.set_role(session, accounts.get_user(session, user_id), data.role, data.company_id)
    return UserOut.model_validate(user)


@api.post("/users/{user_id}/disable", response_model=UserOut)
def disable_user(session: ApiSession, _admin: CentreAdmin, user_id: int) -> UserOut:
    """Disable a user: their sessions and tokens stop working at once; audited."""
    return UserOut.model_validate(accounts.set_active(session, accounts.get_user(session, user_id), False))


@api.post("/users/{user_id}/enable", response_model=UserOut)
def enable_user(session: ApiSession, _admin: CentreAdmin, user_id: int) -> UserOut:
    """Enable a disabled user again (they log in anew); audited."""
    return UserOut.model_validate(accounts.set_active(session, accounts.get_user(session, user_id), True))


routers = (pages, api)
