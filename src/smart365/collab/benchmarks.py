"""Give-to-get peer benchmarks: a firm sees where it stands against firms like it, once its own figures are in
the pool.

Its figures are computed from its own data, never typed in or uploaded (:func:`firm_figures`): OEE and its
three factors and the unplanned downtime from its machines' state and counter tags over the last 7 days, energy
per part where a kWh meter is tagged, and the maturity domain scores of its last submitted survey. A KPI the data
cannot give is absent, with the reason (Cpk needs specification limits Smart365 does not keep; first-pass yield
needs a first-pass or rework count).

Its group is the firms of the pool with the same 2-digit KSIC, size band and region; with fewer than five, the
next coarser group (same KSIC and size; same KSIC; 소부장 or not; the whole pool), and the page says so. Each
group's benchmark is a **release** (one per state of the group's membership): every KPI's cell under the
disclosure rules (:mod:`smart365.collab.disclosure`), a W3C PROV bundle (:mod:`smart365.collab.provenance`), a
record in every contributing firm's hash-chained usage log, and, for each DP cell, ε charged to every
contributing firm's privacy budget. Asking again with the same members returns the same release, the same noise.

>>> Profile(1, "29", "10-49", "gyeonggi", True).key("ksic_size_region")
'ksic=29|size=10-49|region=gyeonggi'
>>> Profile(1, "29", "10-49", "gyeonggi", True).key("sobujang")
'sobujang=1'

Six firms of one group in the pool; the first sees its place, never a peer's value:

>>> import pathlib, tempfile
>>> from smart365.core import migrate
>>> from smart365.core.tenancy import Principal
>>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'r.db'}"
>>> migrate.upgrade(url)
>>> db = Database(url)
>>> with db.session(SYSTEM) as s:
...     firms = [Company(name=f"F{i}", brn=f"10{i:08d}", ksic_code="29229", region="gyeonggi", employees=20)
...              for i in range(6)]
...     s.add_all(firms); s.flush()
...     _ = [enter(s, f.id, {"oee": 0.55 + 0.04 * i}, audit.Actor(None, "doc")) for i, f in enumerate(firms)]
...     first = firms[0].id
>>> v = view(db, None, Principal(user_id=None, role=Role.COMPANY_MEMBER, company_id=first), first)
>>> v.level, v.firms, [(r.kpi.code, r.rule, r.n, r.mean, r.quartile) for r in v.rows if r.rule]
('ksic_size_region', 6, [('oee', 'quartile', 6, None, 4)])
>>> again = view(db, None, Principal(user_id=None, role=Role.COMPANY_MEMBER, company_id=first), first)
>>> again.release_id == v.release_id, ledger.verify(db).ok
(True, True)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smart365.assessment.campaigns import SIZE_BANDS, size_band
from smart365.assessment.scoring import score
from smart365.assessment.service import instrument_for, latest_result, stage_row
from smart365.collab import ledger
from smart365.collab.disclosure import (
    BUDGET_PER_KPI,
    EPSILON,
    KPIS,
    MATURITY_PREFIX,
    MIN_FIRMS,
    RULE_LABELS,
    Cell,
    Kpi,
    Rule,
    decide,
    maturity_kpi,
    quartile,
)
from smart365.collab.models import BenchMember, BenchRelease, BudgetEntry
from smart365.collab.provenance import release_bundle
from smart365.collab.service import LogKind
from smart365.core import audit
from smart365.core.db import Database, as_utc, utcnow
from smart365.core.errors import Forbidden
from smart365.core.i18n import N_, current_locale, gettext
from smart365.core.tenancy import SYSTEM, Role
from smart365.monitoring.oee import Oee, combine, counter_increase
from smart365.monitoring.service import equipment_oee, machines_of, oee_settings
from smart365.registry.models import Company
from smart365.registry.vocab import REGIONS
from smart365.telemetry.store import TimeSeriesStore

WINDOW = timedelta(days=7)
JOINED, LEFT, RELEASED = LogKind.BENCH_JOINED, LogKind.BENCH_LEFT, LogKind.BENCH_RELEASE

#: Group levels, finest first: (code, what the page calls it).
LEVELS: tuple[tuple[str, str], ...] = (
    ("ksic_size_region", N_("same industry (KSIC 2-digit), size band and region")),
    ("ksic_size", N_("same industry and size band, all regions")),
    ("ksic", N_("same industry (KSIC 2-digit), all sizes and regions")),
    ("sobujang", N_("소부장 firms, or firms outside 소부장, of every industry")),
    ("all", N_("every firm in the pool")),
)
LEVEL_LABELS = dict(LEVELS)


class NotYourFirm(Forbidden):
    code = "benchmark_forbidden"
    default_message = N_("Only the firm's own members join or leave its benchmark pool.")


@dataclass(frozen=True)
class Figure:
    """One of the firm's own figures: its value, or why it is absent."""

    kpi: Kpi
    value: float | None
    absent: str | None = None  # msgid


