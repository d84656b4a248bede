"""Pages that build a firm's plant: add and remove sites, lines, machines and tags; a machine's tag page.

Each hierarchy level gets the same two form posts (add under the parent, delete by id), made by one
factory. Annotations are evaluated eagerly here (no ``from __future__ import annotations``) so the
path aliases built per level reach FastAPI.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request, UploadFile
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from smart365.core.db import Base
from smart365.core.errors import AppError, Forbidden, field_reason
from smart365.core.i18n import N_, _
from smart365.core.tenancy import Principal, principal_of
from smart365.core.uploads import ReadLimits
from smart365.registry import service
from smart365.registry.models import Company, Equipment, Line, Site, Tag
from smart365.registry.pages import two_step_import
from smart365.registry.schemas import EquipmentIn, LineIn, SiteIn, TagIn
from smart365.registry.tag_import import TagImportReport, export_tags, import_tags, tag_template
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)

#: Form field → label msgid, shared by the forms and their error messages.
FIELD_LABELS = {
    "name": N_("Name"),
    "process": N_("Process"),
    "address": N_("Address"),
    "kind": N_("Type"),
    "maker": N_("Maker"),
    "model": N_("Model"),
    "year": N_("Year"),
    "protocol": N_("Protocol"),
    "endpoint": N_("Endpoint"),
    "unit": N_("Unit"),
    "data_type": N_("Data type"),
    "min_value": N_("Minimum"),
    "max_value": N_("Maximum"),
}


def form_page(parent: Base) -> str:
    """The page whose forms add children to ``parent``: a machine's own page for tags, else the firm's."""
    if isinstance(parent, Equipment):
        return f"/equipment/{parent.id}"
    return f"/companies/{parent.id if isinstance(parent, Company) else parent.company_id}"  # type: ignore[attr-defined]


def _form_errors(exc: ValidationError) -> str:
    return " ".join(
        f"{_(FIELD_LABELS.get(str(e['loc'][0]), str(e['loc'][0])))}: {field_reason(e)}" for e in exc.errors()
    )


def _plant_routes(
    model: type[Base], path: str, parent_path: str, parent_param: str, item_param: str, schema: type[BaseModel]
) -> None:
    """``POST /{parent}/{id}/{path}`` adds a row from a form; ``POST /{path}/{id}/delete`` removes one."""
    ParentId = Annotated[int, Path(alias=parent_param)]  # noqa: N806 - a type alias
    ItemId = Annotated[int, Path(alias=item_param)]  # noqa: N806
    parent_model = service.HIERARCHY[model][0]

    def add(request: Request, parent_id: ParentId, session: PageSession, posted: PageForm) -> Response:
        parent = service.get(session, parent_model, parent_id)
        form = {k: v for k, v in posted.items() if k != "csrf_token" and v != ""}
        try:
            service.create_child(session, model, parent_id, schema.model_validate(form))
        except ValidationError as exc:
            request.session["flash_error"] = _form_errors(exc)
        except AppError as exc:  # e.g. an address the machine's connector cannot read: say why, where it was typed
            if exc.status != 422:
                raise
            request.session["flash_error"] = exc.localized()
            if isinstance(parent, Equipment):
                page = equipment_page(request, parent.id, principal_of(session), session)
                page.status_code = 422
                return page
        return RedirectResponse(form_page(parent), status_code=303)

    def delete(ident: ItemId, session: PageSession) -> Response:
        row = service.get(session, model, ident)
        target = form_page(service.get(session, parent_model, getattr(row, service.HIERARCHY[model][1])))
        service.delete_row(session, row)
        return RedirectResponse(target, status_code=303)

    pages.add_api_route(f"/{parent_path}/{{{parent_param}}}/{path}", add, methods=["POST"], dependencies=[Csrf])
    pages.add_api_route(f"/{path}/{{{item_param}}}/delete", delete, methods=["POST"], dependencies=[Csrf])


_plant_routes(Site, "sites", "companies", "company_id", "site_id", SiteIn)
_plant_routes(Line, "lines", "sites", "site_id", "line_id", LineIn)
_plant_routes(Equipment, "equipment", "lines", "line_id", "equipment_id", EquipmentIn)
_plant_routes(Tag, "tags", "equipment", "equipment_id", "tag_id", TagIn)


@pages.get("/equipment/{equipment_id}")
def equipment_page(request: Request, equipment_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """A machine: its connection and its tags, with a form to add tags."""
    machine = service.get(session, Equipment, equipment_id)
    tags = session.scalars(select(Tag).where(Tag.equipment_id == equipment_id).order_by(Tag.name)).all()
    return render(
        request,
        "registry/equipment.html",
        active="companies",
        machine=machine,
        line=machine.line,
        tags=tags,
        can_edit=principal.can_change(machine.company_id),
        labels=FIELD_LABELS,
        flash_error=request.session.pop("flash_error", None),
        flash=request.session.pop("flash", None),
    )


TAG_IMPORT: dict[str, Any] = {
    "heading": N_("Import tags"),
    "intro": N_(
        "Upload an Excel or CSV file of the firm's tags: one long sheet with the machine in the 설비 (machine) "
        "column, or one sheet per machine named after it. Required: 태그 (tag) and the machine; the machines are "
        "registered first. The file is checked first; nothing changes until you import the good rows."
    ),
    "done": N_("{created} tags added, {updated} updated, {bad} rows left out."),
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _changeable(principal: Principal, company: Company) -> Company:
    if not principal.can_change(company.id):
        raise Forbidden()
    return company


def _tag_import_page(request: Request, company: Company, report: object = None, token: str | None = None) -> Response:
    downloads = [
        (f"/companies/{company.id}/tags/template.xlsx", N_("Download the template")),
        (f"/companies/{company.id}/tags/export.xlsx", N_("Export the firm's tags")),
    ]
    return render(
        request, "registry/import.html", active="companies", company=company, report=report, token=token,
        action=f"/companies/{company.id}/tags/import", downloads=downloads, **TAG_IMPORT,
    )  # fmt: skip


@pages.get("/companies/{company_id}/tags/import")
def tag_import_form(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The firm's bulk tag import: upload, check, then import the good rows."""
    return _tag_import_page(request, _changeable(principal, service.get(session, Company, company_id)))


