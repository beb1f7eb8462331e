"""The licence-type catalogue: national-shaped codes, schemas, and field validation that reports
every problem with a machine code and the first field."""

from __future__ import annotations

import pytest
from licence_helpers import business_body, food_body

from trustsvc.errors import InvalidInputError, NotFoundError
from trustsvc.formats.uscc import validate_uscc
from trustsvc.licences.catalogue import (
    BUSINESS_LICENCE,
    FOOD_BUSINESS_LICENCE,
    catalogue_for,
    find_type,
    validate_fields,
)


def test_demo_types_have_21_character_codes_led_by_a_valid_ministry_uscc() -> None:
    names = [t.name for t in catalogue_for("320000")]
    assert {"营业执照", "食品经营许可证"} <= set(names) and len(names) >= 30
    for t in catalogue_for("320000"):
        assert len(t.code) == 21 and t.code[18:].isdigit()
        assert validate_uscc(t.code[:18]) == t.code[:18]
        assert all(f.metadata_code.startswith("KZ_") for f in t.fields)
        assert t.template


def test_schemas_carry_the_labels_of_the_licence_face() -> None:
    assert [f.label for f in BUSINESS_LICENCE.fields] == [
        "名称",
        "统一社会信用代码",
        "类型",
        "法定代表人",
        "经营范围",
        "注册资本",
        "成立日期",
        "住所",
    ]
    assert [f.label for f in FOOD_BUSINESS_LICENCE.fields][:2] == ["经营者名称", "社会信用代码"]
    assert {f.label for f in FOOD_BUSINESS_LICENCE.fields} >= {"主体业态", "经营项目", "许可证编号", "日常监督管理机构"}
    assert BUSINESS_LICENCE.as_dict()["fields"][0] == {
        "name": "name",
        "label": "名称",
        "required": True,
        "type": "string",
    }


def test_valid_fields_are_normalised() -> None:
    fields = dict(business_body()["fields"], name="  江苏某某科技有限公司 ")
    out = validate_fields(BUSINESS_LICENCE, fields)
    assert out["name"] == "江苏某某科技有限公司"
    assert list(out) == [f.name for f in BUSINESS_LICENCE.fields]
    assert validate_fields(FOOD_BUSINESS_LICENCE, food_body()["fields"])["business_form"] == "餐饮服务经营者"


def test_optional_field_may_be_left_out() -> None:
    fields = business_body()["fields"]
    del fields["registered_capital"]
    assert "registered_capital" not in validate_fields(BUSINESS_LICENCE, fields)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"name": None}, "missing_field", "fields.name"),
        ({"name": 5}, "invalid_field_type", "fields.name"),
        ({"name": "x" * 201}, "field_too_long", "fields.name"),
        ({"name": "a\x00b"}, "invalid_characters", "fields.name"),
        ({"uscc": "91320100MA1ABCDE0"}, "field_pattern_mismatch", "fields.uscc"),
        ({"entity_type": "公司"}, "invalid_enum_value", "fields.entity_type"),
        ({"established_on": "2020-02-30"}, "invalid_date", "fields.established_on"),
        ({"established_on": "20200501"}, "invalid_date", "fields.established_on"),
        ({"colour": "red"}, "unknown_field", "fields.colour"),
    ],
)
def test_each_problem_has_its_code_and_field(change, code, field) -> None:
    fields = business_body()["fields"]
    for k, v in change.items():
        if v is None:
            fields.pop(k)
        else:
            fields[k] = v
    with pytest.raises(InvalidInputError) as err:
        validate_fields(BUSINESS_LICENCE, fields)
    assert (err.value.code, err.value.field) == (code, field)


def test_all_problems_are_listed_and_the_first_is_named() -> None:
    fields = dict(business_body()["fields"], entity_type="公司", established_on="yesterday", extra=1)
    del fields["domicile"]
    with pytest.raises(InvalidInputError) as err:
        validate_fields(BUSINESS_LICENCE, fields)
    assert err.value.code == "unknown_field" and err.value.field == "fields.extra"
    for name in ("fields.extra", "fields.entity_type", "fields.established_on", "fields.domicile"):
        assert name in err.value.message


def test_fields_must_be_an_object() -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_fields(BUSINESS_LICENCE, ["a"])
    assert err.value.code == "invalid_fields"


def test_unknown_type_is_not_found() -> None:
    with pytest.raises(NotFoundError) as err:
        find_type("320000", "A")
    assert err.value.code == "unknown_licence_type"
