"""Ticket category classifier: TF-IDF over morphemes and character n-grams → logistic regression.

Features are two L2-normalised TF-IDF blocks side by side: Kiwi content morphemes (see
:mod:`smart365.centre.text`) and character 2–4-grams inside words (robust to typos and spacing). A
multinomial :class:`~sklearn.linear_model.LogisticRegression` is fitted on them; its probabilities are then
calibrated by one temperature fitted on out-of-fold predictions of the training data (so confidence means
what it says, and the held-out split is never touched).

The saved state is pickle-free: JSON (configuration, classes, vocabularies) and an ``.npz`` of arrays loaded
with ``allow_pickle=False``, so loading a state file cannot run code.

>>> model = TicketClassifier().fit(
...     ["사출기 데이터 수집", "PLC 데이터 수집", "불량률 증가", "불량 원인 분석"],
...     ["legacy_data", "legacy_data", "quality", "quality"])
>>> category, confidence, top3 = model.predict("불량이 늘었어요")
>>> category, 0.5 < confidence <= 1.0, [c for c, _ in top3]
('quality', True, ['quality', 'legacy_data'])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from smart365.centre.categories import Category, load_categories, load_seed_tickets
from smart365.centre.text import FloatArray, TfidfSpace, Vocabulary, char_ngrams, tokenize_many
from smart365.core.errors import Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.lazy import lazy

if TYPE_CHECKING:
    import scipy.optimize as sp_optimize
    import scipy.special as sp_special
    import sklearn.linear_model as sk_linear
    import sklearn.metrics as sk_metrics
    import sklearn.model_selection as sk_selection
    from scipy import sparse
else:
    sk_linear = lazy("sklearn.linear_model")
    sk_metrics = lazy("sklearn.metrics")
    sk_selection = lazy("sklearn.model_selection")
    sp_optimize = lazy("scipy.optimize")
    sp_special = lazy("scipy.special")
    sparse = lazy("scipy.sparse")

#: Seed of every split in this module (hold-out and folds): results are reproducible run to run.
SEED = 365
STATE_VERSION = 1
STATE_JSON = "classifier.json"
STATE_ARRAYS = "classifier.npz"

IntArray = npt.NDArray[np.int64]


class Prediction(NamedTuple):
    """The predicted category, its probability and the three most probable categories with theirs."""

    category: str
    confidence: float
    top3: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyper-parameters. ``char_ngrams=None`` uses morphemes only; ``c`` is the inverse L2 strength.

    The defaults are the configuration chosen by 5-fold CV macro-F1 on the training split of the seed tickets
    (``bench/bench_centre.py``); the candidates were within a few points of each other.
    """

    c: float = 1.0
    char_ngrams: tuple[int, int] | None = (2, 4)
    min_df: int = 1
    calibrate: bool = True
    calibration_folds: int = 3
    max_iter: int = 3000

    def describe(self) -> str:
        """A short label for tables.

        >>> ClassifierConfig(c=3.0, char_ngrams=None).describe()
        'C=3 morphemes'
        """
        grams = f" + char {self.char_ngrams[0]}-{self.char_ngrams[1]}" if self.char_ngrams else ""
        return f"C={self.c:g} morphemes{grams}"


@dataclass
class _Fitted:
    classes: list[str]
    words: TfidfSpace
    chars: TfidfSpace | None
    coef: FloatArray
    intercept: FloatArray
    char_range: tuple[int, int] | None = None
    temperature: float = 1.0


