"""Licence types as data: one definition (a TOML or JSON table) per type, parsed and checked into
frozen dataclasses, and the JSON Schema (draft 2020-12) of each type's request body.

A definition says everything a region needs to issue, check and print one kind of licence:
its code and name, whose licence it is (an organisation or a natural person, and which of its
face fields name the holder, so the holder is entered once), its fields with their
constraints and GB/T 36903 extension codes (``KZ_*``), how long it is valid, and its face.

Definitions come from files (the national defaults shipped with the package, a region's own in
its home) and from the admin API; a malformed one is refused with where it came from, the
offending key's path and the reason, before anything is issued under it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ..errors import ConfigurationError, FieldProblem
from ..formats.canonical import canonical_json
from ..formats.uscc import USCC_ALPHABET, uscc_check_char
from .fast_schema import FastCheck, compile_fast
from .layout import LAYOUT_DIR, LicenceLayout, layout_from_mapping, merge_tables, read_layout_table

__all__ = [
    "FieldSpec",
    "HolderRule",
    "ValidityRule",
    "LicenceType",
    "DefinitionProblem",
    "parse_definition",
    "HOLDER_KINDS",
    "FIELD_TYPES",
    "FIELD_FORMATS",
    "ID_TYPES",
    "PRINTABLE",
    "USCC_PATTERN",
    "GB11643_PATTERN",
    "is_uscc",
    "is_gb11643",
    "is_date",
    "id_type_rule",
    "schema_problems",
    "format_checker",
    "body_validator",
    "ecma_pattern",
]

HolderKind = Literal["organisation", "natural_person"]
FieldType = Literal["string", "date", "integer", "enum"]
HOLDER_KINDS = ("organisation", "natural_person")
FIELD_TYPES = ("string", "date", "integer", "enum")
FIELD_FORMATS = ("uscc", "gb11643", "date")
VALIDITY_RULES = ("long_term", "fixed_years", "until_field", "none")
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
GB11643_PATTERN = r"^[1-9][0-9]{16}[0-9X]$"
PRINTABLE = r"^[^\u0000-\u0008\u000B-\u001F\u007F]*$"
"""Free text: anything but control characters (tab and newline are allowed)."""

ID_TYPES: dict[str, tuple[str, str, str | None]] = {
    # GB/T 36903 持证主体代码类型 (GA/T 517 document codes for people): name, pattern, named format
    "001": ("统一社会信用代码", USCC_PATTERN, "uscc"),
    "111": ("公民身份号码", GB11643_PATTERN, "gb11643"),
    "414": ("普通护照", r"^[A-Z0-9]{5,17}$", None),
    "516": ("港澳居民来往内地通行证", r"^[HM][0-9]{8,10}$", None),
    "511": ("台湾居民来往大陆通行证", r"^[0-9]{8}([0-9]{2})?$", None),
}
"""Holder document types a licence type may accept: (name, pattern, named format)."""
_FORMAT_ID_TYPE = {"uscc": "001", "gb11643": "111"}
_ID_EXAMPLES = {
    "001": "91320100MA1ABCDE0",
    "111": "32010219900307123",
    "414": "E12345678",
    "516": "H12345678",
    "511": "12345678",
}

_TYPE_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}[0-9]{3}$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_KZ = re.compile(r"^KZ_[A-Z0-9]{1,30}$")
_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_TOP_KEYS = {"code", "name", "holder_kind", "holder", "validity", "metadata", "fields", "face", "description"}
_FIELD_KEYS = {
    "name",
    "label",
    "code",
    "type",
    "required",
    "max_length",
    "min_length",
    "pattern",
    "format",
    "enum",
    "minimum",
    "maximum",
    "multiline",
    "example",
    "description",
}
_HOLDER_KEYS = {"id_types", "name_field", "id_field", "name_label", "print_id"}
_VALIDITY_KEYS = {"rule", "years", "field", "from_field", "label", "end_allowed", "show"}
_METADATA_KEYS = {"defining_authority", "category", "holder_kind_code"}
_MAX_FIELDS = 40
_RESERVED_FIELDS = frozenset({"holder_name", "holder_id"})


# -- named formats -------------------------------------------------------------------------------


def is_uscc(value: object) -> bool:
    """A unified social credit code with its GB 32100 check character."""
    if not isinstance(value, str) or not re.fullmatch(USCC_PATTERN, value):
        return False
    return uscc_check_char(value[:17]) == value[17]


def gb11643_check(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of a 公民身份号码's first 17 digits."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _GB11643_WEIGHTS, strict=True)) % 11]


def is_gb11643(value: object) -> bool:
    """A 公民身份号码: 17 digits (with a real birth date) and the GB 11643 check character."""
    if not isinstance(value, str) or not re.fullmatch(GB11643_PATTERN, value):
        return False
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return gb11643_check(value[:17]) == value[17]


def is_date(value: object) -> bool:
    """A calendar date written YYYY-MM-DD (RFC 3339 full-date)."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled with ``$`` read as JSON Schema (ECMA-262) reads it: the end of the
    text. Python's ``$`` also matches before a final newline, so ``re.search`` (what jsonschema
    runs) let ``"苏A12345\\n"`` through ``^...$``; outside a character class, ``$`` becomes ``\\Z``."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif in_class:
            in_class = c != "]"
            out.append(c)
            i += 1
        elif c == "[":
            j = i + 1 + (pattern[i + 1 : i + 2] == "^")
            j += pattern[j : j + 1] == "]"  # a "]" first in a class is one of its characters
            out.append(pattern[i:j])
            i, in_class = j, True
        else:
            out.append(r"\Z" if c == "$" else c)
            i += 1
    return re.compile("".join(out))


