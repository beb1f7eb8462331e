"""A compiled yes/no check of a licence body against its type's JSON Schema.

jsonschema walks the schema object by object (~70 µs for a 营业执照 body, the largest share of
an imported row's schema work); fastjsonschema compiles the same schema into straight-line Python
(~10 µs). It is used only to say *valid*: a body it refuses is checked again by jsonschema,
which alone decides what is reported (path, keyword, code) and has the last word.

"Stricter is harmless" does not hold inside ``if`` and ``not`` (a stricter condition skips its
``then``; a stricter operand of ``not`` passes), so the two must read every keyword the compiled
check is given exactly alike: :func:`compile_fast` refuses a schema that uses anything outside
:data:`FAST_KEYWORDS`, and a differential test (tests/licences/test_fast_schema.py) asks the two
to agree on every body it tries, over every shipped type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FastCheck", "compile_fast", "FAST_KEYWORDS"]

FastCheck = Callable[[Any], bool]

FAST_KEYWORDS = frozenset(
    {
        # assertions read alike by jsonschema (draft 2020-12) and fastjsonschema (draft-07)
        "type",
        "properties",
        "additionalProperties",
        "required",
        "const",
        "enum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "allOf",
        "if",
        "then",
        "not",
        # annotations, asserting nothing
        "$schema",
        "$id",
        "title",
        "description",
        "examples",
        "default",
    }
)
_SUBSCHEMA_MAPS = ("properties",)
_SUBSCHEMA_ONE = ("additionalProperties", "if", "then", "not")
_SUBSCHEMA_LIST = ("allOf",)
_VALUE_KEYWORDS = ("const", "enum", "examples", "default", "required", "type", "$schema", "$id")


def _portable(schema: Any, formats: Mapping[str, object]) -> bool:
    """Whether every keyword is one the two validators read alike, every format one of ours, and
    every const and enum value a string (``True == 1`` in Python's equality)."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping):
        return False
    shapes = {"properties": Mapping, "allOf": list, "required": list, "pattern": str, "format": str}
    if any(key in schema and not isinstance(schema[key], shape) for key, shape in shapes.items()):
        return False
    for key, value in schema.items():
        if key.startswith("x-"):
            continue  # our extension annotations (x-metadata-code)
        if key not in FAST_KEYWORDS:
            return False
        if key == "format" and value not in formats:
            return False
        if key == "pattern" and not _plain_end(value):
            return False
        if key == "const" and not isinstance(value, str):
            return False
        if key == "enum" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return False
        if key in _SUBSCHEMA_MAPS and not all(_portable(v, formats) for v in value.values()):
            return False
        if key in _SUBSCHEMA_ONE and not _portable(value, formats):
            return False
        if key in _SUBSCHEMA_LIST and not all(_portable(v, formats) for v in value):
            return False
    return True


def _plain_end(pattern: str) -> bool:
    """Whether ``pattern``'s only ``$`` is its final anchor: fastjsonschema turns every ``$`` into
    ``\\Z``, one inside a character class included, which reads alike only then."""
    return "$" not in pattern[:-1] and not pattern.endswith("\\$")


def _strip_annotations(schema: Any) -> Any:
    """The schema without ``default`` (fastjsonschema would write defaults into the body) and
    without the extension annotations it does not know."""
    if isinstance(schema, list):
        return [_strip_annotations(v) for v in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default" or key.startswith("x-"):
            continue
        if key in _SUBSCHEMA_MAPS:  # property names are not keywords: "x-…" or "default" stay
            out[key] = {k: _strip_annotations(v) for k, v in value.items()}
        else:
            out[key] = value if key in _VALUE_KEYWORDS else _strip_annotations(value)
    return out


def compile_fast(schema: Mapping[str, Any], formats: Mapping[str, Callable[[str], bool]]) -> FastCheck | None:
    """A function saying whether ``body`` is valid under ``schema``, or None when the schema uses
    something the fast check is not trusted with (the caller then asks jsonschema alone)."""
    if not _portable(schema, formats):
        return None
    import fastjsonschema

    plain = _strip_annotations(schema)  # new containers throughout; const and enum values shared, only read
    plain["$schema"] = "http://json-schema.org/draft-07/schema#"
    plain.pop("$id", None)  # an $id would make fastjsonschema try to resolve references by it
    try:
        validate = fastjsonschema.compile(plain, formats=dict(formats), use_default=False)
    except Exception:  # a schema it cannot compile (a pattern Python reads otherwise): jsonschema alone
        return None

    def check(body: Any) -> bool:
        try:
            validate(body)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return check
