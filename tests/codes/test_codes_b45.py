"""Base45 decoding with the standard library (trustsvc.codes.b45) against the ``base45``
package: the same bytes for every valid text, a refusal for every text the package refuses."""

from __future__ import annotations

import base45
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustsvc.codes.b45 import ALPHABET, b45decode


def _reference(text: str) -> bytes | None:
    try:
        return bytes(base45.b45decode(text))
    except Exception:
        return None


def _ours(text: str) -> bytes | None:
    try:
        return b45decode(text)
    except ValueError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_it_decodes_what_the_package_encodes(data: bytes) -> None:
    assert b45decode(base45.b45encode(data).decode("ascii")) == data


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=ALPHABET + "abz~é\x00", max_size=40))
def test_it_agrees_with_the_package_on_any_text(text: str) -> None:
    assert _ours(text) == _reference(text)


@pytest.mark.parametrize("text", ["GGW", ":::", "A", "ABCD", "::", "U.", "ab", "é12"])
def test_what_rfc_9285_refuses_is_refused(text: str) -> None:
    assert _reference(text) is None
    with pytest.raises(ValueError):
        b45decode(text)


def test_the_largest_values_still_decode() -> None:
    assert b45decode("FGW") == b"\xff\xff" and b45decode("U5") == b"\xff" and b45decode("") == b""
    assert b45decode(b"FGW") == b"\xff\xff"
