"""판로 matching: rank 소부장 suppliers for a buyer's sourcing need, with an explanation per criterion.

A need (item, material, process, spec, quantity, certifications, region) is read two ways. Its text goes
through Kiwi's content morphemes (:func:`smart365.centre.text.cached_tokens`) plus the concepts of a small kept
ontology of manufacturing terms (:data:`CONCEPTS`: 사출 ↔ 플라스틱 성형 ↔ injection moulding, 프레스 ↔ 판금 ↔
stamping, 알루미늄 ↔ Al6061 …), so "알루미늄 다이캐스팅 하우징" finds the supplier that writes "ADC12 주조
케이스"; BM25 (the kept ``bm25s`` library) scores that text against every supplier profile. Its structure is
checked criterion by criterion on the best text candidates: the process and the material (concepts shared),
the certifications (every required one held, else a heavy penalty and the missing ones named), the region
(same 시·도, same wider area, or elsewhere), the capacity (monthly quantity) and, only where the firm consented
to share it, its measured quality (Cpk, first-pass yield, maturity level).

Each criterion carries a msgid and its values, so the buyer and the firm read why in their language.

>>> profiles = [
...     Profile("a", products=("ADC12 주조 케이스",), processes=("다이캐스팅",), region="gyeonggi",
...             certifications=("iso9001", "iatf16949"), capacity=20000),
...     Profile("b", products=("알루미늄 하우징",), processes=("CNC 가공",), region="busan"),
... ]
>>> need = Need(item="알루미늄 하우징", process="다이캐스팅", material="알루미늄", quantity=5000,
...             certifications=("iatf16949",), region="gyeonggi")
>>> ranked = Matcher(profiles).rank(need)
>>> [r.key for r in ranked]
['a', 'b']
>>> [c.id for c in ranked[1].criteria if c.score == 0]
['process', 'certifications', 'region']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smart365.centre.text import cached_tokens
from smart365.core.i18n import N_, gettext
from smart365.registry.vocab import REGIONS

#: Certifications a buyer may require, code → name as printed.
CERTIFICATIONS: dict[str, str] = {
    "iso9001": "ISO 9001",
    "iatf16949": "IATF 16949",
    "iso14001": "ISO 14001",
    "iso45001": "ISO 45001",
    "as9100": "AS9100",
    "iso13485": "ISO 13485",
    "ks": "KS",
}

#: 시·도 → the wider area (권역) a buyer's logistics usually treat as near.
AREAS: dict[str, str] = {
    "seoul": "capital", "incheon": "capital", "gyeonggi": "capital",
    "daejeon": "chungcheong", "sejong": "chungcheong", "chungbuk": "chungcheong", "chungnam": "chungcheong",
    "busan": "yeongnam", "daegu": "yeongnam", "ulsan": "yeongnam", "gyeongbuk": "yeongnam", "gyeongnam": "yeongnam",
    "gwangju": "honam", "jeonbuk": "honam", "jeonnam": "honam",
    "gangwon": "gangwon", "jeju": "jeju",
}  # fmt: skip

#: The kept ontology: concept → (kind, surface forms in Korean and English). A form is matched inside the
#: text with its spaces and hyphens removed, so "플라스틱 성형" and "플라스틱성형" are one form.
CONCEPTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # processes
    "injection": ("process", ("사출", "플라스틱 성형", "수지 성형", "인젝션", "injection", "injection moulding",
                              "injection molding", "plastic moulding", "plastic molding")),
    "press": ("process", ("프레스", "판금", "박판 성형", "타발", "스탬핑", "stamping", "press", "sheet metal",
                          "blanking", "deep drawing", "딥드로잉")),
    "diecast": ("process", ("다이캐스팅", "다이 캐스팅", "다이캐스트", "주조", "die casting", "diecasting",
                            "die-cast", "casting", "주물")),
    "machining": ("process", ("cnc", "절삭", "가공", "밀링", "선반", "machining", "milling", "turning", "mct",
                              "머시닝", "정밀 가공")),
    "forging": ("process", ("단조", "forging", "열간 성형", "냉간 압조", "헤딩", "cold heading")),
    "welding": ("process", ("용접", "welding", "브레이징", "brazing", "레이저 접합", "스폿", "spot weld")),
    "plating": ("process", ("도금", "plating", "아노다이징", "anodizing", "anodising", "양극산화", "전착 도장",
                            "표면 처리", "surface treatment", "코팅", "coating")),
    "heat": ("process", ("열처리", "heat treatment", "침탄", "carburizing", "담금질", "quenching", "소둔",
                         "annealing", "고주파 경화", "induction hardening")),
    "grinding": ("process", ("연삭", "grinding", "래핑", "lapping", "폴리싱", "polishing", "연마")),
    "extrusion": ("process", ("압출", "extrusion", "인발", "drawing profile", "프로파일 성형")),
    "pcb": ("process", ("smt", "표면 실장", "pcb 조립", "pcba", "기판 실장", "전자 조립", "pcb assembly")),
    "rubber": ("process", ("고무 성형", "rubber moulding", "rubber molding", "가황", "vulcanizing", "실리콘 성형")),
    "assembly": ("process", ("조립", "assembly", "모듈 조립", "sub-assembly", "서브 어셈블리")),
    "mold": ("process", ("금형", "mould making", "mold making", "tooling", "다이 제작", "툴링")),
    # materials
    "aluminium": ("material", ("알루미늄", "aluminium", "aluminum", "al6061", "a6061", "al7075", "a7075", "adc12",
                               "al 6061", "두랄루민", "알루미늄 합금")),
    "stainless": ("material", ("스테인리스", "스텐", "sus304", "sus316", "sts304", "stainless", "sus 304")),
    "steel": ("material", ("강판", "탄소강", "sphc", "spcc", "scm440", "s45c", "철강", "steel", "carbon steel",
                           "냉연", "열연", "합금강")),
    "copper": ("material", ("구리", "동합금", "황동", "brass", "copper", "c1100", "인청동", "bronze")),
    "plastic": ("material", ("플라스틱", "수지", "abs", "pc/abs", "폴리카보네이트", "polycarbonate", "pp",
                             "polypropylene", "나일론", "nylon", "pa66", "pom", "엔지니어링 플라스틱", "resin")),
    "rubbermat": ("material", ("고무", "epdm", "nbr", "실리콘 고무", "rubber", "silicone")),
    "titanium": ("material", ("티타늄", "titanium", "ti6al4v", "ti-6al-4v")),
    "magnesium": ("material", ("마그네슘", "magnesium", "az91", "az31")),
    "castiron": ("material", ("주철", "cast iron", "fc250", "fcd450", "덕타일")),
    # items
    "housing": ("item", ("하우징", "케이스", "케이싱", "housing", "case", "enclosure", "외함", "커버", "cover")),
    "bracket": ("item", ("브래킷", "브라켓", "bracket", "지지대", "마운트", "mount", "받침")),
    "shaft": ("item", ("샤프트", "축", "shaft", "spindle", "핀", "pin", "로드", "rod")),
    "gear": ("item", ("기어", "gear", "치차", "스프로킷", "sprocket", "피니언", "pinion")),
    "bolt": ("item", ("볼트", "너트", "체결", "fastener", "bolt", "nut", "스크류", "screw", "리벳")),
    "connector": ("item", ("커넥터", "connector", "단자", "terminal", "하네스", "harness")),
    "seal": ("item", ("가스켓", "개스킷", "gasket", "씰", "seal", "오링", "o-ring", "패킹")),
    "panel": ("item", ("패널", "panel", "판재 부품", "도어 내판", "외판", "sheet part")),
    "valve": ("item", ("밸브", "valve", "밸브 바디", "valve body", "매니폴드", "manifold")),
    "heatsink": ("item", ("방열판", "히트싱크", "heat sink", "heatsink", "냉각판", "cooling plate")),
    "bushing": ("item", ("부싱", "bushing", "슬리브", "sleeve", "베어링 하우징", "칼라", "collar")),
    "battery": ("item", ("배터리 케이스", "배터리 팩", "battery case", "battery tray", "셀 케이스", "모듈 케이스")),
    "pcbitem": ("item", ("제어 보드", "기판", "pcb", "control board", "회로 기판", "ecu")),
    "impeller": ("item", ("임펠러", "impeller", "블레이드", "blade", "터빈 휠", "팬")),
}

#: The criteria and their weights in the total (0–1); quality counts only where the firm consented.
WEIGHTS: dict[str, float] = {
    "text": 0.15, "process": 0.20, "material": 0.20, "item": 0.15, "certifications": 0.10,
    "region": 0.10, "capacity": 0.10,
}  # fmt: skip
QUALITY_WEIGHT = 0.05
UNKNOWN = 0.5  # a process, material or item the firm names in words the ontology does not know
#: The total is multiplied by this when a required certification is missing (a buyer rarely waives one).
MISSING_CERT_FACTOR = 0.35
CANDIDATES = 400  # BM25's best texts re-ranked on the criteria
LABELS: dict[str, str] = {
    "text": N_("Description match"),
    "process": N_("Process"),
    "material": N_("Material"),
    "item": N_("Part or product"),
    "certifications": N_("Certifications"),
    "region": N_("Region"),
    "capacity": N_("Monthly capacity"),
    "quality": N_("Measured quality"),
}
_STRIP = re.compile(r"[\s\-_]+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def cert_code(text: str) -> str | None:
    """A certification's code from how people write it, else ``None``.

    >>> cert_code("IATF 16949:2016"), cert_code("iso-9001"), cert_code("KS 인증"), cert_code("CE")
    ('iatf16949', 'iso9001', 'ks', None)
    """
    flat = _NON_ALNUM.sub("", text.lower())
    for code in sorted(CERTIFICATIONS, key=len, reverse=True):
        if flat.startswith(code):
            return code
    return None


def _flat(text: str) -> str:
    return _STRIP.sub("", text.lower())


_FORMS: list[tuple[str, str, str]] = sorted(
    ((_flat(form), concept, kind) for concept, (kind, forms) in CONCEPTS.items() for form in forms),
    key=lambda f: -len(f[0]),
)
_SHORT_LATIN = re.compile(r"^[0-9a-z/]{1,3}$")


def concepts(text: str, kind: str | None = None) -> set[str]:
    """The ontology's concepts named in ``text`` (of one ``kind``: process, material or item, or any).

    Short Latin forms (ABS, PP, CNC) must stand as a word; the others may sit inside a longer word
    ("사출성형품" names 사출).

    >>> sorted(concepts("플라스틱성형 ABS 케이스"))
    ['housing', 'injection', 'plastic']
    >>> sorted(concepts("Al6061 절삭", kind="material")), sorted(concepts("shopping"))
    (['aluminium'], [])
    """
    flat = _flat(text)
    words = {w for w in re.split(r"[^0-9a-z/]+", text.lower()) if w}
    found = set()
    for form, concept, form_kind in _FORMS:
        if kind is not None and form_kind != kind:
            continue
        if concept in found:
            continue
        if _SHORT_LATIN.match(form) or (form.isascii() and len(form) <= 4):
            if form in words:
                found.add(concept)
        elif form in flat:
            found.add(concept)
    return found


def text_tokens(text: str) -> list[str]:
    """What BM25 reads: Kiwi's content morphemes and the ontology's concepts (each twice: a named concept
    weighs more than a word).

    >>> text_tokens("알루미늄 하우징")
    ['알루미늄', '하우징', '@aluminium', '@aluminium', '@housing', '@housing']
    """
    morphemes = list(cached_tokens(text)) if text.strip() else []
    named = sorted(concepts(text))
    return morphemes + [f"@{c}" for c in named for _ in range(2)]


@dataclass(frozen=True)
class Quality:
    """A firm's measured quality, shared only with its consent: Cpk, first-pass yield (0–1), maturity level."""

    cpk: float | None = None
    fpy: float | None = None
    level: float | None = None


