"""GB 32100 unified social credit codes."""

from __future__ import annotations

import pytest

from trustsvc.errors import InvalidInputError
from trustsvc.formats.uscc import uscc_check_char, validate_uscc

# Real codes: the GB 32100 worked example and the ministry/issuer codes inside the licence
# identifiers of standards.md §4.2.
REAL = ["91350100M000100Y43", "11100000000013338W", "11430000006122244L", "11330105002500287C", "11100000MB03271699"]


@pytest.mark.parametrize("code", REAL)
def test_real_codes_validate(code: str) -> None:
    assert validate_uscc(code.lower()) == code
    assert uscc_check_char(code[:17]) == code[17]


@pytest.mark.parametrize("code", REAL)
def test_every_wrong_check_character_is_refused(code: str) -> None:
    for c in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        if c != code[17]:
            with pytest.raises(InvalidInputError) as err:
                validate_uscc(code[:17] + c)
            assert err.value.code == "invalid_uscc"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "123",
        "91350100M000100Y4",
        "91350100M000100Y433",
        "9135010OM000100Y43",
        "9135010IM000100Y43",
        "ZZ350100M000100Y43",
        "9135A100M000100Y43",
    ],
)
def test_malformed_codes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_uscc(bad)
