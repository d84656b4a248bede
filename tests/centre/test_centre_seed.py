"""The synthetic seed tickets: enough per category, honestly labelled as synthetic, varied, and learnable."""

from __future__ import annotations

from collections import Counter

import pytest

from smart365.centre.categories import SEED_TICKETS_FILE, load_categories, load_seed_tickets
from smart365.centre.classify import (
    ClassifierConfig,
    TicketClassifier,
    category_texts,
    holdout_split,
    score,
    seed_classifier,
)
from smart365.centre.similar import Case, near_duplicates, retrieval_recall

SEED = load_seed_tickets()


def test_the_seed_file_says_it_is_synthetic_at_the_top() -> None:
    head = SEED_TICKETS_FILE.read_text(encoding="utf-8")[:600]
    assert "SYNTHETIC" in head and "NOT real firms' data" in head and "Smart365 developers" in head
    assert SEED.provenance == "synthetic"


def test_at_least_40_tickets_per_category_and_440_in_all() -> None:
    counts = Counter(t.category for t in SEED.tickets)
    assert set(counts) == {c.id for c in load_categories()}
    assert min(counts.values()) >= 40
    assert len(SEED.tickets) >= 440


def test_every_ticket_has_text_and_resolution_and_unique_id() -> None:
    assert all(t.text and t.resolution for t in SEED.tickets)
    assert len({t.id for t in SEED.tickets}) == len(SEED.tickets)
    assert len({t.text for t in SEED.tickets}) == len(SEED.tickets)


def test_some_tickets_are_in_english() -> None:
    english = sum(t.lang == "en" for t in SEED.tickets)
    assert 0.05 <= english / len(SEED.tickets) <= 0.3


def test_train_and_test_splits_are_not_near_duplicates() -> None:
    train, test = holdout_split([t.category for t in SEED.tickets])
    stats = near_duplicates([SEED.tickets[i].text for i in train], [SEED.tickets[i].text for i in test])
    assert stats.share_above <= 0.02  # templated data would put most test tickets above 0.8
    assert stats.median < 0.5
    assert stats.max < 0.9


@pytest.fixture(scope="module")
def split_model() -> tuple[TicketClassifier, list[int]]:
    train, test = holdout_split([t.category for t in SEED.tickets])
    model = TicketClassifier(ClassifierConfig()).fit_tickets(
        [SEED.tickets[i] for i in train], category_texts(load_categories())
    )
    return model, test.tolist()


def test_the_classifier_beats_chance_by_far_on_held_out_seed_tickets(
    split_model: tuple[TicketClassifier, list[int]],
) -> None:
    model, test = split_model
    labels = [SEED.tickets[i].category for i in test]
    scores = score(labels, model.predict_proba([SEED.tickets[i].text for i in test]), model.classes)
    assert scores.accuracy > 0.45  # chance is 1/11
    assert scores.top3_accuracy > 0.7
    assert scores.ece < 0.2


def test_similar_cases_find_the_same_category_in_the_top_five() -> None:
    train, test = holdout_split([t.category for t in SEED.tickets])
    cases = [Case(t.id, t.text, t.category, t.resolution, t.topic) for t in SEED.tickets]
    at1, at5 = retrieval_recall([cases[i] for i in train], [cases[i] for i in test], ks=(1, 5))
    assert at5.same_category > 0.6
    assert at1.same_category <= at5.same_category
    assert at5.same_topic <= at5.same_category


def test_the_seed_classifier_covers_every_category_and_fits_its_own_data() -> None:
    model = seed_classifier(ClassifierConfig(calibrate=False))  # calibration is tested elsewhere; keep it fast
    assert model.classes == sorted(c.id for c in load_categories())
    sample = SEED.tickets[::10]
    hits = [p.category == t.category for p, t in zip(model.predict_many([t.text for t in sample]), sample, strict=True)]
    assert sum(hits) / len(hits) > 0.8
