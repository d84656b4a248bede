"""Smart365 센터 benchmark: ticket classifier, similar cases, near-duplicates, expert assignment, tokeniser.

Protocol (fixed seeds, nothing tuned on the held-out split):

1. the synthetic seed tickets are split 75/25, stratified by category (seed 365);
2. the classifier configuration is chosen by 5-fold CV macro-F1 on the 75 % training split only;
3. the chosen configuration is refitted on the training split (with the training tickets' resolutions and the
   category descriptions as extra documents) and scored once on the held-out 25 %;
4. similar cases: BM25 index of the training tickets, queried with the held-out tickets' texts;
5. near-duplicates: each held-out ticket's highest cosine similarity to any training ticket;
6. assignment: synthetic 50 experts × 500 firms (and 200 × 2,000), exact solver vs greedy;
7. tokenisation throughput on every seed text and resolution, uncached.

The seed tickets are SYNTHETIC, written by the Smart365 developers: the same people wrote training and test
tickets, so every accuracy below is an upper bound until real labelled tickets exist.

Usage::

    .venv/bin/python bench/bench_centre.py            # full run (model selection included)
    .venv/bin/python bench/bench_centre.py --quick    # default configuration, no selection
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import numpy as np
from sklearn.metrics import f1_score

from smart365.centre import text as text_module
from smart365.centre.assign import fit_matrix, greedy, objective, solve, synthetic_instance
from smart365.centre.categories import SeedTicket, load_categories, load_seed_tickets
from smart365.centre.classify import (
    SEED,
    ClassifierConfig,
    Scores,
    TicketClassifier,
    category_texts,
    cross_validate,
    evaluate_holdout,
    holdout_split,
    select_config,
)
from smart365.centre.similar import Case, near_duplicates, retrieval_recall

T = TypeVar("T")
CANDIDATES = [ClassifierConfig(c=c, char_ngrams=g) for c in (1.0, 10.0, 100.0) for g in (None, (1, 3), (2, 4))]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def row(name: str, value: str, note: str = "") -> None:
    print(f"  {name:<54} {value:>15}  {note}".rstrip())


def classifier_section(tickets: Sequence[SeedTicket], quick: bool) -> None:
    labels = [t.category for t in tickets]
    train, test = holdout_split(labels)
    train_tickets = [tickets[i] for i in train]
    extra = category_texts(load_categories())
    config = ClassifierConfig()
    print(f"\nTicket classifier — {len(train)} training / {len(test)} held-out tickets, {len(set(labels))} classes")
    if not quick:
        log(f"selecting among {len(CANDIDATES)} configurations by 5-fold CV on the training split...")
        start = time.perf_counter()
        config, results = select_config(train_tickets, CANDIDATES, extra)
        log(f"selection took {time.perf_counter() - start:.0f} s")
        for candidate, f1 in results:
            mark = "  ← chosen" if candidate == config else ""
            row(f"CV macro-F1, {candidate.describe()}", f"{f1:.3f}", mark)
    log("5-fold CV of the chosen configuration on the training split...")
    folds = cross_validate(train_tickets, config, extra)
    log("fitting on the training split and scoring the held-out split once...")
    calibrated, raw, model = evaluate_holdout(tickets, train, test, config, extra)
    _print_scores(config, folds, calibrated, raw, model.temperature)
    _per_language(tickets, test, model)
    _per_category(tickets, test, model)


def _mean_std(values: Sequence[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _print_scores(config: ClassifierConfig, folds: list[Scores], held: Scores, raw: Scores, temp: float) -> None:
    row("configuration", config.describe())
    row("5-fold CV accuracy (training split)", _mean_std([s.accuracy for s in folds]), "same folds as selection")
    row("5-fold CV macro-F1 (training split)", _mean_std([s.macro_f1 for s in folds]))
    row("5-fold CV top-3 accuracy (training split)", _mean_std([s.top3_accuracy for s in folds]))
    row("held-out top-1 accuracy", f"{held.accuracy:.3f}", f"n={held.n}; chance ≈ {1 / 11:.3f}")
    row("held-out macro-F1", f"{held.macro_f1:.3f}")
    row("held-out top-3 accuracy", f"{held.top3_accuracy:.3f}")
    row("held-out ECE (calibrated / raw)", f"{held.ece:.3f} / {raw.ece:.3f}", f"temperature {temp:.2f}")


def _per_language(tickets: Sequence[SeedTicket], test: np.ndarray, model: TicketClassifier) -> None:
    for lang in ("ko", "en"):
        idx = [i for i in test if tickets[i].lang == lang]
        predicted = [p.category for p in model.predict_many([tickets[i].text for i in idx])]
        accuracy = np.mean([p == tickets[i].category for p, i in zip(predicted, idx, strict=True)])
        row(f"held-out top-1 accuracy, {lang} tickets", f"{accuracy:.3f}", f"n={len(idx)}")


def _per_category(tickets: Sequence[SeedTicket], test: np.ndarray, model: TicketClassifier) -> None:
    truth = [tickets[i].category for i in test]
    predicted = [p.category for p in model.predict_many([tickets[i].text for i in test])]
    f1 = f1_score(truth, predicted, labels=model.classes, average=None, zero_division=0)
    cells = [f"{c} {v:.2f}" for c, v in zip(model.classes, f1, strict=True)]
    print("  held-out F1 by category: " + ", ".join(cells[:6]))
    print("                           " + ", ".join(cells[6:]))


def similar_section(tickets: Sequence[SeedTicket]) -> None:
    train, test = holdout_split([t.category for t in tickets])
    cases = [Case(t.id, t.text, t.category, t.resolution, t.topic) for t in tickets]
    index, queries = [cases[i] for i in train], [cases[i] for i in test]
    print(f"\nSimilar cases (BM25 k1=1.5 b=0.75) — index {len(index)} training cases, {len(queries)} held-out queries")
    for with_resolutions in (True, False):
        fields = "text + resolution" if with_resolutions else "text only"
        for r in retrieval_recall(index, queries, (1, 5), with_resolutions=with_resolutions):
            row(f"recall@{r.k} same category ({fields})", f"{r.same_category:.3f}")
            row(f"recall@{r.k} same category and topic ({fields})", f"{r.same_topic:.3f}")
    print("  (measures the neighbourhood — same category/topic label — not whether the resolution solves the ticket)")
    stats = near_duplicates([tickets[i].text for i in train], [tickets[i].text for i in test])
    print("\nNear-duplicates: each held-out ticket's max cosine to the training tickets (morpheme TF-IDF)")
    row("mean / median", f"{stats.mean:.3f} / {stats.median:.3f}")
    row("95th percentile / max", f"{stats.p95:.3f} / {stats.max:.3f}")
    row(f"share of held-out tickets above {stats.threshold}", f"{stats.share_above:.3f}")


def assignment_section() -> None:
    print("\nExpert assignment — synthetic instances (coverage first, then total fit)")
    print(
        f"  {'instance':<14} {'method':<8} {'time_ms':>9} {'served':>7} {'objective':>10} {'fit/firm':>9} {'cap ok':>7}"
    )
    for n_experts, n_firms in ((50, 500), (200, 2000)):
        _assignment_rows(n_experts, n_firms)
    print("  (time_ms = fit matrix + solve, median of 3 runs; explanations for 500 matches add ~50 ms)")


def _assignment_rows(n_experts: int, n_firms: int) -> None:
    experts, firms = synthetic_instance(n_experts, n_firms, seed=SEED)
    capacity = [e.capacity for e in experts]
    matrix_ms, matrix = _timed(partial(fit_matrix, experts, firms), repeats=3)
    methods: list[tuple[str, Callable[..., dict[int, int]]]] = [("exact", solve), ("greedy", greedy)]
    for name, method in methods:
        ms, pairs = _timed(partial(method, matrix.total, matrix.eligible, capacity), repeats=3)
        load = np.bincount(np.asarray(list(pairs.values()), dtype=np.int64), minlength=len(experts))
        ok = bool((load <= np.asarray(capacity)).all())
        value = objective(matrix.total, pairs)
        label = f"{n_experts}×{n_firms}"
        print(
            f"  {label:<14} {name:<8} {ms + matrix_ms:>9.1f} {len(pairs):>7} {value:>10.1f} "
            f"{value / max(len(pairs), 1):>9.2f} {ok!s:>7}"
        )


def _timed(run: Callable[[], T], repeats: int) -> tuple[float, T]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def tokeniser_section(tickets: Sequence[SeedTicket]) -> None:
    texts = [t.text for t in tickets] + [t.resolution for t in tickets]
    text_module.kiwi()  # load the model outside the timing
    start = time.perf_counter()
    n_tokens = sum(len(text_module.tokens(t)) for t in texts)
    seconds = time.perf_counter() - start
    chars = sum(len(t) for t in texts)
    print("\nTokeniser (Kiwi, one thread, uncached)")
    row("documents / s", f"{len(texts) / seconds:,.0f}", f"{len(texts)} docs, {chars:,} chars, {n_tokens:,} tokens")
    row("characters / s", f"{chars / seconds:,.0f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip model selection (default configuration)")
    args = parser.parse_args(argv)
    seed = load_seed_tickets()
    tickets = list(seed.tickets)
    print("Smart365 centre benchmark")
    print(f"Seed set: {len(tickets)} tickets, provenance: {seed.provenance}. {seed.notice}")
    tokeniser_section(tickets)
    classifier_section(tickets, args.quick)
    similar_section(tickets)
    assignment_section()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
