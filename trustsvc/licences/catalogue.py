"""The licence-type catalogue (证照目录): each type's code, name, field schema with the GB/T 36903
extension metadata codes (``KZ_*``), and layout template (DESIGN §4, reference/standards.md §4.3).

Type codes are shaped like the national ones: the 18-character USCC of the competent ministry
plus a 3-digit sequence (21 characters). The demo ministry code below passes the GB 32100 check;
it is illustrative, not an official catalogue entry.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import FieldProblem, InvalidInputError, NotFoundError
from ..uscc import uscc_check_char

__all__ = ["FieldSpec", "LicenceType", "DEMO_MINISTRY_USCC", "BUSINESS_LICENCE", "FOOD_BUSINESS_LICENCE",
           "DEMO_TYPES", "catalogue_for", "find_type", "resolve_type", "type_label", "type_not_allowed_message",
           "validate_fields"]

FieldType = Literal["string", "date", "integer", "enum"]
_KZ = re.compile(r"^KZ_[A-Z0-9]{1,30}$")
_TYPE_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}[0-9]{3}$")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    """Machine name, as sent in the request's ``fields`` object."""
    label: str
    """The label printed on the licence face."""
    metadata_code: str
    """GB/T 36903 extension code, ``KZ_*``."""
    required: bool = True
    type: FieldType = "string"
    max_length: int = 200
    pattern: str | None = None
    enum_values: tuple[str, ...] = ()
    minimum: int | None = None

    def __post_init__(self) -> None:
        if not _KZ.match(self.metadata_code):
            raise ValueError(f"metadata code {self.metadata_code!r} is not KZ_*")
        if (self.type == "enum") != bool(self.enum_values):
            raise ValueError("enum fields, and only they, list enum_values")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "required": self.required, "type": self.type}


@dataclass(frozen=True)
class LicenceType:
    code: str
    name: str
    fields: tuple[FieldSpec, ...]
    template: str
    """Layout template name (the licence file renderer's template)."""
    default_years: int | None = None
    """Usual validity in years; None for 长期 (no end)."""
    by_name: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _TYPE_CODE.match(self.code) or uscc_check_char(self.code[:17]) != self.code[17]:
            raise ValueError(f"type code {self.code!r} is not a ministry USCC + 3 digits")
        names = [f.name for f in self.fields]
        codes = [f.metadata_code for f in self.fields]
        if len(set(names)) != len(names) or len(set(codes)) != len(codes):
            raise ValueError(f"duplicate field names or metadata codes in {self.code}")
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "fields": [f.as_dict() for f in self.fields]}


DEMO_MINISTRY_USCC = "11100000MB0143028" + uscc_check_char("11100000MB0143028")
"""An 18-character ministry-style USCC (market regulation) that passes the GB 32100 check."""

_USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"

BUSINESS_LICENCE = LicenceType(
    code=DEMO_MINISTRY_USCC + "001",
    name="营业执照",
    template="business_licence",
    default_years=None,
    fields=(
        FieldSpec("name", "名称", "KZ_MC", max_length=200),
        FieldSpec("uscc", "统一社会信用代码", "KZ_TYSHXYDM", max_length=18, pattern=_USCC_PATTERN),
        FieldSpec("entity_type", "类型", "KZ_LX", type="enum", max_length=50, enum_values=(
            "有限责任公司", "有限责任公司（自然人独资）", "股份有限公司", "个人独资企业", "合伙企业",
            "个体工商户", "农民专业合作社")),
        FieldSpec("legal_representative", "法定代表人", "KZ_FDDBR", max_length=100),
        FieldSpec("business_scope", "经营范围", "KZ_JYFW", max_length=2000),
        FieldSpec("registered_capital", "注册资本", "KZ_ZCZB", required=False, max_length=100),
        FieldSpec("established_on", "成立日期", "KZ_CLRQ", type="date"),
        FieldSpec("domicile", "住所", "KZ_ZS", max_length=300),
    ),
)

FOOD_BUSINESS_LICENCE = LicenceType(
    code=DEMO_MINISTRY_USCC + "002",
    name="食品经营许可证",
    template="food_business_licence",
    default_years=5,
    fields=(
        FieldSpec("operator_name", "经营者名称", "KZ_JYZMC", max_length=200),
        FieldSpec("credit_code", "社会信用代码", "KZ_SHXYDM", max_length=18, pattern=_USCC_PATTERN),
        FieldSpec("legal_representative", "法定代表人（负责人）", "KZ_FDDBR", max_length=100),
        FieldSpec("domicile", "住所", "KZ_ZS", max_length=300),
        FieldSpec("premises", "经营场所", "KZ_JYCS", max_length=300),
        FieldSpec("business_form", "主体业态", "KZ_ZTYT", type="enum", max_length=50, enum_values=(
            "食品销售经营者", "餐饮服务经营者", "单位食堂")),
        FieldSpec("business_items", "经营项目", "KZ_JYXM", max_length=1000),
        FieldSpec("permit_number", "许可证编号", "KZ_XKZBH", max_length=16, pattern=r"^JY[1-3][0-9]{13}$"),
        FieldSpec("supervisor", "日常监督管理机构", "KZ_RCJDGLJG", max_length=200),
    ),
)

DEMO_TYPES: tuple[LicenceType, ...] = (BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE)


def catalogue_for(region_code: str) -> tuple[LicenceType, ...]:
    """The licence types a region issues (for now, the demo types everywhere)."""
    return DEMO_TYPES


