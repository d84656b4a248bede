"""Registry pages: company list with live search and filters, company detail and edit, import."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.responses import RedirectResponse, Response

from smart365.core.errors import Invalid, field_reason
from smart365.core.i18n import N_, _
from smart365.core.tenancy import Principal, Role
from smart365.core.uploads import ReadLimits
from smart365.registry import service, vocab
from smart365.registry.importer import import_companies
from smart365.registry.models import Company, Line, Site
from smart365.registry.schemas import CompanyPatch
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, get_settings
from smart365.web.templating import HomeCard, render, templates

pages = APIRouter(include_in_schema=False)
templates.env.globals["vocab"] = vocab  # the registry's vocabularies, for every feature's pages
PAGE_SIZE = 25

SectionProvider = Callable[[Request, Session, Principal, Company], HomeCard | None]
#: Features' sections of the firm page (what the centre received from the firm's plants…), set by the
#: composition root (:func:`install_sections`), so this page never imports the features it shows.
COMPANY_SECTIONS: list[SectionProvider] = []


def install_sections(providers: Iterable[SectionProvider]) -> None:
    """Set the features' sections of the firm page (called once by the composition root)."""
    COMPANY_SECTIONS[:] = list(providers)


def _filter(request: Request) -> service.CompanyFilter:
    q = request.query_params
    sobujang = {"1": True, "0": False}.get(q.get("sobujang", ""))
    return service.CompanyFilter(
        q=q.get("q") or None, region=q.get("region") or None, sobujang=sobujang, system=q.get("system") or None
    )


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


@pages.get("/companies")
def company_list(request: Request, _principal: PagePrincipal, session: PageSession) -> Response:
    """The company list; an HTMX request gets only the refreshed table."""
    page = _page_number(request)
    rows, total = service.list_companies(session, _filter(request), page, PAGE_SIZE)
    template = "registry/_company_table.html" if request.headers.get("hx-request") else "registry/companies.html"
    pages_total = max(1, -(-total // PAGE_SIZE))
    return render(
        request,
        template,
        active="companies",
        rows=rows,
        total=total,
        page=page,
        pages_total=pages_total,
        query=request.query_params,
    )


COMPANY_IMPORT: dict[str, Any] = {
    "heading": N_("Import companies"),
    "intro": N_(
        "Upload a CSV or Excel file with one firm per row. Required columns: 회사명 (name), 사업자등록번호 (brn), "
        "업종코드 (ksic_code), 지역 (region). The file is checked first; "
        "nothing changes until you import the good rows."
    ),
    "action": "/companies/import",
    "done": N_("{created} firms added, {updated} updated, {bad} rows left out."),
}


@pages.get("/companies/import")
def import_form(request: Request, principal: PagePrincipal) -> Response:
    principal.require(Role.CENTRE_ADMIN)
    return render(request, "registry/import.html", active="import", report=None, token=None, **COMPANY_IMPORT)


@pages.post("/companies/import", dependencies=[Csrf])
def import_check(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    file: UploadFile | None = None,
    token: Annotated[str | None, Form()] = None,
) -> Response:
    """First post: check the uploaded file and keep it. Second post (with its token): import good rows.

    A plain ``def``: the file is parsed in the thread pool, never on the event loop.
    """
    principal.require(Role.CENTRE_ADMIN)

    def check(content: bytes, name: str, commit: bool, limits: ReadLimits) -> Any:
        return import_companies(session, content, name, commit=commit, limits=limits)

    report, new_token = two_step_import(request, file, token, check)
    return render(request, "registry/import.html", active="import", report=report, token=new_token, **COMPANY_IMPORT)


def two_step_import(
    request: Request,
    file: UploadFile | None,
    token: str | None,
    run: Callable[[bytes, str, bool, ReadLimits], Any],
) -> tuple[Any, str | None]:
    """The page's import in two posts: the first checks the uploaded file and keeps it under a token, the
    second (with that token) imports the kept file's good rows. Returns the report and the token to confirm."""
    settings = get_settings(request)
    limits = ReadLimits.registry(settings)
    slot = f"import_file:{request.url.path}"  # one kept file per import page
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    if token:
        name = request.session.get(slot)
        if not name or not secrets.compare_digest(name.split(".")[0], token):
            raise Invalid(N_("The checked file is no longer available. Please upload it again."))
        path = uploads / name
        report = run(path.read_bytes(), name, True, limits)
        path.unlink(missing_ok=True)
        request.session.pop(slot, None)
        return report, None
    if file is None or not file.filename:
        raise Invalid(N_("Choose a file to upload."))
    content = file.file.read()
    if len(content) > settings.max_upload_bytes:
        raise Invalid(N_("The file is too large."))
    report = run(content, file.filename, False, limits)
    new_token = secrets.token_hex(12)
    suffix = ".xlsx" if file.filename.lower().endswith((".xlsx", ".xlsm")) else ".csv"
    (uploads / f"{new_token}{suffix}").write_bytes(content)
    request.session[slot] = f"{new_token}{suffix}"
    return report, new_token


@pages.get("/companies/{company_id}")
def company_detail(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    flash = _("Saved.") if request.query_params.get("saved") else None
    return _company_page(request, session, principal, service.get(session, Company, company_id), flash=flash)


def _company_page(
    request: Request,
    session: Session,
    principal: Principal,
    company: Company,
    *,
    flash: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    """The firm page: profile, plant tree, the features' sections and, for those who may change it, the edit
    forms."""
    sections = [part for provide in COMPANY_SECTIONS if (part := provide(request, session, principal, company))]
    sections.sort(key=lambda part: part.order)
    sites = session.scalars(
        select(Site)
        .where(Site.company_id == company.id)
        .order_by(Site.name)
        .options(selectinload(Site.lines).selectinload(Line.equipment))
    )
    return render(
        request,
        "registry/company.html",
        status_code=422 if errors else 200,
        active="companies",
        company=company,
        sites=list(sites),
        counts=service.hierarchy_counts(session, company.id),
        sections=sections,
        can_edit=principal.can_change(company.id),
        flash=flash,
        flash_error=request.session.pop("flash_error", None),
        errors=errors or {},
    )


@pages.post("/companies/{company_id}", dependencies=[Csrf])
def company_update(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Save the edit form; invalid fields come back with their reasons next to them."""
    company = service.get(session, Company, company_id)
    fields = ("name", "region", "address", "employees", "revenue_band", "smart_factory_year")
    data: dict[str, Any] = {k: form.get(k) or None for k in fields}
    data["systems"] = form.getlist("systems")
    try:
        patch = CompanyPatch.model_validate({k: v for k, v in data.items() if v is not None or k == "address"})
    except ValidationError as exc:
        errors = {str(e["loc"][0]): field_reason(e) for e in exc.errors()}
        return _company_page(request, session, principal, company, errors=errors)
    service.update_company(session, company, patch)
    return RedirectResponse(f"/companies/{company_id}?saved=1", status_code=303)
