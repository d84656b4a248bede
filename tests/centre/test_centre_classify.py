"""The ticket classifier learns, gives probabilities, saves without pickle and refuses bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smart365.centre.categories import load_categories
from smart365.centre.classify import (
    STATE_ARRAYS,
    STATE_JSON,
    ClassifierConfig,
    Prediction,
    TicketClassifier,
    category_texts,
    cross_validate,
    expected_calibration_error,
    holdout_split,
)
from smart365.core.errors import Invalid, NotFound

TOY = {
    "energy": [
        "전기요금이 너무 많이 나와요",
        "컴프레셔 전력 사용량 절감",
        "피크 전력 관리 방법",
        "가스비 절감하고 싶어요",
    ],
    "security": ["랜섬웨어 감염됐어요", "퇴사자 계정 삭제", "원격 접속 보안 문제", "비밀번호 관리가 안돼요"],
    "funding": ["지원사업 신청 자격", "정부 지원금 정산 서류", "정책자금 대출 문의", "사업계획서 작성 방법"],
}


def toy_data() -> tuple[list[str], list[str]]:
    texts = [t for items in TOY.values() for t in items]
    labels = [c for c, items in TOY.items() for _ in items]
    return texts, labels


@pytest.fixture(scope="module")
def toy_model() -> TicketClassifier:
    texts, labels = toy_data()
    return TicketClassifier(ClassifierConfig(calibration_folds=2)).fit(texts, labels)


def test_learns_a_toy_problem_on_new_wording(toy_model: TicketClassifier) -> None:
    assert toy_model.predict("이번 달 전기요금 폭탄 맞았어요").category == "energy"
    assert toy_model.predict("랜섬웨어 같은데 파일이 다 잠겼어요").category == "security"
    assert toy_model.predict("지원사업 서류 정산은 어떻게 하나요").category == "funding"


def test_confidence_is_a_probability_and_top3_is_consistent(toy_model: TicketClassifier) -> None:
    prediction = toy_model.predict("전력 피크가 자꾸 올라가요")
    category, confidence, top3 = prediction  # unpacks as a tuple
    assert isinstance(prediction, Prediction)
    assert 0.0 < confidence <= 1.0
    assert top3[0] == (category, confidence)
    assert [p for _, p in top3] == sorted((p for _, p in top3), reverse=True)
    proba = toy_model.predict_proba(["전력 피크가 자꾸 올라가요", "아무 관계 없는 글"])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert sorted(c for c, _ in top3) == sorted(toy_model.classes)


def test_calibration_changes_confidence_not_the_choice(toy_model: TicketClassifier) -> None:
    texts = ["가스비", "계정", "대출", "보안 점검 받아야 해요"]
    calibrated = toy_model.predict_proba(texts)
    raw = toy_model.predict_proba(texts, calibrated=False)
    assert toy_model.temperature > 0
    assert (calibrated.argmax(axis=1) == raw.argmax(axis=1)).all()


def test_binary_problem_works() -> None:
    model = TicketClassifier(ClassifierConfig(calibrate=False)).fit(
        TOY["energy"] + TOY["security"], ["e"] * 4 + ["s"] * 4
    )
    assert model.classes == ["e", "s"]
    assert model.predict("전기요금 절감").category == "e"
    assert model.predict("계정 보안").category == "s"


def test_save_and_load_round_trip_without_pickle(toy_model: TicketClassifier, tmp_path: Path) -> None:
    toy_model.save(tmp_path / "state")
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == sorted([STATE_JSON, STATE_ARRAYS])
    json.loads((tmp_path / "state" / STATE_JSON).read_text(encoding="utf-8"))
    with np.load(tmp_path / "state" / STATE_ARRAYS, allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
    loaded = TicketClassifier.load(tmp_path / "state")
    texts = ["전기요금", "랜섬웨어 감염", "지원사업 자격이 궁금"]
    assert np.allclose(loaded.predict_proba(texts), toy_model.predict_proba(texts))
    assert loaded.config == toy_model.config


def test_errors_are_clear() -> None:
    with pytest.raises(Invalid):
        TicketClassifier().predict("학습 전")
    with pytest.raises(Invalid):
        TicketClassifier().fit(["a", "b"], ["x", "x"])
    with pytest.raises(Invalid):
        TicketClassifier().fit(["a", "b"], ["x"])
    with pytest.raises(NotFound):
        TicketClassifier.load(Path("/nonexistent/classifier"))


def test_resolutions_and_category_texts_widen_the_vocabulary() -> None:
    texts, labels = toy_data()
    resolutions = ["인버터 설치로 절감"] * 4 + ["백신 점검"] * 4 + ["신청 서류 안내"] * 4
    plain = TicketClassifier(ClassifierConfig(calibrate=False)).fit(texts, labels)
    wider = TicketClassifier(ClassifierConfig(calibrate=False)).fit(texts, labels, resolutions=resolutions)
    assert wider.predict("인버터").category == "energy"
    assert plain.predict("인버터").confidence < wider.predict("인버터").confidence
    pairs = category_texts(load_categories())
    assert len(pairs) == 3 * len(load_categories())


def test_expected_calibration_error_is_zero_when_confidence_equals_accuracy() -> None:
    confidence = np.array([0.75] * 4)
    assert expected_calibration_error(confidence, np.array([True, True, True, False])) == 0.0


def test_cross_validation_uses_every_ticket_once() -> None:
    texts, labels = toy_data()
    examples = [
        type("T", (), {"text": t, "category": c, "resolution": ""})() for t, c in zip(texts, labels, strict=True)
    ]
    scores = cross_validate(examples, ClassifierConfig(calibrate=False), folds=4)
    assert len(scores) == 4 and sum(s.n for s in scores) == len(texts)


def test_holdout_split_is_stratified_and_reproducible() -> None:
    labels = ["a"] * 40 + ["b"] * 40 + ["c"] * 20
    train, test = holdout_split(labels)
    again_train, again_test = holdout_split(labels)
    assert (train == again_train).all() and (test == again_test).all()
    assert not set(train) & set(test)
    assert sorted(np.asarray(labels)[test].tolist()).count("c") == 5
