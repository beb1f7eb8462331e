"""Request bodies built from nothing but a licence type's served JSON Schema (what a client that
knows only GET /api/v1/licence-types can do), and bodies that break one constraint each."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

PRINTABLE = r"^[^\u0000-\u0008\u000B-\u001F\u007F]*$"
FILLER = "江苏省南京市玄武区中山路一号某某大厦"


def _free_text(prop: dict[str, Any], longest: bool) -> str:
    seed = (prop.get("examples") or [FILLER])[0]
    if not longest:
        return seed
    n = prop["maxLength"]
    return (seed * (n // max(len(seed), 1) + 1))[:n]


def value_for(prop: dict[str, Any], *, longest: bool = False) -> Any:
    """A value the property's schema accepts (with ``longest``, as long as it allows)."""
    if "enum" in prop:
        return max(prop["enum"], key=len) if longest else (prop.get("examples") or prop["enum"])[0]
    if prop.get("type") == "integer":
        return prop["maximum"] if longest else (prop.get("examples") or [prop["minimum"]])[0]
    if prop.get("format") == "date":
        return (prop.get("examples") or ["2020-01-31"])[0]
    if prop.get("pattern", PRINTABLE) == PRINTABLE and "format" not in prop:
        return _free_text(prop, longest)
    return prop["examples"][0]  # patterned and check-character fields carry an example


def _holder_id_rule(holder: dict[str, Any], id_type: str | None) -> dict[str, Any]:
    for branch in holder.get("allOf", []):
        cond = branch["if"]
        if id_type is None and cond == {"not": {"required": ["id_type"]}}:
            return branch["then"]["properties"]["id"]
        if id_type is not None and cond.get("properties", {}).get("id_type", {}).get("const") == id_type:
            return branch["then"]["properties"]["id"]
    raise AssertionError(f"no id rule for {id_type}")


def body_from_schema(schema: dict[str, Any], *, longest: bool = False, department: str | None = None) -> dict[str, Any]:
    """Every field the schema lists (optional ones too, so the face shows them all), the holder
    parts it requires, nothing else."""
    props = schema["properties"]
    fields = {name: value_for(prop, longest=longest) for name, prop in props["fields"]["properties"].items()}
    body: dict[str, Any] = {"type": props["type"]["const"], "fields": fields}
    holder_schema = props["holder"]
    needed = holder_schema.get("required", [])
    if "holder" in schema["required"] or needed:
        holder: dict[str, Any] = {}
        if "name" in needed:
            holder["name"] = "张三" if not longest else _free_text({"maxLength": 200}, True)
        if "id" in needed:
            holder["id"] = _holder_id_rule(holder_schema, None)["examples"][0]
        body["holder"] = holder
    if department is not None:
        body["department"] = department
    return body


def flip_check(value: str, fmt: str) -> str:
    """``value`` with another check character (still of the right shape)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY" if fmt == "uscc" else "0123456789X"
    return value[:-1] + next(c for c in alphabet if c != value[-1])


def violations(schema: dict[str, Any], good: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(field path, constraint keyword, expected error code, body) for each constraint of each
    field in turn, every other part of the body valid."""
    props = schema["properties"]["fields"]
    for name, prop in props["properties"].items():
        path = f"fields.{name}"

        def body(value: Any, *, drop: bool = False, name: str = name) -> dict[str, Any]:
            out = copy.deepcopy(good)
            if drop:
                del out["fields"][name]
            else:
                out["fields"][name] = value
            return out

        if name in props.get("required", []):
            yield path, "required", "missing_field", body(None, drop=True)
        if prop.get("type") == "integer":
            yield path, "type", "invalid_field_type", body("12")
            yield path, "minimum", "field_out_of_range", body(prop["minimum"] - 1)
            yield path, "maximum", "field_out_of_range", body(prop["maximum"] + 1)
            continue
        yield path, "type", "invalid_field_type", body(12345)
        if "enum" in prop:
            yield path, "enum", "invalid_enum_value", body("不在列表中的值")
            continue
        if prop.get("format") == "date":
            yield path, "format", "invalid_date", body("2023-02-30")
            continue
        if name in props.get("required", []):
            yield path, "minLength", "missing_field", body("")
        yield path, "maxLength", "field_too_long", body("字" * (prop["maxLength"] + 1))
        if prop["pattern"] == PRINTABLE:
            yield path, "pattern", "invalid_characters", body("控制\x01字符")
        else:
            yield path, "pattern", "field_pattern_mismatch", body("!")
        if prop.get("format") in ("uscc", "gb11643"):
            code = "invalid_uscc" if prop["format"] == "uscc" else "invalid_id_number"
            yield path, "format", code, body(flip_check(prop["examples"][0], prop["format"]))