def find_type(region_code: str, code: str) -> LicenceType:
    for t in catalogue_for(region_code):
        if t.code == code:
            return t
    raise NotFoundError(f"no licence type {code!r} in region {region_code}'s catalogue", code="unknown_licence_type")


def type_label(region_code: str, code: str) -> str:
    """``CODE (name)`` when the catalogue knows the code, else the code alone: codes are what
    requests and ``--types`` take, names are what people recognise."""
    for t in catalogue_for(region_code):
        if t.code == code:
            return f"{t.code} ({t.name})"
    return code


def _valid_types(region_code: str) -> str:
    return ", ".join(f"{t.code} ({t.name})" for t in catalogue_for(region_code))


def resolve_type(region_code: str, text: str) -> LicenceType:
    """The licence type a request's ``type`` names: its code, or its exact catalogue name when
    exactly one type bears that name (the name is what GET /api/v1/licence-types shows people).

    :raises InvalidInputError: 422 ``unknown_licence_type`` on field ``type`` (also in
        ``problems``, so the body's ``errors[]`` lists it), naming every valid code and name.
    """
    types = catalogue_for(region_code)
    for t in types:
        if t.code == text:
            return t
    named = [t for t in types if t.name == text]
    if len(named) == 1:
        return named[0]
    if named:
        message = (f"type {text!r} names {len(named)} licence types; send the code of one: "
                   + ", ".join(f"{t.code} ({t.name})" for t in named))
    else:
        message = (f"type {text!r} is not a licence type of region {region_code}; send one of these codes "
                   f"(or its exact name): {_valid_types(region_code)}; see GET /api/v1/licence-types")
    raise InvalidInputError(message, code="unknown_licence_type", field="type",
                            problems=(FieldProblem("type", "unknown_licence_type", message),))


def type_not_allowed_message(region_code: str, *, allowed: tuple[str, ...], wanted: str,
                             department_uscc: str | None, action: str = "issue") -> str:
    """Why an issuer key may not ``action`` licences of type ``wanted``, and the command that
    makes a key which may: keys are created with their types and never widened in place."""
    dept = department_uscc or "USCC"
    if not allowed:
        return (f"this issuer key was created without licence types (--types), so it may {action} none; "
                f"{type_label(region_code, wanted)} needs a key created with it: trustsvc apikey create "
                f"--role issuer --department {dept} --types {wanted}")
    listed = ", ".join(type_label(region_code, c) for c in allowed)
    return (f"this issuer key may {action} only {listed}, not {type_label(region_code, wanted)}; "
            f"a key that may is created with: trustsvc apikey create --role issuer --department {dept} "
            f"--types {','.join(sorted({*allowed, wanted}))}")


def _check(spec: FieldSpec, value: Any) -> tuple[Any, tuple[str, str] | None]:
    """(normalised value, (code, message) of the problem or None)."""
    if spec.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return value, ("invalid_field_type", f"{spec.name} must be an integer")
        if spec.minimum is not None and value < spec.minimum:
            return value, ("field_out_of_range", f"{spec.name} must be at least {spec.minimum}")
        if abs(value) >= 10**15:
            return value, ("field_out_of_range", f"{spec.name} is too large")
        return value, None
    if not isinstance(value, str):
        return value, ("invalid_field_type", f"{spec.name} must be a string")
    value = value.strip()
    if not value:
        return value, ("missing_field", f"{spec.name} ({spec.label}) must not be empty")
    if len(value) > spec.max_length:
        return value, ("field_too_long", f"{spec.name} has at most {spec.max_length} characters")
    if any(ord(c) < 0x20 and c not in "\n\t" for c in value) or "\x7f" in value:
        return value, ("invalid_characters", f"{spec.name} contains control characters")
    if spec.type == "date":
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise ValueError
            dt.date.fromisoformat(value)
        except ValueError:
            return value, ("invalid_date", f"{spec.name} must be a date YYYY-MM-DD")
    if spec.type == "enum" and value not in spec.enum_values:
        return value, ("invalid_enum_value", f"{spec.name} must be one of {', '.join(spec.enum_values)}")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        return value, ("field_pattern_mismatch", f"{spec.name} does not have the required format")
    return value, None


def validate_fields(licence_type: LicenceType, fields: Any) -> dict[str, Any]:
    """The fields, normalised (strings stripped, in schema order, empty optionals dropped).

    :raises InvalidInputError: one error listing every problem; ``code`` and ``field``
        (``fields.<name>``) are those of the first.
    """
    if not isinstance(fields, Mapping):
        raise InvalidInputError("fields must be a JSON object", code="invalid_fields", field="fields")
    problems: list[tuple[str, str, str]] = []
    for name in fields:
        if not isinstance(name, str) or name not in licence_type.by_name:
            problems.append(("unknown_field", f"fields.{name}",
                             f"{name!r} is not a field of {licence_type.name}"))
    out: dict[str, Any] = {}
    for spec in licence_type.fields:
        value = fields.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip() and not spec.required):
            if spec.required:
                problems.append(("missing_field", f"fields.{spec.name}", f"{spec.name} ({spec.label}) is required"))
            continue
        value, problem = _check(spec, value)
        if problem is not None:
            problems.append((problem[0], f"fields.{spec.name}", problem[1]))
        else:
            out[spec.name] = value
    if problems:
        code, first, _ = problems[0]
        raise InvalidInputError("; ".join(f"{f}: {m}" for _, f, m in problems), code=code, field=first,
                                problems=tuple(FieldProblem(f, c, m) for c, f, m in problems))
    return out