@dataclass(frozen=True)
class Profile:
    """A supplier's capability as the matcher reads it (``quality`` is ``None`` unless the firm consented)."""

    key: str
    products: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    description: str = ""
    certifications: tuple[str, ...] = ()
    region: str | None = None
    capacity: int | None = None  # pieces a month
    quality: Quality | None = None

    def text(self) -> str:
        return " ".join((*self.products, *self.processes, *self.materials, self.description))


@dataclass(frozen=True)
class Need:
    """A buyer's sourcing need as the matcher reads it (``region`` None: delivery anywhere)."""

    item: str
    process: str = ""
    material: str = ""
    spec: str = ""
    quantity: int | None = None  # pieces a month
    certifications: tuple[str, ...] = ()
    region: str | None = None

    def text(self) -> str:
        return " ".join((self.item, self.process, self.material, self.spec))


@dataclass(frozen=True)
class Criterion:
    """One criterion of a match: its score (0–1), its weight, and why, as a msgid with its values."""

    id: str
    score: float
    weight: float
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(self.score, 3), "weight": self.weight, "msgid": self.msgid,
                "params": self.params}  # fmt: skip


def criterion_text(c: Mapping[str, Any]) -> str:
    """A stored criterion's reason in the reader's language.

    >>> print(criterion_text({"msgid": "Holds every required certification: {held}.", "params": {"held": "KS"}}))
    요구 인증을 모두 보유: KS.
    >>> print(criterion_text({"msgid": "Near the delivery region ({region}).", "params": {"region": "daegu"}}))
    납품 지역과 같은 권역(대구).
    """
    params = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in (c.get("params") or {}).items()}
    if "kind" in params:  # a criterion's label, stored as its msgid
        params["kind"] = gettext(str(params["kind"]))
    if params.get("region") in REGIONS:  # a region code
        params["region"] = gettext(REGIONS[str(params["region"])])
    return gettext(str(c["msgid"])).format(**params)


