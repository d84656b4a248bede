"""Tokenisation keeps content morphemes; TF-IDF matches scikit-learn's formulas."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from smart365.centre.text import TfidfSpace, char_ngrams, kiwi, tokenize_many, tokens


def test_keeps_nouns_stems_foreign_words_and_numbers_drops_particles_and_endings() -> None:
    assert tokens("사출기 온도 데이터가 MES에 안 들어와요") == ["사출", "온도", "데이터", "mes", "안", "들어오"]
    got = tokens("불량률이 3.5%에서 7%로 올라갔어요")
    assert got == ["불량", "3.5", "7", "올라가"]
    assert not {"가", "에", "어요", "이", "에서", "로"} & set(tokens("PLC가 통신이 안됩니다. MES에서 로그가 없어요"))


def test_english_words_are_lowercased_joined_and_function_words_dropped() -> None:
    assert tokens("Our OPC UA server drops the connection since Monday.") == [
        "opc",
        "ua",
        "server",
        "drops",
        "connection",
        "since",
        "monday",
    ]


def test_mixed_korean_and_english_keeps_both() -> None:
    got = tokens("KEPServerEX로 태그 200개 읽는데 Bad quality로 떨어집니다")
    assert {"kepserverex", "태그", "200", "bad", "quality", "떨어지"} <= set(got)


def test_one_shared_analyser_and_batch_equals_single() -> None:
    assert kiwi() is kiwi()
    texts = ["설비가 자꾸 멈춰요", "에너지 바우처 신청", ""]
    assert tokenize_many(texts) == [tuple(tokens(t)) for t in texts]


def test_tokenising_from_several_threads_gives_the_same_result() -> None:
    texts = [f"{i}번 사출기 온도 데이터가 MES에 안 들어와요" for i in range(40)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(tokens, texts))
    assert parallel == [tokens(t) for t in texts]


def test_char_ngrams_survive_spacing_errors() -> None:
    spaced, unspaced = set(char_ngrams("안 들어와요")), set(char_ngrams("안들어와요"))
    assert {"들어", "어와", "와요"} <= spaced & unspaced


def test_tfidf_space_matches_scikit_learn_on_the_same_tokens() -> None:
    docs = [["품질", "불량", "불량"], ["품질", "교육"], ["에너지", "절감", "품질"], ["교육", "교육", "교육"]]
    ours = TfidfSpace.fit(docs).transform(docs).toarray()
    reference = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True).fit(docs)
    theirs = reference.transform(docs).toarray()
    order = np.argsort(reference.get_feature_names_out())  # both sort terms; align to be explicit
    assert np.allclose(ours, theirs[:, order])
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0)


def test_unknown_terms_are_ignored_at_transform_time() -> None:
    space = TfidfSpace.fit([["품질"], ["교육"]])
    assert space.transform([["미지의", "단어"]]).nnz == 0