def _maturity_kpis(session: Session, company_id: int) -> list[tuple[Kpi, float | None, str | None]]:
    response = latest_result(session, company_id)
    if response is None:
        return [(maturity_kpi("*", N_("Maturity domain scores")), None, N_("no submitted survey (수준진단) yet"))]
    instrument = instrument_for(response.instrument_version)
    scores = score(instrument, stage_row(instrument, response.answers))
    found: list[tuple[Kpi, float | None, str | None]] = []
    for index, domain in enumerate(instrument.domains):
        points = float(scores.domain_points[0, index])
        kpi = maturity_kpi(domain.id, domain.name.in_(current_locale.get()))
        if points > 0:
            found.append((kpi, round(100.0 * float(scores.domain_score[0, index]) / points, 4), None))
        else:
            found.append((kpi, None, N_("every item of the domain was answered N/A")))
    return found


def _energy(session: Session, store: TimeSeriesStore, machines: Sequence[Any], start: datetime, end: datetime,
            parts: float) -> tuple[float | None, str | None]:  # fmt: skip
    meters = [t for m in machines for t in m.tags if (t.unit or "").strip().lower() == "kwh"]
    if not meters:
        return None, N_("no energy meter (a kWh tag) on the firm's machines")
    if parts <= 0:
        return None, N_("no parts counted in the last 7 days")
    start_us = int(start.timestamp() * 1_000_000)
    used = 0.0
    for tag in meters:
        batch = store.read(tag.id, start, end)
        if len(batch):
            used += counter_increase(batch.ts_us, batch.value, start_us)
    return used / parts, None


def firm_figures(session: Session, store: TimeSeriesStore | None, company_id: int,
                 now: datetime | None = None) -> list[Figure]:  # fmt: skip
    """The firm's own figures from its own data, each KPI with its value or the reason it is absent."""
    end = now or utcnow()
    start = end - WINDOW
    machines = machines_of(session, company_id)
    results: list[Oee] = []
    if store is not None:
        for setting in oee_settings(session, [m.id for m in machines]).values():
            if (result := equipment_oee(store, setting, start, end)) is not None:
                results.append(result)
    plant = combine(results)
    no_oee = N_("no machine with OEE tags (state, counters) has data in the last 7 days")
    figures: list[Figure] = []
    for code in ("oee", "availability", "performance", "quality"):
        value = None if plant is None else getattr(plant, code)
        figures.append(Figure(KPIS[code], value, None if value is not None else no_oee))
    figures.append(Figure(KPIS["fpy"], None, N_("needs a count of parts good the first time (a first-pass or "
                                                 "rework counter); the quality rate counts every good part")))
    figures.append(Figure(KPIS["cpk"], None, N_("needs specification limits, which Smart365 does not keep for "
                                                 "the firm's tags (the SPC page computes Cpk when given them)")))
    if plant is None or plant.times.planned_s <= 0:
        figures.append(Figure(KPIS["unplanned_downtime"], None, no_oee))
    else:
        figures.append(Figure(KPIS["unplanned_downtime"], plant.times.down_s / plant.times.planned_s))
    if store is None:
        figures.append(Figure(KPIS["energy_per_part"], None, no_oee))
    else:
        energy, why = _energy(session, store, machines, start, end, plant.total if plant else 0.0)
        figures.append(Figure(KPIS["energy_per_part"], energy, why))
    figures.extend(Figure(kpi, value, why) for kpi, value, why in _maturity_kpis(session, company_id))
    return figures


