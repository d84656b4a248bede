"""Pydantic shapes of registry input and output. Validation messages are translatable msgids."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_serializer
from pydantic_core import PydanticCustomError

from smart365.core.i18n import N_
from smart365.core.redact import redact_url
from smart365.registry.brn import brn_is_valid, normalize_brn
from smart365.registry.vocab import (
    DATA_TYPES,
    EQUIPMENT_KINDS,
    PROTOCOLS,
    REVENUE_BANDS,
    SYSTEMS,
    region_code,
)


def invalid(message: str, **params: Any) -> PydanticCustomError:
    """A validation error whose message is a msgid, translated where it is shown (``field_reason``)."""
    return PydanticCustomError("smart365", message, {"msgid": message, **params})


def _brn(value: Any) -> str:
    digits = normalize_brn(str(value))
    if not brn_is_valid(digits):
        raise invalid(N_("Not a valid business registration number (10 digits with a correct check digit)."))
    return digits


def _ksic(value: Any) -> str:
    code = str(value).strip().upper().removeprefix("C")
    if not re.fullmatch(r"\d{2,5}", code) or not 10 <= int(code[:2]) <= 34:
        raise invalid(N_("Not a KSIC manufacturing code (2–5 digits, division 10–34)."))
    return code


def _region(value: Any) -> str:
    code = region_code(str(value))
    if code is None:
        raise invalid(N_("Unknown region (시·도)."))
    return code


def _systems(value: Any) -> list[str]:
    if value is not None and not isinstance(value, str | list | tuple):
        raise invalid(N_("Systems are a list of names, e.g. ERP;MES."))
    items = re.split(r"[;,/\s]+", value) if isinstance(value, str) else list(value or [])
    codes = sorted({str(i).strip().upper() for i in items if str(i).strip()})
    if unknown := [c for c in codes if c not in SYSTEMS]:
        raise invalid(N_("Unknown system: {names}."), names=", ".join(unknown))
    return codes


def _member_of(vocab: dict[str, str], message: str) -> Any:
    def check(value: str) -> str:
        if value not in vocab:
            raise invalid(message)
        return value

    return AfterValidator(check)


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Brn = Annotated[str, BeforeValidator(_brn)]
Ksic = Annotated[str, BeforeValidator(_ksic)]
Region = Annotated[str, BeforeValidator(_region)]
Systems = Annotated[list[str], BeforeValidator(_systems)]
RevenueBand = Annotated[str, _member_of(REVENUE_BANDS, N_("Unknown revenue band."))]
Name = Annotated[str, Field(min_length=1, max_length=200), BeforeValidator(lambda v: str(v).strip())]
Headcount = Annotated[int, Field(ge=0, le=100_000)]
Employees = Annotated[Headcount | None, BeforeValidator(_blank_to_none)]
Year = Annotated[Annotated[int, Field(ge=1990, le=date.today().year)] | None, BeforeValidator(_blank_to_none)]
#: Free texts, no longer than their columns hold (PostgreSQL refuses a longer one; SQLite would keep it).
Text30 = Annotated[str, Field(max_length=30)]
Text100 = Annotated[str, Field(max_length=100)]
Text200 = Annotated[str, Field(max_length=200)]
Text300 = Annotated[str, Field(max_length=300)]


class CompanyIn(BaseModel):
    """A company as created or imported."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "대성정밀 주식회사",
                    "brn": "220-81-62517",
                    "ksic_code": "29280",
                    "region": "경기",
                    "employees": 85,
                    "revenue_band": "10b-50b",
                    "systems": ["ERP", "MES"],
                    "smart_factory_year": 2021,
                }
            ]
        }
    )

    name: Name
    brn: Brn
    ksic_code: Ksic
    region: Region
    address: Text300 | None = None
    employees: Employees = None
    revenue_band: Annotated[RevenueBand | None, BeforeValidator(_blank_to_none)] = None
    systems: Systems = Field(default_factory=list)
    smart_factory_year: Year = None
    sobujang: Annotated[bool | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, description="Override the 소부장 flag derived from the KSIC code; leave empty to derive."
    )


class CompanyPatch(BaseModel):
    """Fields of a company to change; absent fields stay as they are."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"employees": 90, "systems": ["ERP", "MES", "QMS"]}]})

    name: Name | None = None
    ksic_code: Ksic | None = None
    region: Region | None = None
    address: Text300 | None = None
    employees: Employees = None
    revenue_band: RevenueBand | None = None
    systems: Systems | None = None
    smart_factory_year: Year = None
    sobujang: bool | None = None


class CompanyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    brn: str
    ksic_code: str
    sobujang: bool
    sobujang_manual: bool
    region: str
    address: str | None
    employees: int | None
    revenue_band: str | None
    systems: list[str]
    smart_factory_year: int | None


class CompanyPage(BaseModel):
    items: list[CompanyOut]
    total: int
    page: int
    size: int


class SiteIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "제1공장", "address": "경기도 안산시"}]})

    name: Name
    address: Text300 | None = None


class SitePatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"address": "경기도 시흥시"}]})

    name: Name | None = None
    address: Text300 | None = None


class SiteOut(SiteIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: int


class LineIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "가공 1라인", "process": "CNC 가공"}]})

    name: Name
    process: Text200 | None = None


class LinePatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"process": "CNC 정삭"}]})

    name: Name | None = None
    process: Text200 | None = None


class LineOut(LineIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: int
    site_id: int


EquipmentKind = Annotated[str, _member_of(EQUIPMENT_KINDS, N_("Unknown equipment type."))]
Protocol = Annotated[str, _member_of(PROTOCOLS, N_("Unknown protocol."))]
DataType = Annotated[str, _member_of(DATA_TYPES, N_("Unknown data type."))]


class EquipmentIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "MCT-01",
                    "kind": "cnc",
                    "maker": "두산공작기계",
                    "model": "DNM 5700",
                    "year": 2019,
                    "protocol": "opcua",
                    "endpoint": "opc.tcp://127.0.0.1:4840",
                }
            ]
        }
    )

    name: Name
    kind: EquipmentKind = "other"
    maker: Text100 | None = None
    model: Text100 | None = None
    year: Year = None
    protocol: Protocol = "none"
    endpoint: Text300 | None = None


class EquipmentPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"protocol": "modbus"}]})

    name: Name | None = None
    kind: EquipmentKind | None = None
    maker: Text100 | None = None
    model: Text100 | None = None
    year: Year = None
    protocol: Protocol | None = None
    endpoint: Text300 | None = None


class EquipmentOut(EquipmentIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: int
    line_id: int

    @field_serializer("endpoint")
    def _masked(self, endpoint: str | None) -> str | None:
        return redact_url(endpoint)  # the password stays in the registry; a PATCH with the mask keeps it


class TagIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "spindle_load",
                    "display_name": "주축 부하",
                    "unit": "%",
                    "data_type": "float",
                    "address": "ns=2;s=MCT01.SpindleLoad",
                    "min_value": 0,
                    "max_value": 150,
                }
            ]
        }
    )

    name: Name
    display_name: Name | None = None  # what people read; the name stays the machine's own (주축 부하 / spindle_load)
    unit: Text30 | None = None
    data_type: DataType = "float"
    address: Text300 | None = None
    min_value: float | None = None
    max_value: float | None = None


class TagPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"unit": "°C"}]})

    name: Name | None = None
    display_name: Name | None = None
    unit: Text30 | None = None
    data_type: DataType | None = None
    address: Text300 | None = None
    min_value: float | None = None
    max_value: float | None = None


class TagOut(TagIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: int
    equipment_id: int