@dataclass(frozen=True)
class Ranked:
    """A supplier ranked for a need: its total (0–1) and every criterion behind it."""

    key: str
    score: float
    criteria: tuple[Criterion, ...]


@dataclass
class _Doc:
    process: set[str]
    material: set[str]
    item: set[str]
    certs: set[str]


def _doc(profile: Profile) -> _Doc:
    whole = profile.text()
    process = concepts(" ".join(profile.processes), "process") | concepts(whole, "process")
    material = concepts(" ".join(profile.materials), "material") | concepts(whole, "material")
    item = concepts(" ".join(profile.products), "item") | concepts(whole, "item")
    certs = {c for c in (cert_code(x) for x in profile.certifications) if c}
    return _Doc(process, material, item, certs)


class Matcher:
    """BM25 over every profile's text (morphemes and concepts), then the criteria on the best candidates."""

    def __init__(self, profiles: Sequence[Profile], *, tokenizer: Any = text_tokens) -> None:
        import bm25s

        self.profiles = list(profiles)
        self.tokenizer = tokenizer
        self.docs = [_doc(p) for p in self.profiles]
        corpus = [tokenizer(p.text()) or ["∅"] for p in self.profiles]
        self.bm25 = bm25s.BM25()
        self.bm25.index(corpus, show_progress=False) if self.profiles else None

    def text_scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25's score of every profile for the query tokens (0 where none is shared)."""
        if not self.profiles:
            return np.zeros(0)
        known = [t for t in query if t in self.bm25.vocab_dict]
        if not known:
            return np.zeros(len(self.profiles))
        return np.asarray(self.bm25.get_scores(known), dtype=float)

    def rank(self, need: Need, top: int | None = None) -> list[Ranked]:
        """The suppliers for ``need``, best first (at most ``top``), each with its criteria."""
        scores = self.text_scores(self.tokenizer(need.text()))
        if not len(scores):
            return []
        best = float(scores.max()) or 1.0
        order = np.argsort(-scores, kind="stable")[: max(CANDIDATES, top or 0)]
        certs = {c for c in (cert_code(x) for x in need.certifications) if c}
        want = _Doc(concepts(need.process, "process") or concepts(need.text(), "process"),
                    concepts(need.material, "material") or concepts(need.text(), "material"),
                    concepts(need.item, "item"), certs)  # fmt: skip
        ranked = [self._judge(need, want, int(i), float(scores[i]) / best) for i in order]
        ranked.sort(key=lambda r: (-r.score, r.key))
        return ranked[:top] if top else ranked

    def _judge(self, need: Need, want: _Doc, i: int, text: float) -> Ranked:
        profile, doc = self.profiles[i], self.docs[i]
        said = N_("Description matches the need's words and terms at {share} % of the best.")
        out = [Criterion("text", text, WEIGHTS["text"], said, {"share": round(100 * text)})]
        for kind in ("process", "material", "item"):
            asked, has = getattr(want, kind), getattr(doc, kind)
            if not asked:
                out.append(Criterion(kind, 1.0, 0.0, N_("The need names none."), {}))
            elif not has:  # the firm's words name no known concept: unknown, not a mismatch
                unknown = N_("The firm's {kind} is in words the vocabulary does not know; read its profile.")
                out.append(Criterion(kind, UNKNOWN, WEIGHTS[kind], unknown, {"kind": LABELS[kind]}))
            elif shared := sorted(asked & has):
                out.append(Criterion(kind, 1.0, WEIGHTS[kind], N_("Same {kind}: {terms}."),
                                     {"kind": LABELS[kind], "terms": [_name(c) for c in shared]}))  # fmt: skip
            else:
                out.append(Criterion(kind, 0.0, WEIGHTS[kind], N_("Asked {asked}; the firm lists {has}."),
                                     {"asked": [_name(c) for c in sorted(asked)],
                                      "has": [_name(c) for c in sorted(has)]}))  # fmt: skip
        missing = sorted(want.certs - doc.certs)
        if not want.certs:
            out.append(Criterion("certifications", 1.0, 0.0, N_("The need requires none."), {}))
        elif missing:
            out.append(Criterion("certifications", 0.0, WEIGHTS["certifications"],
                                 N_("Missing required certification: {missing}."),
                                 {"missing": [CERTIFICATIONS[c] for c in missing]}))  # fmt: skip
        else:
            out.append(Criterion("certifications", 1.0, WEIGHTS["certifications"],
                                 N_("Holds every required certification: {held}."),
                                 {"held": [CERTIFICATIONS[c] for c in sorted(want.certs)]}))  # fmt: skip
        out.append(_region(need.region, profile.region))
        out.append(_capacity(need.quantity, profile.capacity))
        if profile.quality is not None:
            out.append(_quality(profile.quality))
        weight = sum(c.weight for c in out) or 1.0
        total = sum(c.weight * c.score for c in out) / weight
        if missing:
            total *= MISSING_CERT_FACTOR
        return Ranked(profile.key, round(total, 4), tuple(out))