def kpi_of(code: str, labels: dict[str, str] | None = None) -> Kpi:
    """The KPI of a code (a maturity domain's label from ``labels`` when given).

    >>> kpi_of("oee").unit, kpi_of("maturity:D1", {"maturity:D1": "생산"}).label
    ('%', '생산')
    """
    if code in KPIS:
        return KPIS[code]
    return maturity_kpi(code.removeprefix(MATURITY_PREFIX), (labels or {}).get(code, code))


def digest_figures(figures: dict[str, float]) -> str:
    """SHA-256 of the figures' canonical JSON (a release is one per state of the group's members and figures).

    >>> digest_figures({"oee": 0.5}) == digest_figures({"oee": 0.5}), len(digest_figures({}))
    (True, 64)
    """
    return hashlib.sha256(ledger.canonical(figures).encode()).hexdigest()


# -- groups -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What groups a firm: 2-digit KSIC, size band, region, 소부장."""

    company_id: int
    ksic2: str
    size: str | None
    region: str
    sobujang: bool

    @classmethod
    def of(cls, company: Company) -> Profile:
        return cls(company.id, (company.ksic_code or "")[:2], size_band(company.employees), company.region,
                   bool(company.sobujang))  # fmt: skip

    def key(self, level: str) -> str:
        parts = {
            "ksic_size_region": [("ksic", self.ksic2), ("size", self.size or "-"), ("region", self.region)],
            "ksic_size": [("ksic", self.ksic2), ("size", self.size or "-")],
            "ksic": [("ksic", self.ksic2)],
            "sobujang": [("sobujang", "1" if self.sobujang else "0")],
            "all": [("all", "pool")],
        }[level]
        return "|".join(f"{k}={v}" for k, v in parts)

    def describe(self, level: str) -> str:
        """The group in words, in the current language."""
        size = gettext(SIZE_BANDS[self.size][2]) if self.size in SIZE_BANDS else gettext(N_("size unknown"))
        region = gettext(REGIONS.get(self.region, self.region))
        ksic = gettext(N_("KSIC {code}")).format(code=self.ksic2)
        if level == "ksic_size_region":
            return f"{ksic} · {size} · {region}"
        if level == "ksic_size":
            return f"{ksic} · {size}"
        if level == "ksic":
            return ksic
        if level == "sobujang":
            return gettext(N_("소부장 firms") if self.sobujang else N_("firms outside 소부장"))
        return gettext(N_("every firm in the pool"))


@dataclass
class Member:
    profile: Profile
    figures: dict[str, float]
    sha: str


def _pool(session: Session) -> list[Member]:
    rows = session.execute(select(BenchMember, Company).join(Company, Company.id == BenchMember.company_id)
                           .where(BenchMember.active.is_(True)).order_by(BenchMember.company_id)).all()  # fmt: skip
    return [Member(Profile.of(company), dict(m.figures or {}), m.figures_sha256) for m, company in rows]


