"""The public page's masking rules (trustsvc.licences.masking)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustsvc.licences.masking import (
    mask_holder_id,
    mask_holder_name,
    mask_keep,
    mask_organisation_name,
    mask_person_name,
)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("李四光", "李**"),
        ("欧阳娜娜", "欧***"),
        ("王", "*"),
        (" 张三 ", "张*"),
    ],
)
def test_person_names_keep_only_the_first_character(name: str, masked: str) -> None:
    assert mask_person_name(name) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("江苏某某科技有限公司", "江苏******公司"),
        ("南京紫金山数字科技有限公司", "南京*********公司"),
        ("南京小店", "南***"),  # 4 characters or fewer: like a person's name
        ("苏果超市", "苏***"),
        ("华为技术公司", "华为**公司"),
    ],
)
def test_organisation_names_keep_first_and_last_two(name: str, masked: str) -> None:
    assert mask_organisation_name(name) == masked


def test_holder_name_rule_follows_the_id_type() -> None:
    assert mask_holder_name("张三丰", "111") == "张**"
    assert mask_holder_name("江苏某某科技有限公司", "001") == "江苏******公司"


@pytest.mark.parametrize(
    ("id_type", "value", "masked"),
    [
        ("111", "320102199003071234", "320102********1234"),
        ("111", "11010519491231002X", "110105********002X"),
        ("001", "91320100MA1ABCDE0X", "91320100********0X"),
        ("999", "AB123456CD", "AB******CD"),
    ],
)
def test_ids_keep_their_documented_ends(id_type: str, value: str, masked: str) -> None:
    assert mask_holder_id(value, id_type) == masked


def test_too_short_values_never_show_whole() -> None:
    assert mask_keep("1234", 2, 2) == "1***"
    assert mask_keep("12345678", 6, 4) == "1*******"
    assert mask_keep("7", 6, 4) == "*"
    assert mask_keep("", 6, 4) == ""


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=2, max_size=40),
    st.integers(0, 8),
    st.integers(0, 8),
)
def test_mask_keeps_length_and_hides_at_least_one_character(text: str, head: int, tail: int) -> None:
    masked = mask_keep(text, head, tail)
    assert len(masked) == len(text.strip())
    assert "*" in masked
    assert masked != text.strip() or set(text.strip()) <= {"*"}
