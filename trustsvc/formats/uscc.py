"""Unified social credit codes (统一社会信用代码, GB 32100-2015): the 18-character identifier of
every department, company and organisation. The last character is a check character over the
first 17 (weights 3^i mod 31, alphabet without I, O, Z, S, V)."""

from __future__ import annotations

import re

from ..errors import InvalidInputError

__all__ = ["USCC_ALPHABET", "uscc_check_char", "validate_uscc"]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def uscc_check_char(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise InvalidInputError(
            "a USCC body is 17 characters of 0-9 and A-Y without I, O, S, V, Z", code="invalid_uscc"
        )
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str:
    """Return ``code`` upper-cased if it is a well-formed USCC with a correct check character.

    :raises InvalidInputError: with code ``invalid_uscc`` and the reason.
    """
    code = code.strip().upper()
    if len(code) != 18:
        raise InvalidInputError(
            f"a unified social credit code has 18 characters, not {len(code)}", code="invalid_uscc", field="uscc"
        )
    if not _SHAPE.match(code):
        raise InvalidInputError(
            "unified social credit code has characters outside GB 32100's alphabet", code="invalid_uscc", field="uscc"
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise InvalidInputError(
            f"unified social credit code check character should be {expected}", code="invalid_uscc", field="uscc"
        )
    return code
