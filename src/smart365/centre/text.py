"""Korean text → content morphemes (kiwipiepy), character n-grams and sparse TF-IDF vectors.

A ticket such as "사출기 온도 데이터가 MES에 안 들어와요" becomes the morphemes that carry its meaning —
nouns, verb and adjective stems, roots, foreign words (``SL``, lowercased), numbers and the negations
안/못 — and loses particles and endings. One :class:`kiwipiepy.Kiwi` instance (about a second to load) is
created lazily on first use and shared by the whole process.

>>> tokens("사출기 온도 데이터가 MES에 안 들어와요")
['사출', '온도', '데이터', 'mes', '안', '들어오']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smart365.core.lazy import lazy

if TYPE_CHECKING:
    from scipy import sparse
else:
    sparse = lazy("scipy.sparse")

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

FloatArray = npt.NDArray[np.float64]

#: Kiwi part-of-speech tags kept as content (the part before ``-``, so ``VV-R`` counts as ``VV``).
CONTENT_TAGS = frozenset({"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SN", "SH"})
#: Adverbs kept despite their tag: "안 들어와요" and "들어와요" are different complaints.
KEPT_ADVERBS = frozenset({"안", "못"})
#: English function words dropped from ``SL`` tokens (tickets written in English or mixed).
ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does doesn for from had has have how i if in into "
    "is it its me my no of on or our please so than that the their them then there these they this to too "
    "us was we were what when where which while who why will with would you your".split()
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")

_kiwi: Kiwi | None = None
_kiwi_lock = threading.Lock()
#: Analyses run one at a time: kiwipiepy does not document its analyser as thread-safe, and a web server
#: may classify tickets from several threads. A ticket takes about a millisecond, so the lock costs little.
_analyse_lock = threading.Lock()


def kiwi() -> Kiwi:
    """The process-wide analyser, loaded on first use (thread-safe)."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi

                _kiwi = Kiwi(num_workers=1)
    return _kiwi


def _foreign(form: str) -> str | None:
    """A foreign (Latin) token lowercased and stripped of punctuation, or ``None`` when it carries nothing."""
    word = _NON_ALNUM.sub("", form.lower())
    return word if len(word) > 1 and word not in ENGLISH_STOPWORDS else None


def tokens(text: str) -> list[str]:
    """Content morphemes of ``text`` in order, lowercased.

    Adjacent foreign pieces are joined first (Kiwi sometimes splits "Monday." into "M" + "onday.").

    >>> tokens("PLC가 오래돼서 통신이 안됩니다")
    ['plc', '되', '통신', '안', '되']
    >>> tokens("Our OPC UA server drops the connection since Monday.")
    ['opc', 'ua', 'server', 'drops', 'connection', 'since', 'monday']
    """
    analyser = kiwi()
    with _analyse_lock:
        analysed = analyser.tokenize(text)
    out: list[str] = []
    pending, pending_end = "", -1
    for tok in analysed:
        tag = tok.tag.split("-")[0]
        if tag == "SL":
            if pending and tok.start == pending_end:
                pending += tok.form
            else:
                _flush(pending, out)
                pending = tok.form
            pending_end = tok.start + tok.len
            continue
        _flush(pending, out)
        pending = ""
        if tag in CONTENT_TAGS or (tag == "MAG" and tok.form in KEPT_ADVERBS):
            out.append(tok.form.lower())
    _flush(pending, out)
    return out


def _flush(foreign: str, out: list[str]) -> None:
    word = _foreign(foreign) if foreign else None
    if word:
        out.append(word)


@lru_cache(maxsize=32768)
def cached_tokens(text: str) -> tuple[str, ...]:
    """:func:`tokens`, memoised (training and cross-validation see the same texts many times).

    >>> cached_tokens("불량률이 올라갔어요")
    ('불량', '올라가')
    """
    return tuple(tokens(text))


