"""Registry REST API under ``/api/v1``: companies and their site → line → equipment → tag hierarchy."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from smart365.core.db import Base
from smart365.core.uploads import ReadLimits
from smart365.registry import service
from smart365.registry.importer import ImportReport, export_companies, import_companies
from smart365.registry.models import Company, Equipment, Line, Site, Tag
from smart365.registry.schemas import (
    CompanyIn,
    CompanyOut,
    CompanyPage,
    CompanyPatch,
    EquipmentIn,
    EquipmentOut,
    EquipmentPatch,
    LineIn,
    LineOut,
    LinePatch,
    SiteIn,
    SiteOut,
    SitePatch,
    TagIn,
    TagOut,
    TagPatch,
)
from smart365.registry.tag_import import TagImportReport, export_tags, import_tags
from smart365.web.deps import ApiSession, CentreAdmin, get_settings

router = APIRouter(prefix="/api/v1", tags=["registry"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AN_XLSX: dict[int | str, dict[str, Any]] = {200: {"content": {XLSX: {}}}}


def company_filter(
    q: str | None = None,
    region: str | None = None,
    sobujang: bool | None = None,
    ksic: str | None = None,
    system: str | None = None,
) -> service.CompanyFilter:
    """The company filters, as query parameters: name or BRN, region, 소부장, KSIC prefix, system."""
    return service.CompanyFilter(q=q, region=region, sobujang=sobujang, ksic=ksic, system=system)


Filter = Annotated[service.CompanyFilter, Depends(company_filter)]


@router.get("/companies", response_model=CompanyPage)
def list_companies(
    session: ApiSession,
    flt: Filter,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CompanyPage:
    """Companies the caller may see, filtered and paged."""
    rows, total = service.list_companies(session, flt, page, size)
    return CompanyPage(items=[CompanyOut.model_validate(r) for r in rows], total=total, page=page, size=size)


@router.post("/companies", response_model=CompanyOut, status_code=201)
def create_company(session: ApiSession, data: CompanyIn) -> CompanyOut:
    """Register a firm (centre administrators)."""
    return CompanyOut.model_validate(service.create_company(session, data))


@router.get("/companies/export", response_class=StreamingResponse, responses=AN_XLSX)
def export(session: ApiSession, flt: Filter) -> StreamingResponse:
    """The visible companies matching the filters, as an Excel workbook."""
    data = export_companies(session, flt)
    headers = {"Content-Disposition": 'attachment; filename="smart365-companies.xlsx"'}
    return StreamingResponse(iter([data]), media_type=XLSX, headers=headers)


@router.post("/companies/import", response_model=ImportReport)
def import_file(
    request: Request,
    session: ApiSession,
    _admin: CentreAdmin,
    file: Annotated[UploadFile, File()],
    commit: bool = False,
) -> ImportReport:
    """Check a CSV/Excel file of companies; with ``commit=true`` also import its good rows.

    A plain ``def``: the file is parsed in the thread pool, never on the event loop.
    """
    limits = ReadLimits.registry(get_settings(request))
    return import_companies(session, file.file.read(), file.filename or "upload.csv", commit=commit, limits=limits)


@router.get("/companies/{company_id}", response_model=CompanyOut)
def get_company(session: ApiSession, company_id: int) -> CompanyOut:
    return CompanyOut.model_validate(service.get(session, Company, company_id))


@router.patch("/companies/{company_id}", response_model=CompanyOut)
def update_company(session: ApiSession, company_id: int, patch: CompanyPatch) -> CompanyOut:
    company = service.get(session, Company, company_id)
    return CompanyOut.model_validate(service.update_company(session, company, patch))


@router.delete("/companies/{company_id}", status_code=204)
def delete_company(session: ApiSession, company_id: int) -> None:
    service.delete_company(session, service.get(session, Company, company_id))


@router.get("/companies/{company_id}/tags/export", response_class=StreamingResponse, responses=AN_XLSX)
def export_firm_tags(session: ApiSession, company_id: int) -> StreamingResponse:
    """The firm's tags as an Excel workbook (a row per tag, with its line and machine) that imports back."""
    company = service.get(session, Company, company_id)
    headers = {"Content-Disposition": f'attachment; filename="smart365-tags-{company.brn}.xlsx"'}
    return StreamingResponse(iter([export_tags(session, company)]), media_type=XLSX, headers=headers)


