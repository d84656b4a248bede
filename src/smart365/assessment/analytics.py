"""Population analytics of a campaign: level distributions, the domain heat-map, movement, Excel export.

Everything works on :class:`FirmResult` rows (one submitted response per firm, scored once with the
vectorised scorer), so the same functions serve the pages, the export and tests on hand-made populations.
Queries run in the caller's scoped session: a consultant's analytics cover its own firms only.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.assessment.campaigns import SIZE_BANDS, size_band
from smart365.assessment.instrument import Instrument
from smart365.assessment.models import Campaign, CampaignMember, SurveyResponse, SurveyStatus
from smart365.assessment.scoring import score
from smart365.assessment.service import instrument_for, stage_row
from smart365.core.i18n import N_, gettext
from smart365.registry.models import Company
from smart365.registry.vocab import REGIONS

#: KSIC manufacturing divisions (중분류, C10–C34), code → English msgid.
KSIC_DIVISIONS: dict[str, str] = {
    "10": N_("Food products"),
    "11": N_("Beverages"),
    "12": N_("Tobacco products"),
    "13": N_("Textiles"),
    "14": N_("Wearing apparel"),
    "15": N_("Leather and footwear"),
    "16": N_("Wood products"),
    "17": N_("Pulp and paper"),
    "18": N_("Printing"),
    "19": N_("Coke and refined petroleum"),
    "20": N_("Chemicals"),
    "21": N_("Pharmaceuticals"),
    "22": N_("Rubber and plastics"),
    "23": N_("Non-metallic minerals"),
    "24": N_("Basic metals"),
    "25": N_("Fabricated metal products"),
    "26": N_("Electronic components and computers"),
    "27": N_("Medical and precision instruments"),
    "28": N_("Electrical equipment"),
    "29": N_("Machinery and equipment"),
    "30": N_("Motor vehicles and parts"),
    "31": N_("Other transport equipment"),
    "32": N_("Furniture"),
    "33": N_("Other manufacturing"),
    "34": N_("Repair of industrial machinery"),
}
#: Groupings of the population, key → English msgid of the heading.
GROUPINGS: dict[str, str] = {
    "industry": N_("By industry (KSIC division)"),
    "region": N_("By region"),
    "size": N_("By size"),
    "sobujang": N_("소부장 vs other firms"),
}
UNKNOWN = "unknown"


@dataclass(frozen=True)
class FirmResult:
    """One firm's submitted response in a campaign, with its profile and domain stages (NaN = dropped)."""

    company_id: int
    name: str
    brn: str
    ksic_code: str
    region: str
    employees: int | None
    sobujang: bool
    level: int
    total: float
    answers: dict[str, int | None] = field(default_factory=dict)
    domain_stage: tuple[float, ...] = ()


def campaign_results(session: Session, campaign: Campaign) -> list[FirmResult]:
    """The campaign's submitted responses the principal sees, scored once, by firm name."""
    query = (
        select(Company, SurveyResponse)
        .join(CampaignMember, CampaignMember.company_id == Company.id)
        .join(SurveyResponse, SurveyResponse.id == CampaignMember.response_id)
        .where(CampaignMember.campaign_id == campaign.id, SurveyResponse.status == SurveyStatus.SUBMITTED)
        .order_by(Company.name, Company.id)
    )
    pairs = list(session.execute(query))
    return results_from(instrument_for(campaign.instrument_version), pairs)


def results_from(instrument: Instrument, pairs: Sequence[tuple[Company, SurveyResponse]]) -> list[FirmResult]:
    """Score ``(company, response)`` pairs in one vectorised call and keep what the analytics need."""
    if not pairs:
        return []
    stages = np.vstack([stage_row(instrument, response.answers) for _company, response in pairs])
    scores = score(instrument, stages)
    return [
        FirmResult(
            company_id=company.id,
            name=company.name,
            brn=company.brn,
            ksic_code=company.ksic_code,
            region=company.region,
            employees=company.employees,
            sobujang=company.sobujang,
            level=int(scores.level[row]),
            total=float(scores.total[row]),
            answers=dict(response.answers),
            domain_stage=tuple(scores.domain_stage[row].tolist()),
        )
        for row, (company, response) in enumerate(pairs)
    ]


# --------------------------------------------------------------------------- groups