@functools.lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, ValidationError, validators

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string") and not ecma_pattern(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    return validators.extend(Draft202012Validator, {"pattern": pattern})


def body_validator(schema: Mapping[str, Any]) -> Any:
    """A draft 2020-12 validator of a licence body: our formats asserted, patterns read as
    JSON Schema reads them (:func:`ecma_pattern`)."""
    return _validator_class()(schema, format_checker=format_checker())


_FAST_FORMATS: dict[str, Any] = {"uscc": is_uscc, "gb11643": is_gb11643, "date": is_date}
"""The formats format_checker asserts, for the compiled check (which applies them to strings only,
as format_checker's wrappers do)."""


@functools.lru_cache(maxsize=1)
def format_checker() -> Any:
    """jsonschema's format checker with ``uscc``, ``gb11643`` and a strict ``date``; other
    formats are not asserted (the schemas use no others)."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("uscc")(lambda v: not isinstance(v, str) or is_uscc(v))
    checker.checks("gb11643")(lambda v: not isinstance(v, str) or is_gb11643(v))
    checker.checks("date")(lambda v: not isinstance(v, str) or is_date(v))
    return checker


def _with_check(value: str, fmt: str | None) -> str:
    """An example with its check character appended (examples keep 17 characters in code)."""
    if fmt == "uscc" and len(value) == 17:
        return value + uscc_check_char(value)
    if fmt == "gb11643" and len(value) == 17:
        return value + gb11643_check(value)
    return value


def id_type_rule(id_type: str) -> dict[str, Any]:
    """The JSON Schema of a holder id of ``id_type``."""
    _, pattern, fmt = ID_TYPES[id_type]
    rule: dict[str, Any] = {"type": "string", "pattern": pattern, "examples": [_with_check(_ID_EXAMPLES[id_type], fmt)]}
    if fmt:
        rule["format"] = fmt
    return rule


# -- the definition ------------------------------------------------------------------------------


class DefinitionProblem(Exception):
    """One thing wrong with a definition: the key's path and the reason."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason

    def configuration_error(self, source: str) -> ConfigurationError:
        return ConfigurationError(
            f"licence type file {source}: {self.where}: {self.reason}", code="licence_type_invalid"
        )


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
    maximum: int | None = None
    min_length: int | None = None
    format: str | None = None
    """``uscc`` or ``gb11643`` (check characters), or ``date`` (implied by type date)."""
    multiline: bool = False
    example: Any = None
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "required": self.required, "type": self.type}

    def constraints(self) -> dict[str, Any]:
        """What a client is judged by, besides the schema: enum, pattern, lengths, format, range."""
        out: dict[str, Any] = {"metadata_code": self.metadata_code}
        if self.type == "enum":
            out["enum"] = list(self.enum_values)
        if self.type in ("string", "enum"):
            out["max_length"] = self.max_length
            out["min_length"] = self.min_length if self.min_length is not None else 1
        if self.pattern:
            out["pattern"] = self.pattern
        fmt = self.format or ("date" if self.type == "date" else None)
        if fmt:
            out["format"] = fmt
        if self.type == "integer":
            out["minimum"] = self.minimum
            out["maximum"] = self.maximum
        if self.multiline:
            out["multiline"] = True
        return out

    def schema(self) -> dict[str, Any]:
        """This field's JSON Schema (draft 2020-12)."""
        s: dict[str, Any] = {"title": self.label}
        if self.description:
            s["description"] = self.description
        if self.type == "integer":
            s.update(type="integer", minimum=self.minimum, maximum=self.maximum)
        elif self.type == "date":
            s.update(type="string", format="date")
        elif self.type == "enum":
            s.update(type="string", enum=list(self.enum_values))
        else:
            s.update(
                type="string",
                minLength=self.min_length if self.min_length is not None else 1,
                maxLength=self.max_length,
                pattern=self.pattern or PRINTABLE,
            )
            if self.format:
                s["format"] = self.format
        if self.example is not None:
            s["examples"] = [self.example]
        s["x-metadata-code"] = self.metadata_code
        return s