def choose_group(profile: Profile, pool: Sequence[Member]) -> tuple[str, list[Member], list[tuple[str, int]]]:
    """The finest level whose group holds at least five firms of the pool, its members, and the finer levels
    passed over with their sizes (the page states each fallback).

    >>> pool = [Member(Profile(i, "29", "10-49", "busan" if i < 2 else "seoul", True), {}, "") for i in range(6)]
    >>> level, members, passed = choose_group(Profile(0, "29", "10-49", "busan", True), pool)
    >>> level, len(members), passed
    ('ksic_size', 6, [('ksic_size_region', 2)])
    """
    passed: list[tuple[str, int]] = []
    for level, _label in LEVELS:
        key = profile.key(level)
        members = [m for m in pool if m.profile.key(level) == key]
        if len(members) >= MIN_FIRMS or level == "all":
            return level, members, passed
        passed.append((level, len(members)))
    raise AssertionError("unreachable")  # pragma: no cover


def membership_digest(members: Sequence[Member]) -> str:
    """SHA-256 of the members and their figures' digests: a release is kept per value of it.

    >>> a = Member(Profile(1, "29", None, "seoul", False), {}, "x")
    >>> membership_digest([a]) == membership_digest([a]), membership_digest([a]) == membership_digest([])
    (True, False)
    """
    return hashlib.sha256(json.dumps(sorted((m.profile.company_id, m.sha) for m in members)).encode()).hexdigest()


def spent(session: Session, company_ids: Sequence[int]) -> dict[tuple[int, str], float]:
    """ε spent so far, per (firm, KPI), from the budget ledger."""
    if not company_ids:
        return {}
    rows = session.execute(
        select(BudgetEntry.company_id, BudgetEntry.kpi, func.sum(BudgetEntry.epsilon))
        .where(BudgetEntry.company_id.in_(list(company_ids))).group_by(BudgetEntry.company_id, BudgetEntry.kpi)
    ).all()
    return {(cid, kpi): float(total) for cid, kpi, total in rows}


def decide_cells(members: Sequence[tuple[int, dict[str, float]]], used: dict[tuple[int, str], float],
                 labels: dict[str, str] | None = None) -> list[Cell]:  # fmt: skip
    """Every KPI's cell for a group's members (firm id, figures), given the ε each has spent per KPI: what a
    release holds. A DP cell needs every firm having the KPI to have ε left for it.

    >>> group = [(i, {"oee": 0.5 + 0.01 * i}) for i in range(6)]
    >>> [(c.kpi, c.rule, c.n) for c in decide_cells(group, {})]
    [('oee', 'quartile', 6)]
    >>> [c.rule for c in decide_cells([(i, {"oee": 0.6}) for i in range(60)], {(3, "oee"): 3.0})]
    ['budget']
    """
    cells: list[Cell] = []
    for code in sorted({code for _cid, figures in members for code in figures}):
        having = [(cid, figures[code]) for cid, figures in members if code in figures]
        budget_ok = all(used.get((cid, code), 0.0) + EPSILON <= BUDGET_PER_KPI + 1e-9 for cid, _v in having)
        cells.append(decide(kpi_of(code, labels), [v for _cid, v in having], budget_ok=budget_ok))
    return cells