def group_of(result: FirmResult, by: str) -> str:
    """The group code of a firm under a grouping.

    >>> firm = FirmResult(1, "A", "1018600011", "29229", "gyeonggi", 45, True, 1, 300.0)
    >>> [group_of(firm, by) for by in ("industry", "region", "size", "sobujang")]
    ['29', 'gyeonggi', '10-49', 'sobujang']
    """
    if by == "industry":
        return result.ksic_code.upper().removeprefix("C")[:2]
    if by == "region":
        return result.region
    if by == "size":
        return size_band(result.employees) or UNKNOWN
    if by == "sobujang":
        return "sobujang" if result.sobujang else "other"
    raise ValueError(f"unknown grouping {by!r}")


def group_label(by: str, code: str) -> str:
    """A group code as readers see it, in the current language (e.g. ``C29 기타 기계·장비``)."""
    if code == UNKNOWN:
        return gettext(N_("Unknown"))
    if by == "industry":
        return f"C{code} {gettext(KSIC_DIVISIONS[code])}" if code in KSIC_DIVISIONS else f"C{code}"
    if by == "region":
        return gettext(REGIONS.get(code, code))
    if by == "size":
        return gettext(SIZE_BANDS[code][2])
    return gettext(N_("소부장")) if code == "sobujang" else gettext(N_("Other firms"))


def _group_order(by: str, codes: Iterable[str]) -> list[str]:
    """Groups in a reader's order: sizes small to large, 소부장 first, others by code."""
    order: dict[str, list[str]] = {"size": list(SIZE_BANDS), "sobujang": ["sobujang", "other"]}
    known = order.get(by)
    present = set(codes)
    if known is None:
        return sorted(present - {UNKNOWN}) + ([UNKNOWN] if UNKNOWN in present else [])
    return [c for c in known if c in present] + ([UNKNOWN] if UNKNOWN in present else [])


def level_distribution(results: Sequence[FirmResult], by: str | None = None, levels: int = 6) -> dict[str, list[int]]:
    """Firms per level (index 0..levels-1), overall (key ``"all"``) or per group of ``by``.

    >>> firms = [FirmResult(i, "f", "b", k, "seoul", 20, s, lv, 0.0)
    ...          for i, (k, s, lv) in enumerate([("29229", True, 1), ("10711", False, 2), ("29280", True, 1)])]
    >>> level_distribution(firms)
    {'all': [0, 2, 1, 0, 0, 0]}
    >>> level_distribution(firms, "sobujang")
    {'sobujang': [0, 2, 0, 0, 0, 0], 'other': [0, 0, 1, 0, 0, 0]}
    """
    key: Callable[[FirmResult], str] = (lambda r: "all") if by is None else (lambda r: group_of(r, by))
    counts: dict[str, list[int]] = {}
    for result in results:
        counts.setdefault(key(result), [0] * levels)[result.level] += 1
    return {code: counts[code] for code in (["all"] if by is None else _group_order(by, counts)) if code in counts}


@dataclass(frozen=True)
class Heatmap:
    """Mean domain stage per group: ``values[g][d]`` for ``groups[g]`` × ``domains[d]`` (``None`` = no data)."""

    groups: list[str]
    domains: list[str]
    values: list[list[float | None]]
    firms: list[int]


def domain_heatmap(instrument: Instrument, results: Sequence[FirmResult], by: str) -> Heatmap:
    """Group × domain mean stage (N/A-dropped domains left out of each mean), rounded to 0.01.

    >>> from smart365.assessment.instrument import default_instrument
    >>> inst = default_instrument()
    >>> firms = [FirmResult(1, "a", "b", "29229", "seoul", 20, True, 1, 0.0, domain_stage=(1.0,) * 10),
    ...          FirmResult(2, "c", "d", "29280", "seoul", 20, True, 2, 0.0, domain_stage=(2.0,) * 10)]
    >>> domain_heatmap(inst, firms, "industry").values[0][:2]
    [1.5, 1.5]
    """
    groups: dict[str, list[tuple[float, ...]]] = {}
    for result in results:
        groups.setdefault(group_of(result, by), []).append(result.domain_stage)
    order = _group_order(by, groups)
    values = []
    for code in order:
        matrix = np.array(groups[code], dtype=np.float64)
        with warnings.catch_warnings():  # a domain N/A for a whole group is expected, not a problem
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(matrix, axis=0)
        values.append([None if np.isnan(v) else round(float(v), 2) for v in means])
    return Heatmap(order, list(instrument.domain_ids), values, [len(groups[c]) for c in order])


