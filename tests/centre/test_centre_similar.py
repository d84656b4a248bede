"""BM25 scores equal the hand computation; the case search filters, excludes and cuts snippets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smart365.centre.similar import Bm25Index, Case, SimilarCases, near_duplicates, retrieval_recall, snippet
from smart365.core.errors import Invalid

#: d0 = "a a b" (3 terms), d1 = "b c" (2), d2 = "c c c d" (4); N = 3, avgdl = 3, k1 = 1.5, b = 0.75.
TOY = [["a", "a", "b"], ["b", "c"], ["c", "c", "c", "d"]]


def test_bm25_matches_the_hand_computation() -> None:
    index = Bm25Index(TOY, k1=1.5, b=0.75)
    idf_a = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))  # df(a) = 1 → ln(8/3) = 0.980829
    idf_b = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # df(b) = 2 → ln(1.6)  = 0.470004
    # d0: |d| = avgdl → K = 1.5; tf(a) = 2 → 2·2.5/(2 + 1.5); tf(b) = 1 → 1·2.5/(1 + 1.5) = 1
    d0 = idf_a * (2 * 2.5 / (2 + 1.5)) + idf_b * 1.0
    # d1: K = 1.5·(0.25 + 0.75·2/3) = 1.125; tf(b) = 1 → 2.5/(1 + 1.125)
    d1 = idf_b * (2.5 / (1 + 1.125))
    expected = [d0, d1, 0.0]
    assert np.allclose(index.scores(["a", "b"]), expected)
    assert np.allclose(expected, [1.871189, 0.552946, 0.0], atol=1e-6)  # the same numbers, by calculator


def test_query_terms_count_once_and_unknown_terms_score_nothing() -> None:
    index = Bm25Index(TOY)
    assert np.allclose(index.scores(["a", "a", "b"]), index.scores(["a", "b"]))
    assert np.allclose(index.scores(["zzz"]), 0.0)
    assert np.allclose(index.score_matrix([["a"], ["c"]])[1], index.scores(["c"]))


def test_longer_documents_are_penalised_by_b() -> None:
    # "c" occurs once in d1 (2 terms) and three times in d2 (4 terms); with b = 1 and k1 = 0 length is all
    no_saturation = Bm25Index(TOY, k1=0.0, b=1.0).scores(["c"])
    assert no_saturation[1] == pytest.approx(no_saturation[2])  # k1 = 0: tf and length stop mattering
    assert Bm25Index(TOY, k1=1.5, b=0.0).scores(["c"])[2] > Bm25Index(TOY, k1=1.5, b=1.0).scores(["c"])[2]


def test_an_empty_index_is_refused() -> None:
    with pytest.raises(Invalid):
        Bm25Index([])


CASES = [
    Case(
        "c1",
        "사출기 온도 데이터가 MES에 안 들어와요",
        "legacy_data",
        "금형 온도조절기 출력 단자에서 4-20mA 신호를 받아 " * 3,
    ),
    Case("c2", "PLC가 오래돼서 통신이 안됩니다", "legacy_data", "신호 병렬 취득"),
    Case("c3", "OPC UA 인증서 오류", "connectivity", "인증서를 신뢰 목록으로 이동"),
    Case("c4", "불량률이 갑자기 늘었어요", "quality", "파레토 분석"),
]


def test_search_returns_best_first_with_filters_and_snippets() -> None:
    search = SimilarCases(CASES)
    found = search.search("사출기 온도가 MES에 안 들어와요", k=2)
    assert found[0].id == "c1"
    assert found[0].score >= found[-1].score
    assert len(found[0].snippet) <= 80 and found[0].snippet.endswith("…")
    assert [m.id for m in search.search("통신 오류", k=4, category="connectivity")] == ["c3"]
    assert "c1" not in [m.id for m in search.search("사출기 온도 데이터", k=4, exclude=["c1"])]
    assert search.search("전혀 무관한 해외 전시회", k=3) == []


def test_snippet_keeps_short_text_and_cuts_long_text_at_a_word() -> None:
    assert snippet("짧은 답변") == "짧은 답변"
    cut = snippet("가나다 라마바 사아자 차카타 파하", limit=12)
    assert cut == "가나다 라마바…"


def test_recall_counts_same_category_and_same_topic() -> None:
    index = [Case("i1", "PLC 통신 불가", "legacy_data", topic="old_plc"), Case("i2", "불량 증가", "quality", topic="x")]
    queries = [
        Case("q1", "PLC 통신 문의", "legacy_data", topic="old_plc"),
        Case("q2", "불량 분석", "quality", topic="y"),
    ]
    (at1,) = retrieval_recall(index, queries, ks=(1,))
    assert (at1.same_category, at1.same_topic, at1.no_hit) == (1.0, 0.5, 0.0)


def test_near_duplicate_statistics_flag_a_copied_ticket() -> None:
    stats = near_duplicates(["PLC 통신이 안 돼요", "불량률이 올라요"], ["PLC 통신이 안 돼요", "전시회 참가 지원"])
    assert stats.max == pytest.approx(1.0)
    assert stats.share_above == 0.5
    assert stats.median == pytest.approx(0.5)