def release_for(session: Session, level: str, key: str, members: Sequence[Member],
                labels: dict[str, str] | None = None) -> BenchRelease:  # fmt: skip
    """The group's release for its members as they are now: the stored one, or a new one (its cells decided,
    the DP means drawn once, the budget charged, the PROV bundle written, each contributor's log appended)."""
    membership = membership_digest(members)
    same = select(BenchRelease).where(BenchRelease.group_key == key, BenchRelease.membership_sha256 == membership)
    found = session.scalars(same).first()
    if found is not None:
        return found
    codes = sorted({code for m in members for code in m.figures})
    used = spent(session, [m.profile.company_id for m in members])
    cells = decide_cells([(m.profile.company_id, m.figures) for m in members], used, labels)
    release = BenchRelease(group_key=key, level=level, firms=len(members), membership_sha256=membership,
                           cells=[c.as_data() for c in cells], prov="{}")  # fmt: skip
    try:
        with session.begin_nested():
            session.add(release)
            session.flush()
    except IntegrityError:  # another request made the same release first: show that one
        return session.scalars(same).one()
    release.prov = release_bundle(release.id, key, level, len(members), codes, as_utc(release.created_at).isoformat())
    prov_sha = hashlib.sha256(release.prov.encode()).hexdigest()
    dp_codes = [c.kpi for c in cells if c.rule == Rule.DP]
    for m in members:
        for code in dp_codes:
            if code in m.figures:
                session.add(BudgetEntry(company_id=m.profile.company_id, release_id=release.id, kpi=code,
                                        epsilon=EPSILON))  # fmt: skip
        ledger.append(session, m.profile.company_id, RELEASED, actor="system", details={
            "release": release.id, "group": key, "firms": len(members), "prov_sha256": prov_sha,
            "rules": {c.kpi: c.rule for c in cells if c.kpi in m.figures},
            "epsilon_spent": {code: EPSILON for code in dp_codes if code in m.figures},
        })  # fmt: skip
    session.flush()
    return release


# -- what the page and the API show ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the benchmark table: the firm's own figure, the group's cell, its place, and the rule."""

    kpi: Kpi
    own: float | None
    absent: str | None
    rule: str | None
    n: int
    mean: float | None
    epsilon: float | None
    quartile: int | None
    spent: float

    @property
    def rule_label(self) -> str:
        return gettext(RULE_LABELS[self.rule]) if self.rule else gettext(N_("not in the pool"))


@dataclass
class View:
    company_id: int
    company: str
    joined: bool
    joined_at: datetime | None
    can_act: bool
    figures: list[Figure]
    level: str | None = None
    group: str | None = None
    firms: int = 0
    passed: list[tuple[str, str, int]] = field(default_factory=list)  # (level, its words, its size)
    release_id: int | None = None
    release_at: datetime | None = None
    prov: dict[str, Any] | None = None
    rows: list[Row] = field(default_factory=list)
    pool: int = 0


def _labels(figures: Sequence[Figure]) -> dict[str, str]:
    return {f.kpi.code: f.kpi.label for f in figures if f.kpi.code.startswith(MATURITY_PREFIX)}


def _sees(principal: Any, company_id: int) -> bool:
    visible = principal.visible_companies()
    return principal.role is not Role.DATA_PARTNER and (visible is None or company_id in visible)


def _acts(principal: Any, company_id: int) -> bool:
    member = principal.role is Role.COMPANY_MEMBER and principal.company_id == company_id
    return principal.role is Role.SYSTEM or member


def view(db: Database, store: TimeSeriesStore | None, principal: Any, company_id: int) -> View:
    """The firm's benchmark: its own figures and, once it is in the pool, its group's release with its place in
    each KPI. Only those who may see the firm read it (403 otherwise); nothing of another firm is in it."""
    if not _sees(principal, company_id):
        raise Forbidden()
    with db.session(SYSTEM) as session:
        company = session.get(Company, company_id)
        if company is None:
            raise Forbidden()
        figures = firm_figures(session, store, company_id)
        member = session.scalars(select(BenchMember).where(BenchMember.company_id == company_id)).first()
        joined = member is not None and member.active
        result = View(company_id, company.name, joined, as_utc(member.joined_at) if joined and member else None,
                      _acts(principal, company_id), figures)  # fmt: skip
        pool = _pool(session)
        result.pool = len(pool)
        if not joined or member is None:
            return result
        profile = Profile.of(company)
        level, members, passed = choose_group(profile, pool)
        key = profile.key(level)
        labels = _labels(figures)
        release = release_for(session, level, key, members, labels)
        used = spent(session, [company_id])
        own = dict(member.figures or {})
        by_code = {c["kpi"]: c for c in release.cells}
        result.level, result.group, result.firms = level, profile.describe(level), len(members)
        result.passed = [(lv, profile.describe(lv), n) for lv, n in passed]
        result.release_id, result.release_at = release.id, as_utc(release.created_at)
        result.prov = json.loads(release.prov)
        for figure in figures:
            code = figure.kpi.code
            mine = own.get(code)
            cell = by_code.get(code) if mine is not None else None  # give to get: a KPI not given is not seen
            position = None
            if cell is not None and mine is not None and cell["rule"] != Rule.SUPPRESSED:
                position = quartile(figure.kpi, mine, [m.figures[code] for m in members if code in m.figures])
            result.rows.append(Row(
                figure.kpi, mine, figure.absent if mine is None else None, cell["rule"] if cell else None,
                int(cell["n"]) if cell else 0, cell["value"] if cell else None, cell["epsilon"] if cell else None,
                position, used.get((company_id, code), 0.0),
            ))  # fmt: skip
        return result