# --------------------------------------------------------------------------- movement


@dataclass(frozen=True)
class Move:
    company_id: int
    name: str
    before: int
    after: int


@dataclass(frozen=True)
class Movement:
    """Firms answering both campaigns, split by how their level moved; plus those in only one."""

    climbed: list[Move]
    stalled: list[Move]
    dropped: list[Move]
    only_before: int
    only_after: int

    def counts(self) -> dict[str, int]:
        return {"climbed": len(self.climbed), "stalled": len(self.stalled), "dropped": len(self.dropped)}


def movement(before: Sequence[FirmResult], after: Sequence[FirmResult]) -> Movement:
    """Compare two campaigns firm by firm.

    >>> a = [FirmResult(i, str(i), "b", "29229", "seoul", 20, True, lv, 0.0) for i, lv in [(1, 1), (2, 2), (3, 2)]]
    >>> b = [FirmResult(i, str(i), "b", "29229", "seoul", 20, True, lv, 0.0) for i, lv in [(1, 2), (2, 2), (4, 1)]]
    >>> m = movement(a, b)
    >>> m.counts(), m.only_before, m.only_after
    ({'climbed': 1, 'stalled': 1, 'dropped': 0}, 1, 1)
    """
    earlier = {r.company_id: r for r in before}
    later = {r.company_id: r for r in after}
    moves = [Move(cid, later[cid].name, earlier[cid].level, later[cid].level) for cid in later if cid in earlier]
    moves.sort(key=lambda m: (-(m.after - m.before), m.name))
    return Movement(
        climbed=[m for m in moves if m.after > m.before],
        stalled=[m for m in moves if m.after == m.before],
        dropped=[m for m in moves if m.after < m.before],
        only_before=len(earlier.keys() - later.keys()),
        only_after=len(later.keys() - earlier.keys()),
    )


# --------------------------------------------------------------------------- export


def export_workbook(instrument: Instrument, campaign: Campaign, results: Sequence[FirmResult]) -> bytes:
    """An Excel workbook: one row per firm (level, total, domain stages, answers) and the distributions.

    The ``responses`` sheet uses the response file format (``company_id``, ``brn``, item columns), so
    it imports back into a campaign unchanged.
    """
    book = Workbook(write_only=True)
    _firm_sheet(book, instrument, results)
    _responses_sheet(book, instrument, results)
    _levels_sheet(book, results)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _firm_sheet(book: Workbook, instrument: Instrument, results: Sequence[FirmResult]) -> None:
    sheet = book.create_sheet("firms")
    header = ["company_id", "name", "brn", "ksic_code", "region", "employees", "sobujang", "level", "total"]
    sheet.append(header + [f"stage {d}" for d in instrument.domain_ids])
    for r in results:
        stages = [None if np.isnan(s) else round(s, 2) for s in r.domain_stage]
        row = [r.company_id, r.name, r.brn, r.ksic_code, r.region, r.employees, "Y" if r.sobujang else "N"]
        sheet.append([*row, r.level, round(r.total, 1), *stages])


def _responses_sheet(book: Workbook, instrument: Instrument, results: Sequence[FirmResult]) -> None:
    sheet = book.create_sheet("responses")
    sheet.append(["company_id", "brn", *instrument.item_ids])
    for r in results:
        sheet.append([r.company_id, r.brn, *(r.answers.get(i) for i in instrument.item_ids)])


def _levels_sheet(book: Workbook, results: Sequence[FirmResult]) -> None:
    sheet = book.create_sheet("levels")
    sheet.append(["grouping", "group", *(f"L{lv}" for lv in range(6)), "firms"])
    for by in (None, *GROUPINGS):
        for code, counts in level_distribution(results, by).items():
            sheet.append([by or "all", code, *counts, sum(counts)])


def level_shares(counts: Sequence[int]) -> list[float]:
    """Counts as percentages rounded to 0.1 (all zeros for an empty group).

    >>> level_shares([1, 2, 1, 0, 0, 0])
    [25.0, 50.0, 25.0, 0.0, 0.0, 0.0]
    """
    total = sum(counts)
    return [round(100 * c / total, 1) if total else 0.0 for c in counts]
