"""The licence-type catalogue (证照目录): the region's licence types, each defined as data
(:mod:`.typedef`; shipped national defaults, the region's own files and admin additions,
versioned in the database: :mod:`.type_store`).

Type codes are shaped like the national ones: the 18-character USCC of the competent ministry
plus a 3-digit sequence (21 characters). The ministry codes of the shipped types pass the
GB 32100 check; they are illustrative, not official catalogue entries.

Callers that hold a session or database pass it (``source``) and get that database's
catalogue; callers that know only the region code get the catalogue this process last read for
that region, else the national defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import FieldProblem, InvalidInputError, NotFoundError
from ..formats.uscc import uscc_check_char
from ..storage.models import Region
from .type_store import Catalogue, load_catalogue, national_types, remember_catalogue, remembered_catalogue
from .typedef import FieldSpec, LicenceType, schema_problems

__all__ = [
    "FieldSpec",
    "LicenceType",
    "DEMO_MINISTRY_USCC",
    "BUSINESS_LICENCE",
    "FOOD_BUSINESS_LICENCE",
    "DEMO_TYPES",
    "NATIONAL_TYPES",
    "catalogue_for",
    "catalogue_of",
    "find_type",
    "resolve_type",
    "type_label",
    "type_not_allowed_message",
    "validate_fields",
    "normalise_fields",
]

DEMO_MINISTRY_USCC = "11100000MB0143028" + uscc_check_char("11100000MB0143028")
"""An 18-character ministry-style USCC (market regulation) that passes the GB 32100 check."""

NATIONAL_TYPES: tuple[LicenceType, ...] = national_types()
"""The shipped national defaults (version 0: as shipped, before any database records them)."""
_NATIONAL = {t.code: t for t in NATIONAL_TYPES}
BUSINESS_LICENCE = _NATIONAL[DEMO_MINISTRY_USCC + "001"]
"""营业执照."""
FOOD_BUSINESS_LICENCE = _NATIONAL[DEMO_MINISTRY_USCC + "002"]
"""食品经营许可证."""
DEMO_TYPES: tuple[LicenceType, ...] = (BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE)
"""The two types the demo department issues."""

Source = Any
"""A SQLAlchemy session, a :class:`~trustsvc.storage.Database` or a service (with ``.db``), or
a :class:`Catalogue` read already (a request that looks a type up twice reads it once)."""


def catalogue_of(region_code: str, source: Source = None) -> Catalogue:
    """The catalogue of the database ``source`` reads (remembered for ``region_code``), else the
    one this process last read for ``region_code``, else the national defaults."""
    if source is None:
        return remembered_catalogue(region_code) or Catalogue(types=NATIONAL_TYPES)
    if isinstance(source, Catalogue):
        return source
    if isinstance(source, Session):
        catalogue = load_catalogue(source)
    else:
        db: Any = getattr(source, "db", source)
        with db.reader() as session:
            catalogue = load_catalogue(session)
    remember_catalogue(region_code, catalogue)
    return catalogue


def catalogue_for(region_code: str, source: Source = None) -> tuple[LicenceType, ...]:
    """The licence types a region issues now (the current version of each)."""
    return catalogue_of(region_code, source).types


def find_type(region_code: str, code: str, source: Source = None, *, version: int | None = None) -> LicenceType:
    """The type ``code``: its current version, or with ``version`` the one a licence was issued
    under (None there: the first recorded, for licences issued before versions were kept).

    :raises NotFoundError: ``unknown_licence_type``.
    """
    catalogue = catalogue_of(region_code, source)
    found = catalogue.by_code.get(code) if version is None else catalogue.version(code, version)
    if found is None and version is not None:
        found = catalogue.by_code.get(code)
    if found is None:
        raise NotFoundError(
            f"no licence type {code!r} in region {region_code}'s catalogue", code="unknown_licence_type"
        )
    return found


def type_label(region_code: str, code: str, source: Source = None) -> str:
    """``CODE (name)`` when the catalogue knows the code, else the code alone: codes are what
    requests and ``--types`` take, names are what people recognise."""
    found = catalogue_of(region_code, source).by_code.get(code)
    return f"{found.code} ({found.name})" if found is not None else code


def _valid_types(types: tuple[LicenceType, ...]) -> str:
    return ", ".join(f"{t.code} ({t.name})" for t in types)


def resolve_type(region_code: str, text: str, source: Source = None) -> LicenceType:
    """The licence type a request's ``type`` names: its code, or its exact catalogue name when
    exactly one type bears that name (the name is what GET /api/v1/licence-types shows people).

    :raises InvalidInputError: 422 ``unknown_licence_type`` on field ``type`` (also in
        ``problems``, so the body's ``errors[]`` lists it), naming every valid code and name.
    """
    types = catalogue_for(region_code, source)
    for t in types:
        if t.code == text:
            return t
    named = [t for t in types if t.name == text]
    if len(named) == 1:
        return named[0]
    if named:
        message = f"type {text!r} names {len(named)} licence types; send the code of one: " + ", ".join(
            f"{t.code} ({t.name})" for t in named
        )
    else:
        message = (
            f"type {text!r} is not a licence type of region {region_code}; send one of these codes "
            f"(or its exact name): {_valid_types(types)}; see GET /api/v1/licence-types"
        )
    raise InvalidInputError(
        message,
        code="unknown_licence_type",
        field="type",
        problems=(FieldProblem("type", "unknown_licence_type", message),),
    )


def type_not_allowed_message(
    region_code: str, *, allowed: tuple[str, ...], wanted: str, department_uscc: str | None, action: str = "issue"
) -> str:
    """Why an issuer key may not ``action`` licences of type ``wanted``, and the command that
    makes a key which may: keys are created with their types and never widened in place."""
    dept = department_uscc or "USCC"
    if not allowed:
        return (
            f"this issuer key was created without licence types (--types), so it may {action} none; "
            f"{type_label(region_code, wanted)} needs a key created with it: trustsvc apikey create "
            f"--role issuer --department {dept} --types {wanted}"
        )
    listed = ", ".join(type_label(region_code, c) for c in allowed)
    return (
        f"this issuer key may {action} only {listed}, not {type_label(region_code, wanted)}; "
        f"a key that may is created with: trustsvc apikey create --role issuer --department {dept} "
        f"--types {','.join(sorted({*allowed, wanted}))}"
    )


def normalise_fields(licence_type: LicenceType, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Strings stripped (check-character codes upper-cased), empty optional strings dropped, in
    the type's order with unknown keys after them (so the schema names them)."""
    out: dict[str, Any] = {}
    for spec in licence_type.fields:
        if spec.name not in fields:
            continue
        value = fields[spec.name]
        if isinstance(value, str):
            value = value.strip()
            if spec.format in ("uscc", "gb11643"):
                value = value.upper()
            if not value and not spec.required:
                continue
        if value is None and not spec.required:
            continue
        out[spec.name] = value
    for name, value in fields.items():
        if name not in licence_type.by_name:
            out[name] = value
    return out


def validate_fields(licence_type: LicenceType, fields: Any) -> dict[str, Any]:
    """The fields, normalised (:func:`normalise_fields`) and checked against the type's JSON
    Schema.

    :raises InvalidInputError: one error listing every problem (one per field: its most basic
        violation); ``code`` and ``field`` (``fields.<name>``) are those of the first.
    """
    if not isinstance(fields, Mapping):
        raise InvalidInputError("fields must be a JSON object", code="invalid_fields", field="fields")
    out = normalise_fields(licence_type, fields)
    problems = schema_problems(licence_type, out, fields_only=True)
    if problems:
        first = problems[0]
        raise InvalidInputError(
            "; ".join(f"{p.field}: {p.message}" for p in problems),
            code=first.code,
            field=first.field,
            problems=tuple(problems),
        )
    return out


def type_codes_of(db: Any, texts: Sequence[str | None]) -> list[str | None]:
    """The type code each text names (by code or catalogue name), one read for them all; None
    for a text that names no type (or is None)."""
    with db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
        if region is None:
            raise NotFoundError("no region is initialised", code="region_not_found")
        region_code = region.code
        codes: list[str | None] = []
        for text in texts:
            try:
                codes.append(resolve_type(region_code, text, session).code if text is not None else None)
            except InvalidInputError:
                codes.append(None)
    return codes
