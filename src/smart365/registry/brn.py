"""사업자등록번호 (business registration number): normalisation and check-digit validation."""

from __future__ import annotations

import re

_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def normalize_brn(value: str) -> str:
    """Digits only: ``'123-45-67891'`` → ``'1234567891'``.

    >>> normalize_brn(" 220-81-62517 ")
    '2208162517'
    """
    return re.sub(r"[\s-]", "", str(value))


def brn_is_valid(value: str) -> bool:
    """Whether ``value`` is a well-formed BRN whose tenth digit matches the national check-digit rule.

    The check: sum the first nine digits times 1,3,7,1,3,7,1,3,5, add the tens digit of
    ``9th digit × 5``; the tenth digit is ``(10 - sum % 10) % 10``.

    >>> brn_is_valid("220-81-62517"), brn_is_valid("220-81-62518")
    (True, False)
    """
    digits = normalize_brn(value)
    if not re.fullmatch(r"\d{10}", digits):
        return False
    numbers = [int(c) for c in digits]
    total = sum(d * w for d, w in zip(numbers, _WEIGHTS, strict=False)) + numbers[8] * 5 // 10
    return (10 - total % 10) % 10 == numbers[9]


def format_brn(value: str) -> str:
    """The usual display form ``123-45-67890``."""
    d = normalize_brn(value)
    return f"{d[:3]}-{d[3:5]}-{d[5:]}" if len(d) == 10 else value


def with_check_digit(first_nine: str) -> str:
    """Complete nine digits into a valid BRN (used by the synthetic population).

    >>> with_check_digit("220816251")
    '2208162517'
    """
    numbers = [int(c) for c in first_nine]
    total = sum(d * w for d, w in zip(numbers, _WEIGHTS, strict=True)) + numbers[8] * 5 // 10
    return first_nine + str((10 - total % 10) % 10)