@router.post("/companies/{company_id}/tags/import", response_model=TagImportReport)
def import_firm_tags(
    request: Request,
    session: ApiSession,
    company_id: int,
    file: Annotated[UploadFile, File()],
    commit: bool = False,
) -> TagImportReport:
    """Check an Excel/CSV file of the firm's tags (errors by sheet, row and column); with ``commit=true`` also
    write its good rows. A plain ``def``: the file is parsed in the thread pool, never on the event loop."""
    company = service.get(session, Company, company_id)
    limits = ReadLimits.registry(get_settings(request))
    content, name = file.file.read(), file.filename or "upload.csv"
    return import_tags(session, company, content, name, commit=commit, limits=limits)


def _hierarchy_routes(
    model: type[Base],
    path: str,
    parent_path: str,
    parent_param: str,
    item_param: str,
    schema_in: type[BaseModel],
    schema_patch: type[BaseModel],
    schema_out: type[BaseModel],
) -> None:
    """List/create under the parent, get/patch/delete by id: the same five routes for each level.

    Annotations here are evaluated eagerly (no ``from __future__ import annotations`` in this module),
    so the path aliases and schemas built per level reach FastAPI.
    """
    ParentId = Annotated[int, Path(alias=parent_param)]  # noqa: N806 - a type alias
    ItemId = Annotated[int, Path(alias=item_param)]  # noqa: N806
    out: Any = schema_out

    def list_children(session: ApiSession, parent_id: ParentId) -> list[Any]:
        return [out.model_validate(r) for r in service.children(session, model, parent_id)]

    def create(session: ApiSession, parent_id: ParentId, data: schema_in) -> Any:  # type: ignore[valid-type]
        return out.model_validate(service.create_child(session, model, parent_id, data))

    def read(session: ApiSession, ident: ItemId) -> Any:
        return out.model_validate(service.get(session, model, ident))

    def update(session: ApiSession, ident: ItemId, patch: schema_patch) -> Any:  # type: ignore[valid-type]
        return out.model_validate(service.update_row(session, service.get(session, model, ident), patch))

    def delete(session: ApiSession, ident: ItemId) -> None:
        service.delete_row(session, service.get(session, model, ident))

    name = model.__name__.lower()
    under_parent = f"/{parent_path}/{{{parent_param}}}/{path}"
    by_id = f"/{path}/{{{item_param}}}"
    router.add_api_route(under_parent, list_children, methods=["GET"], response_model=list[out], name=f"list_{name}")
    router.add_api_route(
        under_parent, create, methods=["POST"], response_model=out, status_code=201, name=f"create_{name}"
    )
    router.add_api_route(by_id, read, methods=["GET"], response_model=out, name=f"get_{name}")
    router.add_api_route(by_id, update, methods=["PATCH"], response_model=out, name=f"update_{name}")
    router.add_api_route(by_id, delete, methods=["DELETE"], status_code=204, name=f"delete_{name}")


_hierarchy_routes(Site, "sites", "companies", "company_id", "site_id", SiteIn, SitePatch, SiteOut)
_hierarchy_routes(Line, "lines", "sites", "site_id", "line_id", LineIn, LinePatch, LineOut)
_hierarchy_routes(Equipment, "equipment", "lines", "line_id", "equipment_id", EquipmentIn, EquipmentPatch, EquipmentOut)
_hierarchy_routes(Tag, "tags", "equipment", "equipment_id", "tag_id", TagIn, TagPatch, TagOut)