@dataclass(frozen=True)
class HolderRule:
    """Whose licence it is, and which face fields already say so (entered once)."""

    kind: HolderKind
    id_types: tuple[str, ...]
    """Holder document types accepted (GB/T 36903 持证主体代码类型); the first is the default."""
    name_field: str | None = None
    """The face field that is the holder's name."""
    id_field: str | None = None
    """The face field that is the holder's id, when the holder's id type is :attr:`derived_id_type`."""
    name_label: str = "持证主体"
    print_id: bool = True
    """Print the holder's id when no face field shows it."""

    @property
    def derived_id_type(self) -> str | None:
        return self.id_types[0] if self.id_field else None


@dataclass(frozen=True)
class ValidityRule:
    """How long a licence of the type is valid.

    ``long_term`` (长期; an end date may still be given unless ``end_allowed`` is false),
    ``fixed_years`` (the end defaults to ``years`` after the start, less a day), ``until_field``
    (the end is the date in ``field``), ``none`` (no validity at all, e.g. 结婚证).
    """

    rule: Literal["long_term", "fixed_years", "until_field", "none"] = "long_term"
    years: int | None = None
    field: str | None = None
    from_field: str | None = None
    """The face field whose date is the start when the request gives no valid_from (营业期限 runs
    from 成立日期); without it, the issue date."""
    label: str = "有效期限"
    end_allowed: bool = True
    show: bool = True

    def end_for(self, start: dt.date) -> dt.date | None:
        """The default end of a licence valid from ``start``."""
        if self.rule != "fixed_years" or self.years is None:
            return None
        try:
            return start.replace(year=start.year + self.years) - dt.timedelta(days=1)
        except ValueError:  # 29 February
            return start.replace(year=start.year + self.years, day=28)

    def describe(self) -> str:
        if self.rule == "fixed_years":
            return f"{self.years} years from valid_from (default) unless valid_until says otherwise"
        if self.rule == "until_field":
            return f"until fields.{self.field}; valid_until, when sent, must equal it"
        if self.rule == "none":
            return "no validity period (长期); valid_until must be null"
        return "长期 (valid_until null)" + ("; an end date may be given" if self.end_allowed else "")