def tokenize_many(texts: Iterable[str]) -> list[tuple[str, ...]]:
    """:func:`cached_tokens` for each text.

    >>> tokenize_many(["설비가 자꾸 멈춰요", ""])
    [('설비', '멈추'), ()]
    """
    return [cached_tokens(text) for text in texts]


def char_ngrams(text: str, n_min: int = 2, n_max: int = 4) -> list[str]:
    """Character n-grams inside each space-padded word (like scikit-learn's ``char_wb``), lowercased.

    They survive typos and spacing errors ("안들어와요" vs "안 들어와요") that break morphemes.

    >>> char_ngrams("PLC 통신", 2, 3)
    [' p', 'pl', 'lc', 'c ', ' pl', 'plc', 'lc ', ' 통', '통신', '신 ', ' 통신', '통신 ']
    """
    grams: list[str] = []
    for word in _SPACES.split(text.lower().strip()):
        if not word:
            continue
        padded = f" {word} "
        for n in range(n_min, n_max + 1):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


@dataclass(frozen=True)
class Vocabulary:
    """Terms → column numbers, for sparse count matrices.

    >>> vocab = Vocabulary.build([["a", "b"], ["b", "c"]], min_df=2)
    >>> vocab.terms, vocab.counts([["b", "b", "z"]]).toarray().tolist()
    (['b'], [[2.0]])
    """

    index: dict[str, int]

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]], min_df: int = 1) -> Vocabulary:
        """Every term found in at least ``min_df`` documents, sorted."""
        df: dict[str, int] = {}
        for doc in docs:
            for term in set(doc):
                df[term] = df.get(term, 0) + 1
        kept = sorted(term for term, n in df.items() if n >= min_df)
        return cls({term: i for i, term in enumerate(kept)})

    @classmethod
    def from_terms(cls, terms: Sequence[str]) -> Vocabulary:
        return cls({term: i for i, term in enumerate(terms)})

    @property
    def terms(self) -> list[str]:
        return sorted(self.index, key=self.index.__getitem__)

    def __len__(self) -> int:
        return len(self.index)

    def counts(self, docs: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        """A ``(len(docs), len(self))`` CSR matrix of term counts; unknown terms are ignored."""
        rows: list[int] = []
        cols: list[int] = []
        for r, doc in enumerate(docs):
            for term in doc:
                c = self.index.get(term)
                if c is not None:
                    rows.append(r)
                    cols.append(c)
        data = np.ones(len(rows), dtype=np.float64)
        matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(docs), len(self)))
        matrix.sum_duplicates()
        return matrix


@dataclass(frozen=True)
class TfidfSpace:
    """Sublinear TF-IDF with smooth IDF and L2 rows (the formulas of scikit-learn's ``TfidfVectorizer``).

    tf = 1 + ln(count); idf = ln((1 + n) / (1 + df)) + 1; each row scaled to unit length.

    >>> space = TfidfSpace.fit([["품질", "불량"], ["품질", "교육"]])
    >>> row = space.transform([["불량", "품질"]]).toarray()[0]
    >>> [round(float(v), 3) for v in row], round(float(np.linalg.norm(row)), 6)
    ([0.0, 0.815, 0.58], 1.0)
    """

    vocabulary: Vocabulary
    idf: FloatArray

    @classmethod
    def fit(cls, docs: Sequence[Sequence[str]], min_df: int = 1) -> TfidfSpace:
        vocabulary = Vocabulary.build(docs, min_df)
        df = np.asarray((vocabulary.counts(docs) > 0).sum(axis=0), dtype=np.float64).ravel()
        idf = np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0
        return cls(vocabulary, idf)

    def transform(self, docs: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        matrix = self.vocabulary.counts(docs)
        matrix.data = 1.0 + np.log(matrix.data)
        matrix = sparse.csr_matrix(matrix.multiply(self.idf[np.newaxis, :]))
        return l2_normalise(matrix)


def l2_normalise(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit Euclidean length (empty rows stay empty)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel())
    norms[norms == 0.0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)