@pages.post("/companies/{company_id}/tags/import", dependencies=[Csrf])
def tag_import_check(
    request: Request,
    company_id: int,
    principal: PagePrincipal,
    session: PageSession,
    file: UploadFile | None = None,
    token: Annotated[str | None, Form()] = None,
) -> Response:
    """First post checks the file (by sheet, row and column); the second, with its token, imports the good rows."""
    company = _changeable(principal, service.get(session, Company, company_id))

    def check(content: bytes, name: str, commit: bool, limits: ReadLimits) -> TagImportReport:
        return import_tags(session, company, content, name, commit=commit, limits=limits)

    report, new_token = two_step_import(request, file, token, check)
    return _tag_import_page(request, company, report, new_token)


@pages.get("/companies/{company_id}/tags/export.xlsx")
def tag_export(company_id: int, session: PageSession) -> Response:
    """The firm's tags as an Excel workbook that imports back unchanged."""
    company = service.get(session, Company, company_id)
    return _workbook(export_tags(session, company), f"smart365-tags-{company.brn}.xlsx")


@pages.get("/companies/{company_id}/tags/template.xlsx")
def tag_template_download(company_id: int, session: PageSession) -> Response:
    """An empty tags workbook whose headers say what goes in each column."""
    service.get(session, Company, company_id)
    return _workbook(tag_template(), "smart365-tags-template.xlsx")


def _workbook(content: bytes, filename: str) -> Response:
    return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