@dataclass(frozen=True)
class LicenceType:
    code: str
    name: str
    fields: tuple[FieldSpec, ...]
    template: str
    """The type's short name (its file name), which also names its face layout."""
    holder: HolderRule = HolderRule("organisation", ("001", "111"))
    validity: ValidityRule = ValidityRule()
    layout: LicenceLayout | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Type-level GB/T 36903 facts: 证照定义机构 (defining_authority), category, holder kind code."""
    description: str = ""
    version: int = 0
    """The catalogue version (1, 2, ... as recorded in the database; 0: not recorded)."""
    origin: str = "national"
    """national (shipped), home (the region's file), api (added through the API or CLI)."""
    definition: str = ""
    """The canonical JSON of the definition this was parsed from."""
    by_name: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def default_years(self) -> int | None:
        return self.validity.years if self.validity.rule == "fixed_years" else None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.definition.encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "fields": [f.as_dict() for f in self.fields]}

    def api_dict(self) -> dict[str, Any]:
        """What GET /api/v1/licence-types says about the type."""
        return {
            "code": self.code,
            "name": self.name,
            "version": self.version,
            "holder_kind": self.holder.kind,
            "holder": {
                "id_types": list(self.holder.id_types),
                "name_field": self.holder.name_field,
                "id_field": self.holder.id_field,
            },
            "validity": {
                "rule": self.validity.rule,
                "years": self.validity.years,
                "field": self.validity.field,
                "label": self.validity.label,
            },
            "metadata": dict(self.metadata),
            "fields": [{**f.as_dict(), **f.constraints()} for f in self.fields],
            "schema": self.schema(),
        }

    @functools.cached_property
    def _schema(self) -> dict[str, Any]:
        return _request_schema(self)

    def schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of a POST /api/v1/licences body of this type."""
        import copy

        return copy.deepcopy(self._schema)

    @functools.cached_property
    def validator(self) -> Any:
        """A draft 2020-12 validator over :meth:`schema` (:func:`body_validator`)."""
        return body_validator(self._schema)

    @functools.cached_property
    def fields_validator(self) -> Any:
        """The same for the ``fields`` object alone."""
        return body_validator(self._schema["properties"]["fields"])

    @functools.cached_property
    def fast_check(self) -> FastCheck | None:
        """A compiled check that says only *valid* (see fast_schema), or None for a type whose
        schema it is not trusted with."""
        return compile_fast(self._schema, _FAST_FORMATS)

    @functools.cached_property
    def fast_fields_check(self) -> FastCheck | None:
        """The same for the ``fields`` object alone."""
        return compile_fast(self._schema["properties"]["fields"], _FAST_FORMATS)


# cached_property needs a __dict__; frozen dataclasses have one, and the cache is not a field.


def _holder_schema(ltype: LicenceType) -> dict[str, Any]:
    h = ltype.holder
    props: dict[str, Any] = {
        "name": {"type": "string", "title": h.name_label, "minLength": 1, "maxLength": 200, "pattern": PRINTABLE},
        "id_type": {"type": "string", "title": "持证主体代码类型", "enum": list(h.id_types), "default": h.id_types[0]},
        "id": {"type": "string", "title": "持证主体代码", "minLength": 1, "maxLength": 64},
    }
    schema: dict[str, Any] = {"type": "object", "title": "持证主体", "additionalProperties": False, "properties": props}
    derived = []
    if h.name_field:
        props["name"]["description"] = f"the same as fields.{h.name_field}; may be left out"
        derived.append("name")
    if h.id_field:
        props["id"]["description"] = (
            f"with id_type {h.derived_id_type} (the default), the same as fields.{h.id_field}; may be left out"
        )
    branches = []
    for id_type in h.id_types:
        rule = id_type_rule(id_type)
        branches.append(
            {
                "if": {"properties": {"id_type": {"const": id_type}}, "required": ["id_type"]},
                "then": {"properties": {"id": rule}},
            }
        )
    # no id_type: the default one
    default_rule = id_type_rule(h.id_types[0])
    branches.append({"if": {"not": {"required": ["id_type"]}}, "then": {"properties": {"id": default_rule}}})
    schema["allOf"] = branches
    required = [k for k in ("name", "id") if k not in derived and not (k == "id" and h.id_field)]
    if h.id_field and len(h.id_types) > 1:
        # another document type than the face field's: a holder other than the face's, entered in full
        schema["allOf"].append(
            {
                "if": {"properties": {"id_type": {"not": {"const": h.id_types[0]}}}, "required": ["id_type"]},
                "then": {"required": ["name", "id"]},
            }
        )
    if required:
        schema["required"] = required
    return schema


def _request_schema(ltype: LicenceType) -> dict[str, Any]:
    date_or_null: dict[str, Any] = {"type": ["string", "null"], "format": "date"}
    holder = _holder_schema(ltype)
    fields = {
        "type": "object",
        "title": "证照信息",
        "additionalProperties": False,
        "properties": {f.name: f.schema() for f in ltype.fields},
        "required": [f.name for f in ltype.fields if f.required],
    }
    v = ltype.validity
    until = dict(date_or_null, title=v.label, description=v.describe())
    if v.rule == "none" or (v.rule == "long_term" and not v.end_allowed):
        until = {"type": "null", "title": v.label, "description": v.describe()}
    top_required = ["type", "fields"]
    if holder.get("required"):
        top_required.insert(1, "holder")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"/api/v1/licence-types/{ltype.code}/schema/{ltype.version}",
        "title": ltype.name,
        "description": f"POST /api/v1/licences body for {ltype.name} ({ltype.code}), type version {ltype.version}",
        "type": "object",
        "additionalProperties": False,
        "required": top_required,
        "properties": {
            "type": {"title": "证照类型代码", "const": ltype.code},
            "holder": holder,
            "fields": fields,
            "valid_from": dict(
                date_or_null,
                title="有效期起始日期",
                description=f"default: fields.{v.from_field}" if v.from_field else "default: the issue date",
            ),
            "valid_until": until,
            "department": {
                "type": "string",
                "title": "签发机构统一社会信用代码",
                "pattern": USCC_PATTERN,
                "format": "uscc",
                "description": "admin keys only: the issuing department",
            },
        },
    }


# -- mapping jsonschema errors to the 422 shape ----------------------------------------------------

_KEYWORD_CODES = {
    "type": "invalid_field_type",
    "maxLength": "field_too_long",
    "minLength": "field_too_short",
    "pattern": "field_pattern_mismatch",
    "enum": "invalid_enum_value",
    "const": "invalid_field",
    "minimum": "field_out_of_range",
    "maximum": "field_out_of_range",
    "required": "missing_field",
    "additionalProperties": "unknown_field",
}
_FORMAT_CODES = {"date": "invalid_date", "uscc": "invalid_uscc", "gb11643": "invalid_id_number"}
_PRECEDENCE = (
    "required",
    "additionalProperties",
    "type",
    "const",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "format",
    "minimum",
    "maximum",
)


def _describe(keyword: str, value: Any, label: str) -> str:
    what = f"{label} " if label else ""
    return {
        "maxLength": f"{what}has at most {value} characters (maxLength {value})",
        "minLength": f"{what}has at least {value} characters (minLength {value})",
        "pattern": f"{what}does not have the required format (pattern {value})",
        "enum": f"{what}must be one of {', '.join(map(str, value)) if isinstance(value, list) else value} (enum)",
        "minimum": f"{what}must be at least {value} (minimum {value})",
        "maximum": f"{what}must be at most {value} (maximum {value})",
        "const": f"{what}must be {value!r} (const)",
        "type": f"{what}must be of type {value} (type)",
        "format": {
            "date": f"{what}must be a calendar date YYYY-MM-DD (format date)",
            "uscc": f"{what}is not a unified social credit code with a valid GB 32100 check character (format uscc)",
            "gb11643": f"{what}is not a 公民身份号码 with a real birth date and a valid GB 11643 check "
            "character (format gb11643)",
        }.get(str(value), f"{what}is not in format {value}"),
    }.get(keyword, f"{what}violates {keyword}")


def schema_problems(
    ltype: LicenceType, body: Any, *, codes: Mapping[tuple[str, str], str] | None = None, fields_only: bool = False
) -> list[FieldProblem]:
    """Every violation of the type's schema by ``body``: one problem per field (its most basic
    violation: missing, unknown, type, then lengths, pattern, enum, format, range), in the order
    of the body's sections (type, holder, fields in the type's order, validity), unknown keys of
    a section first.

    :param codes: overrides of the code for (path, keyword), e.g. ``("holder.id", "*")``.
    """
    fast = ltype.fast_fields_check if fields_only else ltype.fast_check
    if fast is not None and fast(body):
        return []  # valid (a refusal by the fast check is looked at again below)
    found: dict[str, tuple[int, str, str]] = {}
    labels = {f"fields.{f.name}": f.label for f in ltype.fields}
    validator = ltype.fields_validator if fields_only else ltype.validator
    for error in validator.iter_errors(body):
        base = ".".join(str(p) for p in (("fields", *error.absolute_path) if fields_only else error.absolute_path))
        keyword = str(error.validator)
        if keyword == "required":
            instance = error.instance if isinstance(error.instance, Mapping) else {}
            paths = [(f"{base}.{k}" if base else k) for k in error.validator_value if k not in instance]
        elif keyword == "additionalProperties":
            known = set(cast(Mapping[str, Any], error.schema).get("properties", {}))
            paths = [(f"{base}.{k}" if base else str(k)) for k in error.instance if k not in known]
        else:
            paths = [base]
        for path in paths:
            rank = _PRECEDENCE.index(keyword) if keyword in _PRECEDENCE else len(_PRECEDENCE)
            if path in found and found[path][0] <= rank:
                continue
            label = labels.get(path, "")
            if keyword == "format":
                code = _FORMAT_CODES.get(str(error.validator_value), "invalid_format")
            elif keyword == "pattern" and error.validator_value == PRINTABLE:
                code = "invalid_characters"
            elif keyword == "minLength" and error.instance == "":
                code = "missing_field"
            else:
                code = _KEYWORD_CODES.get(keyword, "invalid_field")
            if codes:
                code = codes.get((path, keyword), codes.get((path, "*"), code))
            if keyword == "required":
                message = f"{label or path.rsplit('.', 1)[-1]} is required (required)"
            elif keyword == "additionalProperties":
                message = f"{path.rsplit('.', 1)[-1]!r} is not a key of this {ltype.name} body (additionalProperties)"
            elif keyword == "type" and path in ("fields", "holder"):
                message = "must be a JSON object (type)"
            else:
                message = _describe(keyword, error.validator_value, label)
            found[path] = (rank, code, message)
    order = _path_order(ltype)
    return [FieldProblem(p, c, m) for p, (_, c, m) in sorted(found.items(), key=lambda kv: order(kv[0]))]


def _path_order(ltype: LicenceType) -> Any:
    sections = ["type", "holder", "fields", "valid_from", "valid_until", "department"]
    field_rank = {f.name: i for i, f in enumerate(ltype.fields)}
    holder_rank = {"name": 0, "id_type": 1, "id": 2}

    def key(path: str) -> tuple[int, int, int, str]:
        head, _, rest = path.partition(".")
        section = sections.index(head) if head in sections else -1  # unknown top-level keys first
        if head == "fields":
            known = rest in field_rank
            return section, 1 if known else 0, field_rank.get(rest, 0), rest
        if head == "holder":
            return section, 1, holder_rank.get(rest, -1), rest
        return section, 0, 0, path

    return key


# -- parsing a definition -------------------------------------------------------------------------


def _need(
    raw: Mapping[str, Any],
    key: str,
    where: str,
    kind: type | tuple[type, ...],
    *,
    default: Any = ...,
) -> Any:
    if key not in raw:
        if default is ...:
            raise DefinitionProblem(f"{where}{key}", "is required")
        return default
    value = raw[key]
    if isinstance(value, bool) and kind is not bool and (not isinstance(kind, tuple) or bool not in kind):
        raise DefinitionProblem(f"{where}{key}", f"must be {_kind_name(kind)}, not a boolean")
    if not isinstance(value, kind):
        raise DefinitionProblem(f"{where}{key}", f"must be {_kind_name(kind)}, not {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _text(
    raw: Mapping[str, Any],
    key: str,
    where: str,
    *,
    max_len: int,
    default: Any = ...,
    pattern: re.Pattern[str] | None = None,
    why: str = "",
) -> Any:
    value = _need(raw, key, where, str, default=default)
    if value is default and default is not ...:
        return value
    if not value.strip() or len(value) > max_len or value != value.strip():
        raise DefinitionProblem(f"{where}{key}", f"must be 1..{max_len} characters without surrounding spaces")
    if any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise DefinitionProblem(f"{where}{key}", "contains control characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise DefinitionProblem(f"{where}{key}", why or f"must match {pattern.pattern}")
    return value


def _unknown(raw: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    extra = sorted(str(k) for k in raw if k not in set(allowed))
    if extra:
        raise DefinitionProblem(f"{where}{extra[0]}", "is not a key of a licence type definition here")


def _field(raw: Any, index: int) -> FieldSpec:
    where = f"fields[{index}]."
    if not isinstance(raw, Mapping):
        raise DefinitionProblem(f"fields[{index}]", "must be a table")
    name = _text(
        raw,
        "name",
        where,
        max_len=40,
        pattern=_FIELD_NAME,
        why="must be lower-case letters, digits and underscores, starting with a letter",
    )
    if name in _RESERVED_FIELDS:
        raise DefinitionProblem(f"{where}name", f"{name} is the holder's own (holder.name, holder.id); choose another")
    where = f"fields[{index}] ({name})."
    _unknown(raw, _FIELD_KEYS, where)
    label = _text(raw, "label", where, max_len=30)
    code = _text(raw, "code", where, max_len=33, pattern=_KZ, why="must be a GB/T 36903 extension code KZ_*")
    ftype = _need(raw, "type", where, str, default="string")
    if ftype not in FIELD_TYPES:
        raise DefinitionProblem(f"{where}type", f"must be one of {', '.join(FIELD_TYPES)}")
    required = _need(raw, "required", where, bool, default=True)
    multiline = _need(raw, "multiline", where, bool, default=False)
    description = _text(raw, "description", where, max_len=500, default="")
    max_length = _need(raw, "max_length", where, int, default=200)
    if not 1 <= max_length <= 5000:
        raise DefinitionProblem(f"{where}max_length", "must be 1..5000")
    min_length = _need(raw, "min_length", where, int, default=None)
    if min_length is not None and not 1 <= min_length <= max_length:
        raise DefinitionProblem(f"{where}min_length", "must be 1..max_length")
    pattern = _need(raw, "pattern", where, str, default=None)
    if pattern is not None:
        if not pattern.startswith("^") or not pattern.endswith("$"):
            raise DefinitionProblem(f"{where}pattern", "must be anchored (^...$): a pattern judges the whole value")
        try:
            ecma_pattern(pattern)  # as the body validator will compile it
        except re.error as exc:
            raise DefinitionProblem(f"{where}pattern", f"is not a regular expression ({exc})") from None
    fmt = _need(raw, "format", where, str, default=None)
    if fmt is not None and fmt not in FIELD_FORMATS:
        raise DefinitionProblem(f"{where}format", f"must be one of {', '.join(FIELD_FORMATS)}")
    if fmt == "date" and ftype != "date":
        raise DefinitionProblem(f"{where}format", "date is the format of type date fields")
    if fmt in ("uscc", "gb11643"):
        if ftype != "string":
            raise DefinitionProblem(f"{where}format", f"{fmt} applies to string fields")
        pattern = pattern or (USCC_PATTERN if fmt == "uscc" else GB11643_PATTERN)
        max_length = min(max_length, 18)
    enum = _need(raw, "enum", where, list, default=[])
    if (ftype == "enum") != bool(enum):
        raise DefinitionProblem(f"{where}enum", "enum fields, and only they, list their values")
    if enum:
        if not all(isinstance(v, str) and v.strip() == v and 0 < len(v) <= max_length for v in enum):
            raise DefinitionProblem(f"{where}enum", f"values are strings of 1..{max_length} characters")
        if len(set(enum)) != len(enum):
            raise DefinitionProblem(f"{where}enum", "lists a value twice")
    if ftype != "string" and (pattern is not None or min_length is not None or multiline):
        raise DefinitionProblem(f"{where}type", f"{ftype} fields take no pattern, min_length or multiline")
    minimum = _need(raw, "minimum", where, int, default=None)
    maximum = _need(raw, "maximum", where, int, default=None)
    if ftype == "integer":
        minimum = -(10**15) + 1 if minimum is None else minimum
        maximum = 10**15 - 1 if maximum is None else maximum
        if minimum > maximum:
            raise DefinitionProblem(f"{where}minimum", "must not exceed maximum")
    elif minimum is not None or maximum is not None:
        raise DefinitionProblem(f"{where}minimum", "only integer fields have a range")
    spec = FieldSpec(
        name=name,
        label=label,
        metadata_code=code,
        required=required,
        type=ftype,
        max_length=max_length,
        pattern=pattern,
        enum_values=tuple(enum),
        minimum=minimum,
        maximum=maximum,
        min_length=min_length,
        format=fmt if fmt != "date" else None,
        multiline=multiline,
        example=raw.get("example"),
        description=description,
    )
    if ftype == "string" and spec.example is None and (pattern is not None or fmt is not None):
        raise DefinitionProblem(f"{where}example", "a field with a pattern or format needs a valid example")
    if spec.example is not None:
        example = _with_check(spec.example, spec.format) if isinstance(spec.example, str) else spec.example
        spec = dataclasses.replace(spec, example=example)
        errors = list(body_validator(spec.schema()).iter_errors(example))
        if errors:
            raise DefinitionProblem(f"{where}example", f"does not satisfy the field's own rules ({errors[0].message})")
    return spec


def _holder(raw: Any, kind: str, fields: Mapping[str, FieldSpec]) -> HolderRule:
    where = "holder."
    if not isinstance(raw, Mapping):
        raise DefinitionProblem("holder", "must be a table")
    _unknown(raw, _HOLDER_KEYS, where)
    id_types = _need(raw, "id_types", where, list, default=["001", "111"] if kind == "organisation" else ["111"])
    if (
        not id_types
        or not all(isinstance(t, str) and t in ID_TYPES for t in id_types)
        or len(set(id_types)) != len(id_types)
    ):
        raise DefinitionProblem(f"{where}id_types", f"must list distinct codes from {', '.join(ID_TYPES)}")
    if kind == "organisation" and "001" not in id_types:
        raise DefinitionProblem(f"{where}id_types", "an organisation's licence accepts 001 (统一社会信用代码)")
    if kind == "natural_person" and "001" in id_types[:1]:
        raise DefinitionProblem(f"{where}id_types", "a natural person's licence is not held under a USCC first")
    name_field = _need(raw, "name_field", where, str, default=None)
    if name_field is not None and (
        name_field not in fields or fields[name_field].type != "string" or not fields[name_field].required
    ):
        raise DefinitionProblem(f"{where}name_field", "must name a required string field")
    id_field = _need(raw, "id_field", where, str, default=None)
    if id_field is not None:
        spec = fields.get(id_field)
        if spec is None or not spec.required or spec.format not in _FORMAT_ID_TYPE:
            raise DefinitionProblem(f"{where}id_field", "must name a required field of format uscc or gb11643")
        if _FORMAT_ID_TYPE[spec.format] != id_types[0]:
            raise DefinitionProblem(
                f"{where}id_types", f"must start with {_FORMAT_ID_TYPE[spec.format]}, the document type of {id_field}"
            )
    name_label = _text(raw, "name_label", where, max_len=12, default="持证主体" if kind == "organisation" else "持证人")
    print_id = _need(raw, "print_id", where, bool, default=True)
    return HolderRule(
        kind=cast(HolderKind, kind),
        id_types=tuple(id_types),
        name_field=name_field,
        id_field=id_field,
        name_label=name_label,
        print_id=print_id,
    )


def _validity(raw: Any, fields: Mapping[str, FieldSpec]) -> ValidityRule:
    where = "validity."
    if not isinstance(raw, Mapping):
        raise DefinitionProblem("validity", "must be a table")
    _unknown(raw, _VALIDITY_KEYS, where)
    rule = _need(raw, "rule", where, str)
    if rule not in VALIDITY_RULES:
        raise DefinitionProblem(f"{where}rule", f"must be one of {', '.join(VALIDITY_RULES)}")
    years = _need(raw, "years", where, int, default=None)
    if rule == "fixed_years" and (years is None or not 1 <= years <= 100):
        raise DefinitionProblem(f"{where}years", "fixed_years needs years 1..100")
    if rule != "fixed_years" and years is not None:
        raise DefinitionProblem(f"{where}years", "only fixed_years takes years")
    end = _need(raw, "field", where, str, default=None)
    if rule == "until_field" and (
        end is None or end not in fields or fields[end].type != "date" or not fields[end].required
    ):
        raise DefinitionProblem(f"{where}field", "until_field names a required date field")
    if rule != "until_field" and end is not None:
        raise DefinitionProblem(f"{where}field", "only until_field takes field")
    start = _need(raw, "from_field", where, str, default=None)
    if start is not None and (start not in fields or fields[start].type != "date" or not fields[start].required):
        raise DefinitionProblem(f"{where}from_field", "must name a required date field")
    label = _text(raw, "label", where, max_len=10, default="有效期限")
    end_allowed = _need(raw, "end_allowed", where, bool, default=True)
    show = _need(raw, "show", where, bool, default=rule not in ("none", "until_field"))
    if rule == "none" and show:
        raise DefinitionProblem(f"{where}show", "a type without validity prints none")
    return ValidityRule(
        rule=cast(Any, rule),
        years=years,
        field=end,
        from_field=start,
        label=label,
        end_allowed=end_allowed and rule != "none",
        show=show,
    )


def _face(raw: Any, template: str, fields: Mapping[str, FieldSpec]) -> LicenceLayout:
    from ..errors import ConfigurationError as _CE

    if not isinstance(raw, Mapping):
        raise DefinitionProblem("face", "must be a table")
    table = dict(raw)
    base = table.pop("base", None)
    try:
        if base is not None:
            if not isinstance(base, str):
                raise DefinitionProblem("face.base", "must name a layout")
            table = merge_tables(read_layout_table(base, LAYOUT_DIR), table)
        layout = layout_from_mapping(template, table)
    except _CE as exc:
        message = exc.message.split(": ", 1)[-1]
        raise DefinitionProblem("face", message) from None
    if layout.badge.field and layout.badge.field not in fields:
        raise DefinitionProblem("face.badge.field", f"{layout.badge.field!r} is not a field of this type")
    return layout


def parse_definition(
    raw: Mapping[str, Any], *, template: str, origin: str = "national", version: int = 0
) -> LicenceType:
    """A licence type from its definition table.

    :param template: the type's short name (a file's stem), lower-case letters, digits, ``_``.
    :raises DefinitionProblem: the first problem, with the key's path and the reason.
    """
    if not isinstance(raw, Mapping):
        raise DefinitionProblem("(top)", "a definition is a table")
    _unknown(raw, _TOP_KEYS, "")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", template):
        raise DefinitionProblem("(name)", "a type's short name is lower-case letters, digits and underscores")
    code = _text(
        raw,
        "code",
        "",
        max_len=21,
        pattern=_TYPE_CODE,
        why="must be the defining ministry's 18-character USCC and a 3-digit sequence",
    )
    if uscc_check_char(code[:17]) != code[17] or any(c not in USCC_ALPHABET for c in code[:18]):
        raise DefinitionProblem(
            "code",
            f"its first 18 characters fail the GB 32100 check (check character should be {uscc_check_char(code[:17])})",
        )
    name = _text(raw, "name", "", max_len=30)
    description = _text(raw, "description", "", max_len=500, default="")
    kind = _need(raw, "holder_kind", "", str)
    if kind not in HOLDER_KINDS:
        raise DefinitionProblem("holder_kind", f"must be one of {', '.join(HOLDER_KINDS)}")
    raw_fields = _need(raw, "fields", "", list)
    if not 1 <= len(raw_fields) <= _MAX_FIELDS:
        raise DefinitionProblem("fields", f"lists 1..{_MAX_FIELDS} fields")
    specs = [_field(f, i) for i, f in enumerate(raw_fields)]
    for attr, what in (("name", "name"), ("label", "label"), ("metadata_code", "code")):
        seen: set[str] = set()
        for i, spec in enumerate(specs):
            value = getattr(spec, attr)
            if value in seen:
                raise DefinitionProblem(f"fields[{i}] ({spec.name}).{what}", f"{value!r} is used by another field")
            seen.add(value)
    by_name = {s.name: s for s in specs}
    holder = _holder(_need(raw, "holder", "", dict, default={}), kind, by_name)
    validity = _validity(_need(raw, "validity", "", dict), by_name)
    metadata = _need(raw, "metadata", "", dict, default={})
    _unknown(metadata, _METADATA_KEYS, "metadata.")
    for key, value in metadata.items():
        if not isinstance(value, str) or not 0 < len(value) <= 100:
            raise DefinitionProblem(f"metadata.{key}", "must be a string of 1..100 characters")
    layout = _face(_need(raw, "face", "", dict, default={}), template, by_name)
    printed = {s.label for s in specs}
    for label, what, shown in (
        (holder.name_label, "holder.name_label", holder.name_field is None or holder.id_field),
        (validity.label, "validity.label", validity.show),
    ):
        if label in printed and shown:
            raise DefinitionProblem(what, f"{label!r} is already a field's label (each label is printed once)")
    return LicenceType(
        code=code,
        name=name,
        fields=tuple(specs),
        template=template,
        holder=holder,
        validity=validity,
        layout=layout,
        metadata=dict(metadata),
        description=description,
        version=version,
        origin=origin,
        definition=canonical_json(dict(raw)).decode("utf-8"),
    )