def _name(concept: str) -> str:
    return CONCEPTS[concept][1][0]


def _region(wanted: str | None, has: str | None) -> Criterion:
    if wanted is None:
        return Criterion("region", 1.0, 0.0, N_("Delivery anywhere."), {})
    if has == wanted:
        return Criterion("region", 1.0, WEIGHTS["region"], N_("In the delivery region."), {})
    if has is not None and AREAS.get(has) == AREAS.get(wanted):
        return Criterion("region", 0.6, WEIGHTS["region"], N_("Near the delivery region ({region})."),
                         {"region": has})  # fmt: skip
    return Criterion("region", 0.0, WEIGHTS["region"], N_("Far from the delivery region ({region})."),
                     {"region": has or "–"})  # fmt: skip


def _capacity(quantity: int | None, capacity: int | None) -> Criterion:
    if not quantity:
        return Criterion("capacity", 1.0, 0.0, N_("The need names no quantity."), {})
    if capacity is None:
        return Criterion("capacity", 0.5, WEIGHTS["capacity"], N_("The firm states no monthly capacity."), {})
    share = min(1.0, capacity / quantity)
    return Criterion("capacity", share, WEIGHTS["capacity"], N_("Capacity {capacity} a month for {quantity} asked."),
                     {"capacity": f"{capacity:,}", "quantity": f"{quantity:,}"})  # fmt: skip


