"""The survey instrument (진단 도구): a versioned data file loaded, validated and frozen.

The centre publishes an instrument as YAML or JSON (``data/instrument-2026.1.yaml`` is the default). Loading
validates it completely: the structure with JSON Schema, then the meaning (unique ids, known references,
points summing to 1,000, stage descriptors 0..5, increasing thresholds, known evidence hooks, roadmap steps)
and raises :class:`InstrumentError` naming *every* problem at once, so an editor fixes a file in one pass.

>>> instrument = default_instrument()
>>> instrument.version, len(instrument.items), len(instrument.domains), instrument.thresholds
('2026.1', 42, 10, (150.0, 350.0, 550.0, 750.0, 950.0))
>>> round(float(instrument.item_weight.sum()), 6)
1000.0
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import jsonschema
import numpy as np
import numpy.typing as npt
import yaml

from smart365.core.errors import Invalid
from smart365.core.i18n import N_

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
DEFAULT_INSTRUMENT: Final = DATA_DIR / "instrument-2026.1.yaml"

#: The points every instrument distributes over its areas.
TOTAL_POINTS: Final = 1000.0
#: Answer stages; stage k means the same as level k.
STAGES: Final = tuple(range(6))
#: Evidence providers that exist in Smart365 (an instrument may only name these).
EVIDENCE_HOOKS: Final = frozenset({
    "equipment_connectivity", "oee_coverage", "alarm_handling", "spc_in_use", "maintenance_model",
    "mes_results",
})
#: Roadmap transitions every item must have a step for (its own or its domain's).
REQUIRED_TRANSITIONS: Final = (0, 1, 2, 3)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class InstrumentError(Invalid):
    """An instrument file that cannot be used; ``problems`` names every mistake found.

    >>> str(InstrumentError(["a", "b"]))
    'The instrument is not valid (2 problems): a; b'
    """

    code = "invalid_instrument"
    default_message = N_("The instrument is not valid ({count} problems): {problems}")

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(count=len(self.problems), problems="; ".join(self.problems))


@dataclass(frozen=True)
class Text:
    """A user-facing text in Korean and English."""

    ko: str
    en: str

    def in_(self, locale: str) -> str:
        """The text in ``locale`` (Korean unless English is asked for).

        >>> Text("설비", "equipment").in_("en")
        'equipment'
        """
        return self.en if locale == "en" else self.ko

    def as_dict(self) -> dict[str, str]:
        return {"ko": self.ko, "en": self.en}


@dataclass(frozen=True)
class Level:
    level: int
    name: Text
    description: Text | None


@dataclass(frozen=True)
class Area:
    id: str
    name: Text
    points: float


@dataclass(frozen=True)
class Step:
    """A concrete roadmap step from one stage to the next, with a rough effort in weeks."""

    from_stage: int
    text: Text
    weeks: float


@dataclass(frozen=True)
class Domain:
    id: str
    area: str
    name: Text
    weight: float
    steps: Mapping[int, Step]


@dataclass(frozen=True)
class Evidence:
    """An evidence provider that proposes a measured stage for an item."""

    hook: str
    rule: Text | None
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Item:
    id: str
    domain: str
    name: Text
    question: Text
    stages: tuple[Text, ...]
    weight: float
    evidence: Evidence | None
    steps: Mapping[int, Step]


@dataclass(frozen=True)
class Gating:
    """Level rules 2 and 3: from ``from_level`` on, the systems area may lag the level by at most
    ``area_lag`` and no domain by more than ``domain_lag``."""

    from_level: int
    systems_area: str
    area_lag: float
    domain_lag: float


@dataclass(frozen=True)
class EvidencePolicy:
    """How a measured stage combines with the self-reported one: ``use`` is lower | measured | self."""

    use: str
    flag_gap: float


@dataclass(frozen=True)
class KpiLink:
    """A performance item and the items whose improvement moves that KPI."""

    kpi: str
    domains: tuple[str, ...]
    items: tuple[str, ...]
    why: Text | None


@dataclass(frozen=True, eq=False)
class Instrument:
    """A loaded, validated instrument with precomputed (read-only) arrays for vectorised scoring.

    ``item_weight[i]`` is item *i*'s points when everything is applicable, ``item_domain[i]`` its domain's
    index, ``domain_area[d]`` the area index of domain *d*; ``kpi_matrix[k, i]`` is true when item *i* is
    linked to KPI ``kpi_links[k]``. Items are ordered by domain and domains by area, so each domain's items
    (each area's domains) are contiguous and start at ``domain_start[d]`` (``area_start[a]``).
    """

    version: str
    title: Text
    levels: tuple[Level, ...]
    areas: tuple[Area, ...]
    domains: tuple[Domain, ...]
    items: tuple[Item, ...]
    thresholds: tuple[float, ...]
    gating: Gating
    target_level: int
    evidence_policy: EvidencePolicy
    kpi_links: tuple[KpiLink, ...]
    item_weight: FloatArray
    item_domain: IntArray
    domain_area: IntArray
    domain_start: IntArray
    area_start: IntArray
    domain_points: FloatArray
    area_points: FloatArray
    systems_area_index: int
    kpi_matrix: npt.NDArray[np.bool_]

    @cached_property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    @cached_property
    def domain_ids(self) -> tuple[str, ...]:
        return tuple(domain.id for domain in self.domains)

    @cached_property
    def area_ids(self) -> tuple[str, ...]:
        return tuple(area.id for area in self.areas)

    @cached_property
    def kpi_ids(self) -> tuple[str, ...]:
        return tuple(link.kpi for link in self.kpi_links)

    @cached_property
    def _item_positions(self) -> Mapping[str, int]:
        return MappingProxyType({item_id: i for i, item_id in enumerate(self.item_ids)})

    def item_index(self, item_id: str) -> int:
        """Position of ``item_id`` in the stage matrix columns (``KeyError`` if unknown).

        >>> default_instrument().item_index("KPI.6")
        41
        """
        return self._item_positions[item_id]

    def domain(self, domain_id: str) -> Domain:
        return self.domains[self.domain_ids.index(domain_id)]

    def level_name(self, level: int) -> Text:
        return self.levels[level].name

    def step(self, item_id: str, from_stage: int) -> Step | None:
        """The roadmap step of ``item_id`` from ``from_stage`` to the next (its own, else its domain's).

        >>> default_instrument().step("CTL.4", 1).text.en
        'Connect 80 % or more of machines via OPC UA or MQTT'
        """
        item = self.items[self.item_index(item_id)]
        return item.steps.get(from_stage) or self.domain(item.domain).steps.get(from_stage)


# --------------------------------------------------------------------------- schema (structure)

_TEXT: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["ko", "en"],
    "additionalProperties": False,
    "properties": {"ko": {"type": "string", "pattern": r"\S"}, "en": {"type": "string", "pattern": r"\S"}},
}
_ID: Final[dict[str, Any]] = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.-]*$"}
_STEP: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["ko", "en", "weeks"],
    "additionalProperties": False,
    "properties": {
        "ko": _TEXT["properties"]["ko"],
        "en": _TEXT["properties"]["en"],
        "weeks": {"type": "number", "exclusiveMinimum": 0},
    },
}
_STEPS: Final[dict[str, Any]] = {"type": "object", "additionalProperties": _STEP}
_WEIGHT: Final[dict[str, Any]] = {"type": "number", "exclusiveMinimum": 0}

SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "title", "levels", "thresholds", "gating", "target_level", "areas", "domains",
                 "items"],
    "additionalProperties": False,
    "properties": {
        "version": {"type": "string", "minLength": 1},
        "title": _TEXT,
        "levels": {"type": "array", "minItems": 2, "items": {
            "type": "object", "required": ["level", "ko", "en"], "additionalProperties": False,
            "properties": {"level": {"type": "integer"}, "ko": _TEXT["properties"]["ko"],
                           "en": _TEXT["properties"]["en"], "description": _TEXT}}},
        "thresholds": {"type": "array", "items": {"type": "number"}},
        "gating": {"type": "object", "required": ["from_level", "systems_area", "area_lag", "domain_lag"],
                   "additionalProperties": False,
                   "properties": {"from_level": {"type": "integer", "minimum": 1, "maximum": 5},
                                  "systems_area": {"type": "string"},
                                  "area_lag": {"type": "number", "minimum": 0},
                                  "domain_lag": {"type": "number", "minimum": 0}}},
        "target_level": {"type": "integer", "minimum": 1, "maximum": 5},
        "evidence_policy": {"type": "object", "additionalProperties": False,
                            "properties": {"use": {"enum": ["lower", "measured", "self"]},
                                           "flag_gap": {"type": "number", "minimum": 0}}},
        "areas": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "ko", "en", "points"], "additionalProperties": False,
            "properties": {"id": _ID, "ko": _TEXT["properties"]["ko"], "en": _TEXT["properties"]["en"],
                           "points": {"type": "number", "exclusiveMinimum": 0}}}},
        "domains": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "area", "ko", "en"], "additionalProperties": False,
            "properties": {"id": _ID, "area": {"type": "string"}, "ko": _TEXT["properties"]["ko"],
                           "en": _TEXT["properties"]["en"], "weight": _WEIGHT, "steps": _STEPS}}},
        "items": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "domain", "ko", "en", "question", "stages"],
            "additionalProperties": False,
            "properties": {
                "id": _ID, "domain": {"type": "string"}, "ko": _TEXT["properties"]["ko"],
                "en": _TEXT["properties"]["en"], "question": _TEXT,
                "stages": {"type": "object", "additionalProperties": _TEXT},
                "weight": _WEIGHT, "steps": _STEPS,
                "evidence": {"type": "object", "required": ["hook"], "additionalProperties": False,
                             "properties": {"hook": {"type": "string"}, "rule": _TEXT,
                                            "params": {"type": "object"}}}}}},
        "kpi_links": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {"domains": {"type": "array", "items": {"type": "string"}},
                           "items": {"type": "array", "items": {"type": "string"}}, "why": _TEXT}}},
    },
}


# --------------------------------------------------------------------------- loading


def load_instrument(path: str | Path | None = None) -> Instrument:
    """Load and validate an instrument file (``.yaml``/``.yml`` or ``.json``); the default when ``None``.

    >>> load_instrument().items[0].name.ko
    '리더십'
    """
    if path is None:
        return default_instrument()
    return parse_instrument(_read_file(Path(path)))


@cache
def default_instrument() -> Instrument:
    """The instrument Smart365 ships (cached: it is immutable)."""
    return parse_instrument(_read_file(DEFAULT_INSTRUMENT))


def parse_instrument(data: Any) -> Instrument:
    """Validate already-parsed instrument data and build the :class:`Instrument`.

    >>> try:
    ...     parse_instrument({"version": "x"})
    ... except InstrumentError as error:
    ...     print(len(error.problems), error.problems[0])
    8 instrument: 'title' is a required property
    """
    data = _string_keys(data)
    problems = validate_instrument(data)
    if problems:
        raise InstrumentError(problems)
    return _build(data)


def validate_instrument(data: Any) -> list[str]:
    """Every problem of ``data`` (structure first, then meaning); empty when the instrument is usable.

    >>> problems = validate_instrument({"version": "x", "title": {"ko": "가", "en": ""}})
    >>> len(problems), [p for p in problems if p.startswith("title")]
    (8, ['title.en: text is empty'])
    """
    data = _string_keys(data)
    problems = [_schema_message(data, error) for error in _validator().iter_errors(data)]
    if isinstance(data, dict):
        problems.extend(_semantic_problems(data))
    return problems


def _read_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstrumentError([f"{path}: cannot be read ({exc.strerror or exc})"]) from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise InstrumentError([f"{path}: not valid {kind}: {exc}"]) from exc


def _string_keys(value: Any) -> Any:
    """YAML reads ``0:`` as an int key; JSON cannot. Normalise every mapping key to a string."""
    if isinstance(value, dict):
        return {str(key): _string_keys(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_string_keys(inner) for inner in value]
    return value


@cache
def _validator() -> jsonschema.protocols.Validator:
    validator_class = jsonschema.validators.validator_for(SCHEMA)
    validator_class.check_schema(SCHEMA)
    return validator_class(SCHEMA)


def _schema_message(data: Any, error: jsonschema.ValidationError) -> str:
    where = _where(data, list(error.absolute_path))
    if error.validator == "pattern" and error.validator_value == r"\S":
        return f"{where}: text is empty"
    return f"{where}: {error.message}"


def _where(data: Any, path: list[str | int]) -> str:
    """A readable location: ``items[STR.2].question`` rather than ``items/1/question``."""
    parts: list[str] = []
    node = data
    for key in path:
        if isinstance(key, int) and isinstance(node, list):
            node = node[key] if key < len(node) else None
            label = node.get("id") if isinstance(node, dict) else None
            label = node.get("level", label) if isinstance(node, dict) and label is None else label
            parts.append(f"[{label if label is not None else key}]")
        else:
            node = node.get(key) if isinstance(node, dict) else None
            parts.append(f".{key}" if parts else str(key))
    return "".join(parts) or "instrument"


# --------------------------------------------------------------------------- semantic checks


def _entries(data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """The well-formed entries of a list (dicts with a string id); the schema reports the others."""
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict) and isinstance(entry.get("id"), str)]


def _semantic_problems(data: Mapping[str, Any]) -> Iterator[str]:
    areas, domains, items = _entries(data, "areas"), _entries(data, "domains"), _entries(data, "items")
    for key, entries in (("areas", areas), ("domains", domains), ("items", items)):
        for ident, count in Counter(entry["id"] for entry in entries).items():
            if count > 1:
                yield f"{key}[{ident}]: duplicate id ({count} times)"
    yield from _check_references(areas, domains, items)
    yield from _check_points(areas)
    yield from _check_levels(data)
    yield from _check_gating(data, {area["id"] for area in areas})
    for item in items:
        yield from _check_stages(item)
        yield from _check_evidence(item)
    yield from _check_steps(domains, items)
    yield from _check_kpi_links(data, {d["id"] for d in domains}, {i["id"] for i in items})


def _check_references(
    areas: list[dict[str, Any]], domains: list[dict[str, Any]], items: list[dict[str, Any]]
) -> Iterator[str]:
    area_ids = {area["id"] for area in areas}
    domain_ids = {domain["id"] for domain in domains}
    for domain in domains:
        if isinstance(domain.get("area"), str) and domain["area"] not in area_ids:
            yield f"domains[{domain['id']}]: unknown area '{domain['area']}'"
    for item in items:
        if isinstance(item.get("domain"), str) and item["domain"] not in domain_ids:
            yield f"items[{item['id']}]: unknown domain '{item['domain']}'"
    used_areas = {domain.get("area") for domain in domains}
    used_domains = {item.get("domain") for item in items}
    for area_id in sorted(area_ids - used_areas):
        yield f"areas[{area_id}]: has no domains"
    for domain_id in sorted(domain_ids - used_domains):
        yield f"domains[{domain_id}]: has no items"


def _check_points(areas: list[dict[str, Any]]) -> Iterator[str]:
    points = [area.get("points") for area in areas]
    if areas and all(isinstance(p, int | float) for p in points):
        total = float(sum(points))  # type: ignore[arg-type]
        if abs(total - TOTAL_POINTS) > 1e-6:
            yield f"areas: points sum to {total:g}, not {TOTAL_POINTS:g}"


def _check_levels(data: Mapping[str, Any]) -> Iterator[str]:
    levels = data.get("levels")
    numbers = [lv.get("level") for lv in levels if isinstance(lv, dict)] if isinstance(levels, list) else []
    if numbers and sorted(n for n in numbers if isinstance(n, int)) != list(STAGES):
        yield f"levels: must be exactly 0..5 once each, found {numbers}"
    thresholds = data.get("thresholds")
    if not isinstance(thresholds, list) or not all(isinstance(t, int | float) for t in thresholds):
        return
    if len(thresholds) != len(STAGES) - 1:
        yield f"thresholds: need {len(STAGES) - 1} (one for each level 1..5), found {len(thresholds)}"
    if any(b <= a for a, b in pairwise(thresholds)):
        yield f"thresholds: must be strictly increasing, found {thresholds}"
    if any(not 0 < t <= TOTAL_POINTS for t in thresholds):
        yield f"thresholds: must lie in (0, {TOTAL_POINTS:g}], found {thresholds}"


def _check_gating(data: Mapping[str, Any], area_ids: set[str]) -> Iterator[str]:
    gating = data.get("gating")
    area = gating.get("systems_area") if isinstance(gating, dict) else None
    if isinstance(area, str) and area not in area_ids:
        yield f"gating.systems_area: unknown area '{area}'"


def _check_stages(item: dict[str, Any]) -> Iterator[str]:
    stages = item.get("stages")
    if not isinstance(stages, dict):
        return
    expected = {str(stage) for stage in STAGES}
    missing = sorted(expected - set(stages))
    extra = sorted(set(stages) - expected)
    if missing:
        yield f"items[{item['id']}].stages: no descriptor for stage {', '.join(missing)} (need 0..5)"
    if extra:
        yield f"items[{item['id']}].stages: {', '.join(extra)} is not a stage 0..5"


def _check_evidence(item: dict[str, Any]) -> Iterator[str]:
    evidence = item.get("evidence")
    hook = evidence.get("hook") if isinstance(evidence, dict) else None
    if isinstance(hook, str) and hook not in EVIDENCE_HOOKS:
        yield (f"items[{item['id']}].evidence: unknown evidence hook '{hook}' "
               f"(known: {', '.join(sorted(EVIDENCE_HOOKS))})")


def _transition(key: str) -> int | None:
    """``'2-3'`` → 2; anything but ``k-(k+1)`` for k in 0..4 → ``None``."""
    head, _, tail = key.partition("-")
    if head.isdigit() and tail.isdigit() and int(tail) == int(head) + 1 and int(head) in STAGES[:-1]:
        return int(head)
    return None


def _step_keys(entry: Mapping[str, Any]) -> list[str]:
    steps = entry.get("steps")
    return list(steps) if isinstance(steps, dict) else []


def _check_steps(domains: list[dict[str, Any]], items: list[dict[str, Any]]) -> Iterator[str]:
    for kind, entries in (("domains", domains), ("items", items)):
        for entry in entries:
            for key in _step_keys(entry):
                if _transition(key) is None:
                    yield f"{kind}[{entry['id']}].steps: '{key}' is not a transition like '2-3'"
    domain_steps = {d["id"]: {_transition(k) for k in _step_keys(d)} for d in domains}
    for item in (i for i in items if isinstance(i.get("domain"), str)):
        own = {_transition(k) for k in _step_keys(item)}
        covered = own | domain_steps.get(str(item.get("domain")), set())
        for stage in REQUIRED_TRANSITIONS:
            if stage not in covered:
                yield (f"items[{item['id']}]: no roadmap step for {stage}-{stage + 1} "
                       f"(neither the item nor domain {item.get('domain')} has one)")


def _check_kpi_links(data: Mapping[str, Any], domain_ids: set[str], item_ids: set[str]) -> Iterator[str]:
    links = data.get("kpi_links")
    if not isinstance(links, dict):
        return
    for kpi, link in links.items():
        if kpi not in item_ids:
            yield f"kpi_links.{kpi}: not an item id"
        if not isinstance(link, dict):
            continue
        for key, known in (("domains", domain_ids), ("items", item_ids)):
            listed = link.get(key)
            for ident in listed if isinstance(listed, list) else []:
                if ident not in known:
                    yield f"kpi_links.{kpi}.{key}: unknown {key[:-1]} '{ident}'"


# --------------------------------------------------------------------------- building


def _text(entry: Mapping[str, Any]) -> Text:
    return Text(ko=str(entry["ko"]).strip(), en=str(entry["en"]).strip())


def _steps(entry: Mapping[str, Any]) -> Mapping[int, Step]:
    steps = {}
    for key, raw in (entry.get("steps") or {}).items():
        stage = _transition(key)
        assert stage is not None  # validated
        steps[stage] = Step(from_stage=stage, text=_text(raw), weeks=float(raw["weeks"]))
    return MappingProxyType(dict(sorted(steps.items())))


def _item(raw: Mapping[str, Any]) -> Item:
    evidence = raw.get("evidence")
    return Item(
        id=raw["id"], domain=raw["domain"], name=_text(raw), question=_text(raw["question"]),
        stages=tuple(_text(raw["stages"][str(stage)]) for stage in STAGES),
        weight=float(raw.get("weight", 1.0)),
        evidence=None if evidence is None else Evidence(
            hook=evidence["hook"], rule=_text(evidence["rule"]) if "rule" in evidence else None,
            params=MappingProxyType(dict(evidence.get("params") or {}))),
        steps=_steps(raw),
    )


def _kpi_link(kpi: str, raw: Mapping[str, Any]) -> KpiLink:
    return KpiLink(kpi=kpi, domains=tuple(raw.get("domains") or ()), items=tuple(raw.get("items") or ()),
                   why=_text(raw["why"]) if "why" in raw else None)


def _build(data: Mapping[str, Any]) -> Instrument:
    areas = tuple(Area(id=a["id"], name=_text(a), points=float(a["points"])) for a in data["areas"])
    # Domains and items are kept grouped in area/domain order so that column order is stable.
    domains = tuple(sorted(
        (Domain(id=d["id"], area=d["area"], name=_text(d), weight=float(d.get("weight", 1.0)),
                steps=_steps(d)) for d in data["domains"]),
        key=lambda d: [a.id for a in areas].index(d.area)))
    domain_order = [d.id for d in domains]
    items = tuple(sorted((_item(i) for i in data["items"]), key=lambda i: domain_order.index(i.domain)))
    levels = tuple(sorted((Level(level=lv["level"], name=_text(lv),
                                 description=_text(lv["description"]) if "description" in lv else None)
                           for lv in data["levels"]), key=lambda lv: lv.level))
    gating = data["gating"]
    policy = data.get("evidence_policy") or {}
    links = tuple(_kpi_link(kpi, raw) for kpi, raw in (data.get("kpi_links") or {}).items())
    arrays = _arrays(areas, domains, items, links)
    return Instrument(
        version=str(data["version"]), title=_text(data["title"]), levels=levels, areas=areas,
        domains=domains, items=items, thresholds=tuple(float(t) for t in data["thresholds"]),
        gating=Gating(from_level=int(gating["from_level"]), systems_area=gating["systems_area"],
                      area_lag=float(gating["area_lag"]), domain_lag=float(gating["domain_lag"])),
        target_level=int(data["target_level"]),
        evidence_policy=EvidencePolicy(use=policy.get("use", "lower"),
                                       flag_gap=float(policy.get("flag_gap", 2))),
        kpi_links=links, systems_area_index=[a.id for a in areas].index(gating["systems_area"]), **arrays,
    )


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


def _arrays(
    areas: tuple[Area, ...], domains: tuple[Domain, ...], items: tuple[Item, ...], links: tuple[KpiLink, ...]
) -> dict[str, npt.NDArray[Any]]:
    """Base weights: an area's points split over its domains, a domain's over its items (relative weights)."""
    area_ids = [a.id for a in areas]
    domain_ids = [d.id for d in domains]
    item_ids = [i.id for i in items]
    domain_area = np.array([area_ids.index(d.area) for d in domains], dtype=np.intp)
    item_domain = np.array([domain_ids.index(i.domain) for i in items], dtype=np.intp)
    area_points = np.array([a.points for a in areas], dtype=np.float64)
    domain_rel = np.array([d.weight for d in domains], dtype=np.float64)
    domain_points = area_points[domain_area] * domain_rel / np.bincount(domain_area, domain_rel)[domain_area]
    item_rel = np.array([i.weight for i in items], dtype=np.float64)
    item_weight = domain_points[item_domain] * item_rel / np.bincount(item_domain, item_rel)[item_domain]
    kpi_matrix = np.zeros((len(links), len(items)), dtype=np.bool_)
    for row, link in enumerate(links):
        linked = set(link.items) | {link.kpi}
        kpi_matrix[row] = [i.id in linked or i.domain in link.domains for i in items]
        assert all(i in item_ids for i in linked)  # validated
    return {"item_weight": _frozen(item_weight), "item_domain": _frozen(item_domain),
            "domain_area": _frozen(domain_area), "domain_points": _frozen(domain_points),
            "domain_start": _frozen(np.searchsorted(item_domain, np.arange(len(domains)))),
            "area_start": _frozen(np.searchsorted(domain_area, np.arange(len(areas)))),
            "area_points": _frozen(area_points), "kpi_matrix": _frozen(kpi_matrix)}
