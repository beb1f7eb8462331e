"""The compiled licence-body check (trustsvc/licences/fast_schema.py) may only ever say *valid*
where jsonschema finds nothing: run both over every shipped type with valid bodies, the
one-constraint violations, and seeded random damage to every place of a body."""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

import pytest
from schema_bodies import body_from_schema, violations

from trustsvc.licences.catalogue import BUSINESS_LICENCE, NATIONAL_TYPES
from trustsvc.licences.fast_schema import compile_fast
from trustsvc.licences.typedef import LicenceType, ecma_pattern, schema_problems

HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    1.5,
    10**30,
    "",
    " ",
    "\n",
    "x\n",
    "001",
    "111",
    "002",
    "2020-02-30",
    "2020-02-29",
    "2021-02-29",
    "2020-2-3",
    "2020-01-31\n",
    "91320100MA1ABCDE0C",
    "91320100MA1ABCDE0C\n",
    "91320100MA1ABCDE0D",
    "320102199003071239",
    "32010219900307123X",
    "控制\x01字符",
    "字" * 300,
    [],
    ["a"],
    {},
    {"a": 1},
)


def _places(body: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(body, dict):
        for key, value in body.items():
            out += _places(value, (*path, key))
    return out


def _damaged(body: dict[str, Any], rng: random.Random, ltype: LicenceType) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for _ in range(rng.choice((1, 1, 2, 3))):
        places = [p for p in _places(out) if p]
        how = rng.random()
        if how < 0.15 and "holder" not in out:
            out["holder"] = {"id_type": rng.choice(("001", "111", "002", 1, None))}
            continue
        if how < 0.25:
            parent = rng.choice([p for p in _places(out) if isinstance(_at(out, p), dict)])
            key = rng.choice(("extra", "id_type", "id", "name", *(f.name for f in ltype.fields)))
            _at(out, parent)[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
            continue
        if not places:
            break
        place = rng.choice(places)
        parent, key = _at(out, place[:-1]), place[-1]
        if how < 0.4:
            del parent[key]
        else:
            parent[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    return out


def _at(body: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


def _agree(ltype: LicenceType, body: Any) -> bool:
    """The two checks on ``body``; fails the test where the fast one is the more lenient."""
    before = copy.deepcopy(body)
    fast = ltype.fast_check
    assert fast is not None
    fast_ok = fast(body)
    assert body == before, "the compiled check changed the body (a default written in?)"
    slow_ok = not list(ltype.validator.iter_errors(body))
    if fast_ok:
        assert slow_ok, f"compiled check passed what jsonschema refuses: {body!r}"
    return fast_ok == slow_ok


@pytest.mark.parametrize("ltype", NATIONAL_TYPES, ids=lambda t: t.code)
def test_the_compiled_check_is_never_more_lenient_than_jsonschema(ltype: LicenceType) -> None:
    schema = ltype.schema()
    good = [body_from_schema(schema), body_from_schema(schema, longest=True)]
    fast = ltype.fast_check
    assert fast is not None
    for body in good:
        assert fast(body), "a valid body took the slow path"
        assert _agree(ltype, body)
    for _path, _keyword, _code, body in violations(schema, good[0]):
        assert _agree(ltype, body)
        assert fast(body) is False
    rng = random.Random(ltype.code)
    agreed = sum(_agree(ltype, _damaged(rng.choice(good), rng, ltype)) for _ in range(400))
    assert agreed == 400  # and here never stricter either


def test_fields_only_check_matches_the_fields_schema() -> None:
    schema = BUSINESS_LICENCE.schema()
    fields = body_from_schema(schema)["fields"]
    fast = BUSINESS_LICENCE.fast_fields_check
    assert fast is not None and fast(fields)
    assert schema_problems(BUSINESS_LICENCE, fields, fields_only=True) == []
    broken = {**fields, "uscc": "91320100MA1ABCDE0D"}
    assert not fast(broken)
    assert [p.code for p in schema_problems(BUSINESS_LICENCE, broken, fields_only=True)] == ["invalid_uscc"]


def test_a_refusal_by_the_compiled_check_is_judged_by_jsonschema() -> None:
    """A compiled check that refuses everything changes nothing: jsonschema has the last word."""
    ltype = dataclasses.replace(BUSINESS_LICENCE)  # a fresh instance: its own cached checks
    ltype.__dict__["fast_check"] = lambda body: False
    body = body_from_schema(ltype.schema())
    assert schema_problems(ltype, body) == []
    body["fields"]["uscc"] = "91320100MA1ABCDE0D"
    assert [p.code for p in schema_problems(ltype, body)] == ["invalid_uscc"]


@pytest.mark.parametrize("checked", ["compiled", "jsonschema"])
def test_a_final_newline_does_not_pass_an_anchored_pattern(checked: str) -> None:
    """JSON Schema reads ``$`` as the end of the text (ECMA-262); Python's ``re`` also let it
    match before a final newline, so ``"苏A12345\\n"`` passed ``^...$`` until body_validator."""
    vehicle = next(t for t in NATIONAL_TYPES if t.name == "机动车行驶证")
    body = body_from_schema(vehicle.schema())
    body["fields"]["plate_number"] += "\n"  # 8 characters: maxLength 8 still holds
    if checked == "jsonschema":
        vehicle = dataclasses.replace(vehicle)
        vehicle.__dict__["fast_check"] = None
    else:
        assert vehicle.fast_check is not None and not vehicle.fast_check(body)
    problems = schema_problems(vehicle, body)
    assert [(p.field, p.code) for p in problems] == [("fields.plate_number", "field_pattern_mismatch")]


def test_ecma_pattern_reads_dollar_as_the_end_of_the_text() -> None:
    assert ecma_pattern("^a$").search("a") and not ecma_pattern("^a$").search("a\n")
    assert ecma_pattern("^[$]+$").search("$$")  # in a class it is a dollar
    assert ecma_pattern(r"^a\$").search("a$")  # escaped it is a dollar
    assert ecma_pattern("^(a|b$)").search("b") and not ecma_pattern("^(a|b$)").search("b\n")
    # a "]" first in a class (after "[" or "[^") is one of its characters in Python's re
    assert ecma_pattern("^[^]$]+$").search("ab") and not ecma_pattern("^[^]$]+$").search("a$")
    assert ecma_pattern("^[]a]+$").search("]a") and not ecma_pattern("^[]a]+$").search("]a\n")


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"n": {"enum": [1, 2]}}},  # True == 1 in Python
        {"type": "object", "properties": {"n": {"const": 0}}},
        {"type": "object", "properties": {"n": {"type": "string", "format": "email"}}},  # not one of ours
        {"type": "object", "properties": {"n": {"type": "array", "items": {"type": "string"}}}},
        {"type": "object", "allOf": [{"$ref": "#/$defs/x"}], "$defs": {"x": {}}},
        {"type": "object", "properties": {"n": {"anyOf": [{"type": "string"}]}}},
        {"type": "object", "properties": {"n": {"type": "string", "pattern": "^[$€]+$"}}},  # $ in a class
        {"type": "object", "properties": ["n"]},  # malformed shapes are refused, not raised on
        {"type": "object", "allOf": {"if": {}}},
        {"type": "object", "properties": {"n": {"type": "string", "pattern": 5}}},
    ],
)
def test_schemas_outside_the_known_keywords_get_no_compiled_check(schema: dict[str, Any]) -> None:
    assert compile_fast(schema, {"date": lambda v: True}) is None


def test_compiled_check_of_a_plain_schema_reads_values() -> None:
    check = compile_fast(
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["d"],
            "properties": {"d": {"type": "string", "format": "date", "default": "x"}, "x-note": {"type": "string"}},
            "x-metadata-code": "KZ_X",
        },
        {"date": lambda v: v == "2020-01-31"},
    )
    assert check is not None
    assert check({"d": "2020-01-31"})
    assert not check({"d": "2020-02-30"})
    assert not check({})
    assert not check({"d": "2020-01-31", "other": 1})