def _quality(q: Quality) -> Criterion:
    parts = []
    if q.cpk is not None:
        parts.append(min(1.0, q.cpk / 1.67))
    if q.fpy is not None:
        parts.append(q.fpy)
    if q.level is not None:
        parts.append(q.level / 5)
    score = sum(parts) / len(parts) if parts else 0.5
    shown = {"cpk": f"{q.cpk:.2f}" if q.cpk is not None else "–", "fpy": f"{100 * q.fpy:.1f}" if q.fpy is not None
             else "–", "level": f"{q.level:.1f}" if q.level is not None else "–"}  # fmt: skip
    return Criterion("quality", score, QUALITY_WEIGHT, N_("Shared with consent: Cpk {cpk}, first-pass yield {fpy} %, "
                                                          "level {level}."), shown)  # fmt: skip


def keyword_tokens(text: str) -> list[str]:
    """Plain keyword search's words: the text split on spaces and punctuation, lowercased (no morphology, no
    ontology).

    >>> keyword_tokens("알루미늄 하우징, IATF-16949")
    ['알루미늄', '하우징', 'iatf', '16949']
    """
    return [w for w in re.split(r"[^0-9a-z가-힣]+", text.lower()) if w]


def keyword_rank(profiles: Sequence[Profile], needs: Iterable[Need], top: int = 10) -> list[list[str]]:
    """The baseline: BM25 over plain words only, the best ``top`` profile keys for each need."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index([keyword_tokens(p.text()) or ["∅"] for p in profiles], show_progress=False)
    out: list[list[str]] = []
    for need in needs:
        query = [t for t in keyword_tokens(need.text()) if t in retriever.vocab_dict]
        if not query:
            out.append([])
            continue
        scores = np.asarray(retriever.get_scores(query), dtype=float)
        order = np.argsort(-scores, kind="stable")[:top]
        out.append([profiles[int(i)].key for i in order if scores[i] > 0])
    return out
