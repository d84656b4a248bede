"""Similar past cases by Okapi BM25 over content morphemes, and near-duplicate statistics.

BM25 (Robertson & Zaragoza; the non-negative IDF of Lucene):

    idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
    score(q, d) = Σ_{t ∈ q, distinct} idf(t) · tf(t, d) · (k1 + 1) / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl))

Every document's term weights are computed once into a sparse matrix, so scoring a batch of queries is one
sparse product. A query term counts once however often it is repeated.

>>> index = Bm25Index([["사출", "온도"], ["불량", "증가"], ["사출", "불량"]])
>>> [round(float(s), 3) for s in index.scores(["사출", "온도"])]
[1.451, 0.0, 0.47]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smart365.centre.categories import load_seed_tickets
from smart365.centre.text import FloatArray, TfidfSpace, Vocabulary, tokenize_many
from smart365.core.errors import Invalid
from smart365.core.i18n import N_
from smart365.core.lazy import lazy

if TYPE_CHECKING:
    from scipy import sparse
else:
    sparse = lazy("scipy.sparse")

SNIPPET_CHARS = 80


class Bm25Index:
    """BM25 over pre-tokenised documents. ``k1`` saturates term frequency; ``b`` normalises by length."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> None:
        if not docs:
            raise Invalid(N_("A similar-case index needs at least one case."))
        self.k1, self.b = k1, b
        self.vocabulary = Vocabulary.build(docs)
        counts = self.vocabulary.counts(docs)
        n_docs = counts.shape[0]
        lengths = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
        avgdl = float(lengths.mean()) or 1.0
        df = np.bincount(counts.indices, minlength=len(self.vocabulary)).astype(np.float64)
        self.idf: FloatArray = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        rows = np.repeat(np.arange(n_docs), np.diff(counts.indptr))
        tf = counts.data
        norm = k1 * (1.0 - b + b * lengths[rows] / avgdl)
        weights = self.idf[counts.indices] * tf * (k1 + 1.0) / (tf + norm)
        self.weights = sparse.csr_matrix((weights, counts.indices, counts.indptr), shape=counts.shape)

    def __len__(self) -> int:
        return int(self.weights.shape[0])

    def query_matrix(self, queries: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        """One row per query: 1 for each distinct known term."""
        matrix = self.vocabulary.counts(queries)
        matrix.data = np.ones_like(matrix.data)
        return matrix

    def scores(self, query: Sequence[str]) -> FloatArray:
        """BM25 score of every document for one tokenised query."""
        return self.score_matrix([query])[0]

    def score_matrix(self, queries: Sequence[Sequence[str]]) -> FloatArray:
        """``(len(queries), len(self))`` scores in one sparse product."""
        return np.asarray((self.query_matrix(queries) @ self.weights.T).toarray(), dtype=np.float64)


@dataclass(frozen=True)
class Case:
    """A past ticket that can be found again: its text, category, topic (optional) and resolution."""

    id: str
    text: str
    category: str
    resolution: str = ""
    topic: str = ""


@dataclass(frozen=True)
class Match:
    """One similar case: its id, BM25 score, category and the start of its resolution."""

    id: str
    score: float
    category: str
    snippet: str


def seed_cases() -> list[Case]:
    """The synthetic seed tickets as searchable cases (a starting index until real cases exist).

    >>> len(seed_cases()) >= 440
    True
    """
    return [Case(t.id, t.text, t.category, t.resolution, t.topic) for t in load_seed_tickets().tickets]


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis when cut.

    >>> snippet("센서를 부착하고 임계값을 설정함", 12)
    '센서를 부착하고…'
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.") + "…"


class SimilarCases:
    """Search past cases by the text of a new ticket.

    A past case is indexed by its ticket text and, by default, its resolution too (what the expert did
    shares words with how the next firm will describe the same problem).

    >>> cases = [Case("a", "사출기 온도 데이터가 안 들어와요", "legacy_data", "온도 센서 추가"),
    ...          Case("b", "불량률이 늘었어요", "quality", "파레토 분석")]
    >>> [m.id for m in SimilarCases(cases).search("사출기 온도값 수집", k=1)]
    ['a']
    """

    def __init__(
        self, cases: Sequence[Case], k1: float = 1.5, b: float = 0.75, *, with_resolutions: bool = True
    ) -> None:
        self.cases = list(cases)
        docs = [f"{c.text} {c.resolution}" if with_resolutions else c.text for c in self.cases]
        self.index = Bm25Index(tokenize_many(docs), k1, b)

    def search(self, text: str, k: int = 5, *, category: str | None = None, exclude: Sequence[str] = ()) -> list[Match]:
        """The ``k`` best-scoring cases (score > 0), optionally of one category, never those in ``exclude``."""
        return self.search_many([text], k, category=category, exclude=exclude)[0]

    def search_many(
        self, texts: Sequence[str], k: int = 5, *, category: str | None = None, exclude: Sequence[str] = ()
    ) -> list[list[Match]]:
        """:meth:`search` for a batch of texts."""
        scores = self.index.score_matrix(tokenize_many(texts))
        excluded = set(exclude)
        allowed = np.array(
            [(category is None or c.category == category) and c.id not in excluded for c in self.cases], dtype=bool
        )
        scores[:, ~allowed] = -np.inf
        return [self._top(row, k) for row in scores]

    def _top(self, row: FloatArray, k: int) -> list[Match]:
        k = min(k, len(row))
        best = np.argpartition(-row, k - 1)[:k] if k else np.array([], dtype=np.int64)
        best = best[np.argsort(-row[best], kind="stable")]
        return [
            Match(self.cases[i].id, float(row[i]), self.cases[i].category, snippet(self.cases[i].resolution))
            for i in best
            if row[i] > 0
        ]


@dataclass(frozen=True)
class Recall:
    """Share of queries with at least one retrieved case of the same category (and of the same topic) in the
    top ``k``. ``no_hit`` is the share of queries whose top ``k`` was empty (no shared term at all)."""

    k: int
    same_category: float
    same_topic: float
    no_hit: float


def retrieval_recall(
    index_cases: Sequence[Case], queries: Sequence[Case], ks: Sequence[int] = (1, 5), *, with_resolutions: bool = True
) -> list[Recall]:
    """Recall@k of :class:`SimilarCases` built on ``index_cases`` for the ``queries`` (held-out cases).

    What it measures, honestly: whether the neighbourhood is right (same category; same topic label where
    the seed set has one), not whether the retrieved resolution would actually solve the new ticket.
    """
    search = SimilarCases(index_cases, with_resolutions=with_resolutions)
    results = search.search_many([q.text for q in queries], max(ks))
    out = []
    for k in ks:
        top = [r[:k] for r in results]
        cat = [any(m.category == q.category for m in r) for q, r in zip(queries, top, strict=True)]
        topic_of = {c.id: (c.category, c.topic) for c in index_cases}
        topic = [any(topic_of[m.id] == (q.category, q.topic) for m in r) for q, r in zip(queries, top, strict=True)]
        out.append(Recall(k, float(np.mean(cat)), float(np.mean(topic)), float(np.mean([not r for r in top]))))
    return out


@dataclass(frozen=True)
class NearDuplicates:
    """For each test text, its highest cosine similarity to any training text (morpheme TF-IDF, IDF from
    the training texts): summary statistics and the share above ``threshold``."""

    mean: float
    median: float
    p95: float
    max: float
    share_above: float
    threshold: float


def near_duplicates(train: Sequence[str], test: Sequence[str], threshold: float = 0.8) -> NearDuplicates:
    """How close the test texts come to the training texts; templated data shows up as a high median.

    >>> stats = near_duplicates(["PLC 통신이 안 돼요", "불량률 증가"], ["PLC 통신이 안 돼요", "에너지 절감"])
    >>> stats.max, stats.share_above
    (1.0, 0.5)
    """
    space = TfidfSpace.fit(tokenize_many(train))
    similarity = space.transform(tokenize_many(test)) @ space.transform(tokenize_many(train)).T
    best = np.asarray(similarity.max(axis=1).toarray(), dtype=np.float64).ravel()
    return NearDuplicates(
        mean=float(best.mean()),
        median=float(np.median(best)),
        p95=float(np.percentile(best, 95)),
        max=round(float(best.max()), 12),
        share_above=float((best > threshold - 1e-12).mean()),
        threshold=threshold,
    )