def join(db: Database, store: TimeSeriesStore | None, principal: Any, actor: audit.Actor, company_id: int) -> list[str]:
    """Put the firm's figures (computed now from its own data) in the pool, or refresh them; the KPIs it gives."""
    if not _acts(principal, company_id):
        raise NotYourFirm()
    with db.session(SYSTEM) as session:
        figures = {f.kpi.code: float(f.value) for f in firm_figures(session, store, company_id) if f.value is not None}
        enter(session, company_id, figures, actor, principal.user_id)
        return sorted(figures)


def enter(session: Session, company_id: int, figures: dict[str, float], actor: audit.Actor,
          user_id: int | None = None) -> BenchMember:  # fmt: skip
    """Put figures in the pool for the firm (:func:`join` computes them from its data; the simulator's synthetic
    firms and the tests bring their own), logged in its usage log and audited."""
    member = session.scalars(select(BenchMember).where(BenchMember.company_id == company_id)).first()
    if member is None:
        member = BenchMember(company_id=company_id, figures_sha256="")
        session.add(member)
    member.active, member.joined_at, member.left_at = True, utcnow(), None
    member.kpis, member.figures, member.figures_sha256 = sorted(figures), dict(figures), digest_figures(figures)
    member.joined_by = user_id
    session.flush()
    ledger.append(session, company_id, JOINED, actor=actor.email or "system", details={"kpis": sorted(figures)})
    audit.record(session, audit.Action.COLLAB_BENCH_JOIN, f"company:{company_id}", company_id=company_id,
                 details={"kpis": sorted(figures)}, actor=actor)  # fmt: skip
    return member


def leave(db: Database, principal: Any, actor: audit.Actor, company_id: int) -> None:
    """Take the firm's figures out of the pool (they are deleted); releases already made stay as they were."""
    if not _acts(principal, company_id):
        raise NotYourFirm()
    with db.session(SYSTEM) as session:
        member = session.scalars(select(BenchMember).where(BenchMember.company_id == company_id)).first()
        if member is None or not member.active:
            return
        member.active, member.left_at, member.figures = False, utcnow(), {}
        member.figures_sha256 = digest_figures({})
        ledger.append(session, company_id, LEFT, actor=actor.email or "system", details={})
        audit.record(session, audit.Action.COLLAB_BENCH_LEAVE, f"company:{company_id}", company_id=company_id,
                     actor=actor)  # fmt: skip


def pool_size(db: Database) -> int:
    """How many firms are in the pool (a count: the centre's page names none)."""
    with db.session(SYSTEM) as session:
        return int(session.scalar(select(func.count()).select_from(BenchMember).where(BenchMember.active.is_(True)))
                   or 0)  # fmt: skip


def locale_label(kpi: Kpi) -> str:
    """The KPI's label in the current language (a maturity domain's name was taken in it).

    >>> locale_label(KPIS["quality"]), locale_label(maturity_kpi("PLN", "생산계획"))
    ('양품률', '생산계획')
    """
    return kpi.label if kpi.code.startswith(MATURITY_PREFIX) else gettext(kpi.label)
