"""Business registration numbers, KSIC → 소부장 mapping, regions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from smart365.registry.brn import brn_is_valid, with_check_digit
from smart365.registry.schemas import CompanyIn
from smart365.registry.sobujang import is_sobujang


@pytest.mark.parametrize("brn", ["101-86-00011", "2028700024", " 303 81 00039 "])
def test_valid_registration_numbers(brn: str) -> None:
    assert brn_is_valid(brn)


@pytest.mark.parametrize("brn", ["101-86-00012", "123", "abcdefghij", "10186000111"])
def test_invalid_registration_numbers(brn: str) -> None:
    assert not brn_is_valid(brn)


def test_every_nine_digit_prefix_has_exactly_one_check_digit() -> None:
    for prefix in ("000000000", "999999999", "123456789", "220816251"):
        valid = [d for d in range(10) if brn_is_valid(prefix + str(d))]
        assert valid == [int(with_check_digit(prefix)[-1])]


@pytest.mark.parametrize(
    ("ksic", "expected"),
    [
        ("29229", True),
        ("C26110", True),
        ("30331", True),
        ("30121", False),
        ("20423", False),
        ("20111", True),
        ("25200", False),
        ("25911", True),
        ("10711", False),
        ("", False),
    ],
)
def test_sobujang_follows_the_mapping_file(ksic: str, expected: bool) -> None:
    assert is_sobujang(ksic) is expected


def test_company_input_normalises_and_names_each_bad_field() -> None:
    ok = CompanyIn(name=" 가나 ", brn="101-86-00011", ksic_code="C29229", region="경기도", systems="erp; MES")
    assert (ok.name, ok.brn, ok.ksic_code, ok.region, ok.systems) == (
        "가나",
        "1018600011",
        "29229",
        "gyeonggi",
        ["ERP", "MES"],
    )
    with pytest.raises(ValidationError) as info:
        CompanyIn(name="x", brn="101-86-00012", ksic_code="45", region="화성", systems="ERP,XYZ")
    assert {e["loc"][0] for e in info.value.errors()} == {"brn", "ksic_code", "region", "systems"}
