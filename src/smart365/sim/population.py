"""A synthetic population of Korean manufacturing SMEs with smart factories, for demo, tests and benchmarks.

Deterministic for a seed. The spreads follow the shape of the real population (manufacturing SMEs are
concentrated in 경기 and the south-east; most are small; ERP is common, MES less so, PLM rare) without
claiming official statistics.

>>> firms = generate_population(5, seed=1)
>>> len(firms), all(len(f.company.brn) == 10 for f in firms)
(5, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smart365.registry.brn import with_check_digit
from smart365.registry.schemas import CompanyIn

REGION_WEIGHTS = {
    "gyeonggi": 0.32,
    "gyeongnam": 0.11,
    "gyeongbuk": 0.08,
    "incheon": 0.07,
    "chungnam": 0.07,
    "chungbuk": 0.06,
    "busan": 0.06,
    "daegu": 0.06,
    "seoul": 0.04,
    "ulsan": 0.03,
    "gwangju": 0.03,
    "jeonbuk": 0.03,
    "jeonnam": 0.02,
    "daejeon": 0.02,
    "gangwon": 0.01,
    "sejong": 0.005,
    "jeju": 0.005,
}

# KSIC code → (name word for the firm, machine kinds on its lines). About half are 소부장.
INDUSTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "29229": ("정밀", ("cnc", "lathe", "inspection")),
    "29280": ("로보틱스", ("cnc", "robot", "inspection")),
    "25911": ("금속", ("press", "furnace", "inspection")),
    "24199": ("메탈", ("furnace", "press", "conveyor")),
    "22251": ("플라텍", ("injection", "robot", "inspection")),
    "22199": ("고무", ("injection", "press", "conveyor")),
    "26295": ("전자", ("robot", "inspection", "conveyor")),
    "30331": ("오토텍", ("cnc", "press", "robot")),
    "30320": ("모터스부품", ("press", "robot", "conveyor")),
    "28111": ("전기", ("cnc", "robot", "inspection")),
    "10711": ("식품", ("conveyor", "furnace", "inspection")),
    "10801": ("사료", ("conveyor", "compressor", "other")),
    "17121": ("제지", ("conveyor", "press", "other")),
    "18111": ("인쇄", ("press", "conveyor", "other")),
    "21210": ("제약", ("conveyor", "inspection", "compressor")),
    "27112": ("메디칼", ("injection", "cnc", "inspection")),
    "28511": ("가전", ("injection", "robot", "conveyor")),
    "32021": ("가구", ("cnc", "conveyor", "other")),
    "33999": ("산업", ("injection", "conveyor", "other")),
    "14111": ("어패럴", ("conveyor", "other", "inspection")),
}
SOBUJANG_SHARE = 0.52

PREFIXES = [
    "대성",
    "한일",
    "동양",
    "세진",
    "우진",
    "한빛",
    "삼영",
    "대한",
    "성원",
    "신화",
    "동아",
    "태광",
    "영신",
    "한성",
    "금강",
    "대원",
    "일진",
    "서진",
    "진영",
    "동신",
    "한국",
    "세원",
    "유성",
    "청우",
    "정우",
    "현대",
    "미래",
    "새한",
    "삼진",
    "성진",
    "태성",
    "광명",
    "용산",
    "영진",
    "보성",
    "해성",
    "화신",
    "명진",
    "동일",
    "서원",
]
LEGAL_FORMS = ("주식회사 {}", "(주){}", "{} 주식회사", "{}")

SYSTEM_BASE_P = {
    "ERP": 0.78,
    "MES": 0.42,
    "QMS": 0.22,
    "SCADA": 0.14,
    "WMS": 0.13,
    "PLM": 0.09,
    "CMMS": 0.07,
    "SCM": 0.07,
    "EMS": 0.06,
    "APS": 0.05,
}

TAGS_BY_KIND: dict[str, tuple[tuple[str, str, float, float], ...]] = {
    "cnc": (
        ("spindle_load", "%", 0, 150),
        ("spindle_temp", "°C", 10, 90),
        ("spindle_speed", "rpm", 0, 12000),
        ("cycle_time", "s", 0, 600),
        ("part_count", "ea", 0, 1e9),
    ),
    "lathe": (("spindle_load", "%", 0, 150), ("spindle_speed", "rpm", 0, 6000), ("cycle_time", "s", 0, 600)),
    "injection": (
        ("mould_temp", "°C", 20, 120),
        ("injection_pressure", "bar", 0, 2500),
        ("barrel_temp", "°C", 150, 320),
        ("cycle_time", "s", 0, 120),
        ("shot_count", "ea", 0, 1e9),
    ),
    "press": (("tonnage", "t", 0, 400), ("stroke_rate", "spm", 0, 80), ("die_temp", "°C", 10, 120)),
    "furnace": (("zone_temp", "°C", 0, 1200), ("gas_flow", "m3/h", 0, 100)),
    "robot": (("cycle_time", "s", 0, 120), ("motor_current", "A", 0, 40)),
    "inspection": (("measured_value", "mm", 0, 500), ("judgement", "", 0, 1)),
    "conveyor": (("speed", "m/min", 0, 60), ("motor_current", "A", 0, 30)),
    "compressor": (("pressure", "bar", 0, 12), ("power", "kW", 0, 200)),
    "other": (("state", "", 0, 5),),
}
MAKERS = {
    "cnc": "두산공작기계",
    "lathe": "화천기계",
    "injection": "LS엠트론",
    "press": "심팩",
    "furnace": "한국열처리",
    "robot": "현대로보틱스",
    "inspection": "미쓰도요",
    "conveyor": "대한컨베이어",
    "compressor": "한신",
    "other": "기타",
}


@dataclass
class SyntheticFirm:
    """A firm and its plant structure: sites → lines → (machine kind, name, tags)."""

    company: CompanyIn
    sites: dict[str, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)


def _brn(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        nine = f"{rng.integers(101, 899)}{rng.choice([81, 86, 87])}{rng.integers(0, 10_000):04d}"
        brn = with_check_digit(nine)
        if brn not in used:
            used.add(brn)
            return brn


def _systems(rng: np.random.Generator, employees: int) -> list[str]:
    size_factor = min(1.6, 0.6 + employees / 120)
    return [s for s, p in SYSTEM_BASE_P.items() if rng.random() < min(0.97, p * size_factor)]


def _revenue_band(employees: int, rng: np.random.Generator) -> str:
    revenue_bn = employees * rng.lognormal(np.log(0.35), 0.45)  # ~350 million won per employee
    for limit, band in ((10, "lt10b"), (50, "10b-50b"), (100, "50b-100b"), (300, "100b-300b")):
        if revenue_bn < limit:
            return band
    return "ge300b"


def _plant(
    rng: np.random.Generator, kinds: tuple[str, ...], employees: int
) -> dict[str, dict[str, list[tuple[str, str]]]]:
    n_sites = 1 + int(employees > 150 and rng.random() < 0.5)
    sites: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for s in range(n_sites):
        lines: dict[str, list[tuple[str, str]]] = {}
        for li in range(int(rng.integers(1, 4))):
            kind = kinds[li % len(kinds)]
            n_machines = int(rng.integers(2, 6))
            lines[f"{li + 1}라인"] = [(kind, f"{kind.upper()}-{s + 1}{li + 1}{m + 1:02d}") for m in range(n_machines)]
        sites[f"제{s + 1}공장"] = lines
    return sites


def generate_population(n: int = 320, seed: int = 365) -> list[SyntheticFirm]:
    """``n`` plausible firms with valid BRNs, KSIC codes (about half 소부장), regions, sizes and systems."""
    rng = np.random.default_rng(seed)
    codes = list(INDUSTRIES)
    sob = [c for c in codes if c[:2] in {"22", "24", "25", "26", "28", "29", "30"} and c != "28511"]
    other = [c for c in codes if c not in sob]
    regions, weights = zip(*REGION_WEIGHTS.items(), strict=True)
    probs = np.array(weights) / sum(weights)
    used_brn: set[str] = set()
    used_names: set[str] = set()
    firms = []
    for _ in range(n):
        ksic = str(rng.choice(sob if rng.random() < SOBUJANG_SHARE else other))
        word, kinds = INDUSTRIES[ksic]
        name = ""
        while not name or name in used_names:
            form = LEGAL_FORMS[int(rng.integers(len(LEGAL_FORMS)))]
            name = form.format(f"{rng.choice(PREFIXES)}{word}")
            if name in used_names:
                name = form.format(f"{rng.choice(PREFIXES)}{rng.choice(PREFIXES)}{word}")
        used_names.add(name)
        employees = int(np.clip(rng.lognormal(np.log(45), 0.85), 5, 950))
        company = CompanyIn(
            name=name,
            brn=_brn(rng, used_brn),
            ksic_code=ksic,
            region=str(rng.choice(regions, p=probs)),
            employees=employees,
            revenue_band=_revenue_band(employees, rng),
            systems=_systems(rng, employees),
            smart_factory_year=int(np.clip(rng.normal(2020, 2.6), 2015, 2025)),
        )
        firms.append(SyntheticFirm(company=company, sites=_plant(rng, kinds, employees)))
    return firms