@dataclass
class TicketClassifier:
    """Fit on ticket texts and their category ids; predict one text or many."""

    config: ClassifierConfig = field(default_factory=ClassifierConfig)
    _fitted: _Fitted | None = None

    # ---- training -----------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        resolutions: Sequence[str] | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> TicketClassifier:
        """Learn from ``texts`` labelled ``labels`` (at least two categories); returns ``self``.

        ``resolutions`` (aligned with ``texts``) and ``extra`` ``(text, category)`` pairs — e.g. the
        categories' descriptions, see :func:`category_texts` — are added as further training documents of
        the same category; they widen the vocabulary of a small training set. Calibration is fitted on
        ticket texts only.
        """
        _check_training_data(texts, labels, resolutions)
        notes = resolutions or [""] * len(texts)
        examples = [Example(t, c, r) for t, c, r in zip(texts, labels, notes, strict=True)]
        fitted = _fit_plain(self.config, *_corpus(examples, extra))
        if self.config.calibrate:
            fitted.temperature = _fit_temperature(self.config, examples, extra)
        self._fitted = fitted
        return self

    def fit_tickets(self, tickets: Sequence[LabelledTicket], extra: Sequence[tuple[str, str]] = ()) -> TicketClassifier:
        """:meth:`fit` on labelled tickets (anything with ``text``, ``category`` and ``resolution``)."""
        return self.fit(
            [t.text for t in tickets],
            [t.category for t in tickets],
            resolutions=[t.resolution for t in tickets],
            extra=extra,
        )

    @property
    def classes(self) -> list[str]:
        return list(self._state().classes)

    @property
    def temperature(self) -> float:
        """The calibration temperature: logits are divided by it (1.0 = none; above 1 softens over-confident
        probabilities, below 1 sharpens under-confident ones)."""
        return self._state().temperature

    # ---- prediction ---------------------------------------------------------------------------------
    def predict(self, text: str) -> Prediction:
        """The category of one ticket, its probability and the top three.

        Returns a :class:`Prediction`, which unpacks as ``(category, confidence, top3)``.
        """
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """:meth:`predict` for many texts at once."""
        classes = self._state().classes
        out: list[Prediction] = []
        for row in self.predict_proba(texts):
            order = np.argsort(-row, kind="stable")[:3]
            top3 = tuple((classes[i], float(row[i])) for i in order)
            out.append(Prediction(top3[0][0], top3[0][1], top3))
        return out

    def predict_proba(self, texts: Sequence[str], *, calibrated: bool = True) -> FloatArray:
        """``(len(texts), n_classes)`` probabilities, columns in :attr:`classes` order; rows sum to 1."""
        fitted = self._state()
        logits = _logits(fitted, texts)
        return np.asarray(sp_special.softmax(logits / (fitted.temperature if calibrated else 1.0), axis=1))

    # ---- state --------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the fitted state to ``directory`` (JSON + NumPy arrays; no pickle)."""
        fitted = self._state()
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "classes": fitted.classes,
            "temperature": fitted.temperature,
            "word_terms": fitted.words.vocabulary.terms,
            "char_terms": fitted.chars.vocabulary.terms if fitted.chars else None,
        }
        (directory / STATE_JSON).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        arrays: dict[str, Any] = {"word_idf": fitted.words.idf, "coef": fitted.coef, "intercept": fitted.intercept}
        if fitted.chars:
            arrays["char_idf"] = fitted.chars.idf
        with (directory / STATE_ARRAYS).open("wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, directory: Path) -> TicketClassifier:
        """Read a state written by :meth:`save`."""
        if not (directory / STATE_JSON).is_file() or not (directory / STATE_ARRAYS).is_file():
            raise NotFound(N_("No saved ticket classifier in {path}."), path=str(directory))
        meta: dict[str, Any] = json.loads((directory / STATE_JSON).read_text(encoding="utf-8"))
        if meta.get("version") != STATE_VERSION:
            raise Invalid(N_("The saved ticket classifier has an unsupported format version."))
        raw = dict(meta["config"])
        raw["char_ngrams"] = tuple(raw["char_ngrams"]) if raw["char_ngrams"] else None
        with np.load(directory / STATE_ARRAYS, allow_pickle=False) as arrays:
            words = TfidfSpace(Vocabulary.from_terms(meta["word_terms"]), arrays["word_idf"])
            chars = (
                TfidfSpace(Vocabulary.from_terms(meta["char_terms"]), arrays["char_idf"])
                if meta["char_terms"] is not None
                else None
            )
            config = ClassifierConfig(**raw)
            fitted = _Fitted(
                list(meta["classes"]),
                words,
                chars,
                arrays["coef"],
                arrays["intercept"],
                config.char_ngrams,
                float(meta["temperature"]),
            )
        return cls(config, fitted)

    def _state(self) -> _Fitted:
        if self._fitted is None:
            raise Invalid(N_("The ticket classifier has not been trained yet."))
        return self._fitted


class LabelledTicket(Protocol):
    """Anything with a ticket text, its category id and the expert's resolution (may be empty)."""

    @property
    def text(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def resolution(self) -> str: ...


@dataclass(frozen=True)
class Example:
    """A labelled ticket: its text, its category and (optionally) the expert's resolution."""

    text: str
    category: str
    resolution: str = ""


def category_texts(categories: Sequence[Category]) -> list[tuple[str, str]]:
    """``(text, category id)`` pairs from the categories' names and descriptions (Korean and English).

    >>> from smart365.centre.categories import load_categories
    >>> category_texts(load_categories())[0]
    ('노후 설비 데이터 수집 Data collection from legacy equipment', 'legacy_data')
    """
    pairs: list[tuple[str, str]] = []
    for c in categories:
        pairs += [(f"{c.ko} {c.en}", c.id), (c.description.ko, c.id), (c.description.en, c.id)]
    return pairs


def seed_classifier(config: ClassifierConfig | None = None) -> TicketClassifier:
    """A classifier trained on every synthetic seed ticket (with resolutions and category descriptions).

    A starting point until real labelled tickets exist; retrain with them as they come in.
    """
    return TicketClassifier(config or ClassifierConfig()).fit_tickets(
        load_seed_tickets().tickets, category_texts(load_categories())
    )


def _check_training_data(texts: Sequence[str], labels: Sequence[str], resolutions: Sequence[str] | None) -> None:
    if len(texts) != len(labels) or (resolutions is not None and len(resolutions) != len(texts)):
        raise Invalid(N_("Got {texts} texts but {labels} labels."), texts=len(texts), labels=len(labels))
    if len(set(labels)) < 2:
        raise Invalid(N_("Training needs tickets of at least two categories."))


def _corpus(examples: Sequence[Example], extra: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Training documents: ticket texts, then non-empty resolutions, then the extra pairs."""
    texts = [e.text for e in examples] + [e.resolution for e in examples if e.resolution.strip()]
    labels = [e.category for e in examples] + [e.category for e in examples if e.resolution.strip()]
    return texts + [t for t, _ in extra], labels + [c for _, c in extra]


def _features(fitted: _Fitted, texts: Sequence[str]) -> sparse.csr_matrix:
    blocks = [fitted.words.transform(tokenize_many(texts))]
    if fitted.chars is not None and fitted.char_range is not None:
        blocks.append(fitted.chars.transform([char_ngrams(t, *fitted.char_range) for t in texts]))
    return sparse.csr_matrix(sparse.hstack(blocks))


def _logits(fitted: _Fitted, texts: Sequence[str]) -> FloatArray:
    x = _features(fitted, texts)
    return np.asarray(x @ fitted.coef.T, dtype=np.float64) + fitted.intercept[np.newaxis, :]


def _fit_plain(config: ClassifierConfig, texts: Sequence[str], labels: Sequence[str]) -> _Fitted:
    """Vocabularies, IDF and the logistic regression, without calibration."""
    words = TfidfSpace.fit(tokenize_many(texts), config.min_df)
    chars = (
        TfidfSpace.fit([char_ngrams(t, *config.char_ngrams) for t in texts], config.min_df)
        if config.char_ngrams
        else None
    )
    fitted = _Fitted(sorted(set(labels)), words, chars, np.zeros(0), np.zeros(0), config.char_ngrams)
    x = _features(fitted, texts)
    model = sk_linear.LogisticRegression(C=config.c, max_iter=config.max_iter)
    model.fit(x, list(labels))
    coef, intercept = np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: sklearn keeps one row for the second class; sp_special.softmax needs both
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    fitted.classes = [str(c) for c in model.classes_]
    fitted.coef, fitted.intercept = coef, intercept
    return fitted


def _fit_temperature(config: ClassifierConfig, examples: Sequence[Example], extra: Sequence[tuple[str, str]]) -> float:
    """One temperature minimising the log loss of out-of-fold logits on the training tickets (1.0 if too few)."""
    y = np.asarray([e.category for e in examples])
    folds = min(config.calibration_folds, int(np.unique(y, return_counts=True)[1].min()))
    if folds < 2:
        return 1.0
    classes = sorted(set(y.tolist()) | {c for _, c in extra})  # the classes the final model will have
    logits = np.zeros((len(examples), len(classes)))
    for train, test in sk_selection.StratifiedKFold(folds, shuffle=True, random_state=SEED).split(np.zeros(len(y)), y):
        fitted = _fit_plain(config, *_corpus([examples[i] for i in train], extra))
        columns = np.asarray([fitted.classes.index(c) if c in fitted.classes else -1 for c in classes])
        fold_logits = _logits(fitted, [examples[i].text for i in test])
        logits[test] = np.where(columns >= 0, fold_logits[:, np.maximum(columns, 0)], -1e9)
    target = np.searchsorted(classes, y)

    def nll(log_t: float) -> float:
        log_p = sp_special.log_softmax(logits / np.exp(log_t), axis=1)
        return float(-log_p[np.arange(len(target)), target].mean())

    return float(np.exp(sp_optimize.minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x))


# ---- evaluation ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scores:
    """Accuracy, macro-F1, top-3 accuracy and expected calibration error (10 bins) on ``n`` tickets."""

    accuracy: float
    macro_f1: float
    top3_accuracy: float
    ece: float
    n: int


def score(labels: Sequence[str], proba: FloatArray, classes: Sequence[str]) -> Scores:
    """Scores of predicted probabilities against true labels.

    >>> s = score(["a", "b"], np.array([[0.9, 0.1], [0.4, 0.6]]), ["a", "b"])
    >>> s.accuracy, s.top3_accuracy, round(s.ece, 2)
    (1.0, 1.0, 0.25)
    """
    classes_arr = np.asarray(classes)
    truth = np.asarray(labels)
    order = np.argsort(-proba, axis=1, kind="stable")
    predicted = classes_arr[order[:, 0]]
    top3 = (classes_arr[order[:, :3]] == truth[:, np.newaxis]).any(axis=1)
    return Scores(
        accuracy=float(sk_metrics.accuracy_score(truth, predicted)),
        macro_f1=float(sk_metrics.f1_score(truth, predicted, average="macro", labels=list(classes), zero_division=0)),
        top3_accuracy=float(top3.mean()),
        ece=expected_calibration_error(proba.max(axis=1), predicted == truth),
        n=len(truth),
    )


def expected_calibration_error(confidence: FloatArray, correct: npt.NDArray[np.bool_], bins: int = 10) -> float:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by bin size.

    >>> expected_calibration_error(np.array([0.9, 0.9]), np.array([True, False]))
    0.4
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(float(correct[mask].mean()) - float(confidence[mask].mean()))
    return round(float(total) / max(len(confidence), 1), 12)


def holdout_split(labels: Sequence[str], test_size: float = 0.25, seed: int = SEED) -> tuple[IntArray, IntArray]:
    """Stratified (train, test) index arrays, fixed by ``seed``.

    >>> train, test = holdout_split(["a"] * 8 + ["b"] * 8)
    >>> len(train), len(test), sorted(set(train) | set(test)) == list(range(16))
    (12, 4, True)
    """
    index = np.arange(len(labels))
    train, test = sk_selection.train_test_split(index, test_size=test_size, random_state=seed, stratify=list(labels))
    return np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)


def evaluate_holdout(
    tickets: Sequence[LabelledTicket],
    train: IntArray,
    test: IntArray,
    config: ClassifierConfig,
    extra: Sequence[tuple[str, str]] = (),
) -> tuple[Scores, Scores, TicketClassifier]:
    """Fit on ``train`` tickets only and score the ``test`` ones: (calibrated, uncalibrated, model)."""
    model = TicketClassifier(config).fit_tickets([tickets[i] for i in train], extra)
    texts, labels = [tickets[i].text for i in test], [tickets[i].category for i in test]
    return (
        score(labels, model.predict_proba(texts), model.classes),
        score(labels, model.predict_proba(texts, calibrated=False), model.classes),
        model,
    )


def cross_validate(
    tickets: Sequence[LabelledTicket],
    config: ClassifierConfig,
    extra: Sequence[tuple[str, str]] = (),
    folds: int = 5,
    seed: int = SEED,
) -> list[Scores]:
    """Stratified k-fold scores (one per fold); each fold trains only on its own training tickets."""
    y = np.asarray([t.category for t in tickets])
    out: list[Scores] = []
    for train, test in sk_selection.StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        model = TicketClassifier(config).fit_tickets([tickets[i] for i in train], extra)
        texts = [tickets[i].text for i in test]
        out.append(score(y[test].tolist(), model.predict_proba(texts), model.classes))
    return out


def select_config(
    tickets: Sequence[LabelledTicket],
    candidates: Sequence[ClassifierConfig],
    extra: Sequence[tuple[str, str]] = (),
    folds: int = 5,
) -> tuple[ClassifierConfig, list[tuple[ClassifierConfig, float]]]:
    """The candidate with the best mean CV macro-F1 on the given (training) tickets, and every candidate's.

    Calibration is switched off while selecting (one temperature does not change the arg-max).
    """
    results = []
    for config in candidates:
        fold_scores = cross_validate(tickets, replace(config, calibrate=False), extra, folds)
        results.append((config, float(np.mean([s.macro_f1 for s in fold_scores]))))
    best = max(results, key=lambda pair: pair[1])[0]
    return best, results
