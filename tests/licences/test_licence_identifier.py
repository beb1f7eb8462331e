"""GB/T 36904 identifiers: the MOD 37,36 check on real samples and on every single change."""

from __future__ import annotations

import pytest

from trustsvc.errors import InvalidInputError
from trustsvc.licences.identifier import (
    ALPHABET,
    ROOT,
    LicenceIdentifier,
    check_char,
    parse_identifier,
)

# reference/standards.md §4.2. The second sample's type code is elided ("…W009") there; the full
# code is the same ministry prefix as the first (11100000000013338W + 009).
REAL_SAMPLES = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9",
]


@pytest.mark.parametrize("text", REAL_SAMPLES)
def test_real_sample_identifiers_check(text: str) -> None:
    ident = parse_identifier(text)
    assert ident.text == text
    payload = text[len(ROOT) + 1 :].rsplit(".", 1)[0].replace(".", "")
    assert check_char(payload) == text[-1]


@pytest.mark.parametrize("text", REAL_SAMPLES)
def test_every_single_character_change_is_detected(text: str) -> None:
    payload = text[len(ROOT) + 1 :].rsplit(".", 1)[0].replace(".", "")
    good = check_char(payload)
    changed = 0
    for i, ch in enumerate(payload):
        for other in ALPHABET:
            if other != ch:
                assert check_char(payload[:i] + other + payload[i + 1 :]) != good, (i, other)
                changed += 1
    assert changed == 35 * len(payload)


@pytest.mark.parametrize("text", REAL_SAMPLES)
def test_a_wrong_check_character_is_refused(text: str) -> None:
    for other in ALPHABET.replace(text[-1], ""):
        with pytest.raises(InvalidInputError) as err:
            parse_identifier(text[:-1] + other)
        assert err.value.code == "identifier_check_failed"


def test_build_parse_round_trip_and_version_text() -> None:
    ident = LicenceIdentifier("11100000MB0143028R001", "11320000MB0000001G", "20260000001", 2)
    assert ident.text.startswith(ROOT + ".11100000MB0143028R001.11320000MB0000001G.20260000001.002.")
    assert parse_identifier(ident.text) == ident
    assert parse_identifier(ident.text.lower()) == ident


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1.2.156.3005.1.A.B.C.001.0",
        ROOT + ".A.B.C.001",
        ROOT + ".A.B.C.1.0",
        ROOT + ".A.B.C.000.0",
        ROOT + ".A-1.B.C.001.0",
        ROOT + ".A..C.001.0",
        ROOT + ".A.B.C.001.00",
        ROOT + "." + "A" * 300 + ".B.C.001.0",
    ],
)
def test_malformed_identifiers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_identifier(bad)
    assert err.value.code == "invalid_identifier"


def test_identifier_parts_are_validated_on_construction() -> None:
    with pytest.raises(InvalidInputError):
        LicenceIdentifier("a-b", "X", "1", 1)
    with pytest.raises(InvalidInputError):
        LicenceIdentifier("A", "X", "1", 1000)
