"""The ODRL profile: JSON-LD and form round-trips without loss, unknown terms refused by name, evaluation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart365.collab.policy import (
    Assignee,
    AssigneeKind,
    Payment,
    PaymentModel,
    Policy,
    PolicyError,
    Purpose,
    Requester,
    UseRequest,
    describe,
    evaluate,
    from_form,
    from_jsonld,
    to_form,
    to_jsonld,
)
from smart365.core.db import SEOUL
from smart365.core.i18n import use_locale

moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)).map(
    lambda m: m.replace(microsecond=0)
)
assignees = st.one_of(
    st.just(Assignee(AssigneeKind.CENTRE)),
    st.integers(1, 10_000).map(lambda i: Assignee(AssigneeKind.PARTNER, (i,))),
    st.lists(st.integers(1, 10_000), min_size=1, max_size=5).map(lambda ids: Assignee(AssigneeKind.GROUP, tuple(ids))),
)
payments = st.one_of(
    st.none(),
    st.builds(Payment, st.sampled_from([PaymentModel.FIXED, PaymentModel.METERED, PaymentModel.LUMP_SUM]),
              st.decimals(min_value=1, max_value=10**9, places=2)),
    st.builds(Payment, st.just(PaymentModel.ROYALTY), st.decimals(min_value=Decimal("0.1"), max_value=100, places=1)),
)  # fmt: skip


@st.composite
def policies(draw: st.DrawFn, with_ids: bool = True) -> Policy:
    start = draw(st.none() | moments)
    end = draw(st.none() | moments.filter(lambda m: start is None or m > start))
    return Policy(
        assigner=draw(st.integers(1, 10_000)),
        assignee=draw(assignees),
        purposes=tuple(draw(st.lists(st.sampled_from(list(Purpose)), min_size=1, max_size=4, unique=True))),
        start=start,
        end=end,
        max_uses=draw(st.none() | st.integers(1, 10_000)),
        no_onward_transfer=draw(st.booleans()),
        delete_after_days=draw(st.none() | st.integers(1, 3650)),
        attribution=draw(st.booleans()),
        notify_on_use=draw(st.booleans()),
        payment=draw(payments),
        kind=draw(st.sampled_from(["Offer", "Agreement"])) if with_ids else "Offer",
        uid=draw(st.none() | st.just("urn:smart365:offer:9:policy")) if with_ids else None,
        target=draw(st.none() | st.just("urn:smart365:offer:9")) if with_ids else None,
    )


@settings(max_examples=300, deadline=None)
@given(policies())
def test_jsonld_round_trips_without_loss(policy: Policy) -> None:
    doc = to_jsonld(policy)
    again = from_jsonld(json.loads(json.dumps(doc)))  # through text, as stored and sent
    assert again == policy
    assert to_jsonld(again) == doc


@settings(max_examples=300, deadline=None)
@given(policies(with_ids=False))
def test_form_round_trips_without_loss(policy: Policy) -> None:
    form = to_form(policy)
    assert from_form(form, assigner=policy.assigner) == policy
    assert to_form(from_form(form, assigner=policy.assigner)) == form


BASE = Policy(
    assigner=1, assignee=Assignee(AssigneeKind.PARTNER, (7,)), purposes=(Purpose.QUALITY, Purpose.MAINTENANCE),
    start=datetime(2027, 1, 1, tzinfo=SEOUL), end=datetime(2027, 3, 31, 23, 59, 59, tzinfo=SEOUL), max_uses=3,
    delete_after_days=30, attribution=True, notify_on_use=True, payment=Payment(PaymentModel.METERED, Decimal(50000)),
    target="urn:smart365:offer:1",
)  # fmt: skip


def _doc() -> dict:
    return copy.deepcopy(to_jsonld(BASE))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["permission"][0]["constraint"].append(
            {"leftOperand": "spatial", "operator": "eq", "rightOperand": "KR"}), "spatial"),
        (lambda d: d["permission"][0].__setitem__("action", "modify"), "modify"),
        (lambda d: d["permission"][0].__setitem__("action", "frobnicate"), "frobnicate"),
        (lambda d: d["permission"][0]["constraint"][1].__setitem__("operator", "gt"), "gt"),
        (lambda d: d["permission"][0]["constraint"][1].__setitem__("operator", "nearly"), "nearly"),
        (lambda d: d["permission"][0]["duty"].append({"action": "watermark"}), "watermark"),
        (lambda d: d["permission"][0].__setitem__("odrl:remedy", []), "odrl:remedy"),
        (lambda d: d.__setitem__("obligation", []), "obligation"),
        (lambda d: d["permission"][0]["constraint"][0].__setitem__("rightOperand", ["s365:espionage"]), "espionage"),
        (lambda d: d["prohibition"][0].__setitem__("action", "print"), "print"),
        (lambda d: d.__setitem__("@type", "Set"), "Set"),
        (lambda d: d["permission"][0]["duty"][3]["action"][0]["refinement"][0].__setitem__(
            "rightOperand", "s365:barter"), "barter"),
        (lambda d: d["permission"][0]["constraint"][0].__setitem__("unitOfCount", "x"), "unitOfCount"),
    ],
)  # fmt: skip
def test_unknown_terms_are_refused_by_name(change: object, named: str) -> None:
    doc = _doc()
    change(doc)  # type: ignore[operator]
    with pytest.raises(PolicyError) as refused:
        from_jsonld(doc)
    assert named in str(refused.value)
    with use_locale("ko"):
        assert named in refused.value.localized()


def test_bad_values_are_refused() -> None:
    doc = _doc()
    doc["permission"][0]["constraint"][3]["rightOperand"] = {"@value": "many", "@type": "xsd:integer"}
    with pytest.raises(PolicyError, match="count"):
        from_jsonld(doc)
    doc = _doc()
    doc["permission"][0]["constraint"][1]["rightOperand"] = {"@value": "2027-01-01T00:00:00", "@type": "xsd:dateTime"}
    with pytest.raises(PolicyError, match="time zone"):
        from_jsonld(doc)
    with pytest.raises(PolicyError, match="after it starts"):
        Policy(assigner=1, assignee=BASE.assignee, purposes=(Purpose.QUALITY,), start=BASE.end, end=BASE.start)
    with pytest.raises(PolicyError, match="whole number"):
        from_form({"assignee_kind": "centre", "purpose": "quality", "max_uses": "lots"}, assigner=1)
    with pytest.raises(PolicyError, match="assignee"):
        from_form({"assignee_kind": "everyone", "purpose": "quality"}, assigner=1)
    with pytest.raises(PolicyError, match="royalty"):
        Payment(PaymentModel.ROYALTY, Decimal(150))


def test_reads_in_korean_and_english() -> None:
    names = {"urn:smart365:company:1": "(주)한빛정밀", "urn:smart365:partner:7": "미래모빌리티"}.get
    with use_locale("ko"):
        korean = describe(BASE, names)
    assert korean[0] == "(주)한빛정밀의 데이터를 미래모빌리티만 쓸 수 있습니다."
    assert "목적: 품질 개선, 설비 보전에 한해 씁니다." in korean
    assert "기간: 2027-01-01 00:00부터 2027-03-31 23:59까지 (한국 시간)." in korean
    assert "최대 3회 쓸 수 있습니다." in korean
    assert "받은 데이터는 30일 안에 삭제해야 합니다." in korean
    assert "쓸 때마다 출처로 (주)한빛정밀을 밝혀야 합니다." in korean
    assert any("종량제" in line and "50,000원" in line for line in korean)
    with use_locale("en"):
        english = describe(BASE, names)
    assert english[0] == "Only 미래모빌리티 may use the data of (주)한빛정밀."
    assert "At most 3 uses." in english


def _ask(who: Requester, purpose: Purpose = Purpose.QUALITY, now: datetime | None = None, uses: int = 0) -> object:
    return evaluate(BASE, UseRequest(who, purpose, now or datetime(2027, 2, 1, tzinfo=SEOUL), uses))


PARTNER = Requester("data_partner", 7, None)


def test_evaluation_allows_and_denies_with_the_reason() -> None:
    assert _ask(PARTNER).allowed  # type: ignore[attr-defined]
    cases = {
        "name": _ask(Requester("data_partner", 8, None)),
        "purpose": _ask(PARTNER, Purpose.AI_TRAINING),
        "opens": _ask(PARTNER, now=BASE.start - timedelta(seconds=1)),  # type: ignore[operator]
        "closed": _ask(PARTNER, now=BASE.end + timedelta(seconds=1)),  # type: ignore[operator]
        "uses": _ask(PARTNER, uses=3),
        "member": _ask(Requester("company_member", 7, 1)),
    }
    for word, decision in cases.items():
        assert not decision.allowed, word  # type: ignore[attr-defined]
        assert word in decision.reason or word in ("member",), (word, decision.reason)  # type: ignore[attr-defined]
    assert _ask(PARTNER, now=BASE.end).allowed  # type: ignore[attr-defined]  # lteq: the last second is in
    assert _ask(PARTNER, uses=2).allowed  # type: ignore[attr-defined]
