"""Issuing e-licences and managing their lifecycle (docs/architecture.md, "A licence, from issue to a peer's verification").

Issuance, in ONE transaction: validate the request against the licence type; allocate the
serial (4-digit year + 7-digit per department/type sequence) and the status-list index; build
the canonical GB/T 36903 metadata; seal it with the department's newest active seal; store the
licence; audit ``seal.apply`` and ``licence.issue``; and, only when the issuer's newest status
list does not cover the new status index yet, publish a bigger one. Serials are unique by constraint; on
PostgreSQL concurrent issuers for one department queue on the department row's lock, and any
remaining collision is retried. An ``Idempotency-Key`` makes a retried request return the
licence it already issued.

Every status change (suspend, reinstate, revoke, and change/renew superseding the old version)
publishes the issuer's new signed status list in the same transaction, so the change and the
list that says so commit together (see :mod:`trustsvc.status_lists`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..apikeys import Actor, Principal, Role, SystemActor
from ..audit import AuditEvent, record
from ..context import TrustService
from ..errors import (
    ConflictError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TrustSvcError,
)
from ..formats.canonical import canonical_json
from ..formats.uscc import validate_uscc
from ..holder.mso import make_mso_in_session
from ..sealing import apply_seal_in_session, region_timestamper
from ..status_lists import lock_status_list, publish_status_list
from ..storage.db import Database
from ..storage.models import Department, LicenceRecord, Region, utcnow
from ..times import CHINA, china_today, iso_utc, past_in_china
from .catalogue import LicenceType, catalogue_of, normalise_fields, resolve_type, type_not_allowed_message
from .checked import MAX_SEQUENCE, IssueOutcome, _Checked, _current_seal, build_metadata
from .identifier import LicenceIdentifier, parse_identifier
from .issuing import CatalogueMoved, Pending, group_commit
from .states import LicenceState
from .type_store import held_catalogue
from .typedef import ID_TYPES, is_date, schema_problems

__all__ = [
    "HOLDER_ID_TYPES",
    "find_licence",
    "LicenceRequest",
    "IssueOutcome",
    "request_from_json",
    "issue_licence",
    "issue_licence_outcome",
    "change_licence",
    "renew_licence",
    "suspend_licence",
    "reinstate_licence",
    "revoke_licence",
    "get_licence",
    "licence_body",
    "canonical_metadata",
    "build_metadata",
    "validate_holder_id",
    "china_today",
]

HOLDER_ID_TYPES = {
    "111": "公民身份号码",
    "001": "统一社会信用代码",
    **{code: name for code, (name, _, _) in ID_TYPES.items() if code not in ("111", "001")},
}
"""GB/T 36903 持证主体代码类型代码 values we accept (each licence type says which of them)."""
MAX_IDEMPOTENCY_KEY = 200
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_ATTEMPTS = 5
_REQUEST_KEYS = {"type", "holder", "fields", "valid_from", "valid_until"}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class LicenceRequest:
    type_code: str
    holder_name: str | None
    """None: taken from the face field the type names (a 营业执照's 名称), or missing."""
    holder_id_type: str | None
    """None: the type's first (default) document type."""
    holder_id: str | None
    """None: taken from the face field the type names (a 营业执照's 统一社会信用代码), or missing."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    valid_from: dt.date | None = None
    """None: the issue date."""
    valid_until: dt.date | None = None
    """None: no end (长期)."""


# -- input ------------------------------------------------------------------------------------


def _text(value: Any, name: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(
            f"{name} must be a non-empty string", code="missing_field" if value is None else "invalid_field", field=name
        )
    value = value.strip()
    if len(value) > max_len:
        raise InvalidInputError(f"{name} has at most {max_len} characters", code="field_too_long", field=name)
    if any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise InvalidInputError(f"{name} contains control characters", code="invalid_characters", field=name)
    return value


def _date(value: Any, name: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise InvalidInputError(f"{name} must be a date YYYY-MM-DD", code="invalid_date", field=name)
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not a calendar date", code="invalid_date", field=name) from exc
    if not 1949 <= parsed.year <= 2199:
        raise InvalidInputError(f"{name} must lie in 1949..2199", code="invalid_date", field=name)
    return parsed


def validate_holder_id(id_type: str, holder_id: str) -> str:
    """``holder_id`` normalised for its type: 111 (GB 11643 check digit) or 001 (GB 32100 USCC)."""
    if id_type == "111":
        value = holder_id.strip().upper()
        if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
            raise InvalidInputError(
                "a 公民身份号码 is 17 digits and a check digit or X", code="invalid_holder_id", field="holder.id"
            )
        try:
            dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
        except ValueError as exc:
            raise InvalidInputError(
                "the 公民身份号码 birth date is not a date", code="invalid_holder_id", field="holder.id"
            ) from exc
        expected = "10X98765432"[sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11]
        if value[17] != expected:
            raise InvalidInputError(
                "the 公民身份号码 check digit does not match (GB 11643)", code="invalid_holder_id", field="holder.id"
            )
        return value
    if id_type == "001":
        try:
            return validate_uscc(holder_id)
        except InvalidInputError as exc:
            raise InvalidInputError(exc.message, code="invalid_holder_id", field="holder.id") from None
    if id_type in ID_TYPES:
        name, pattern, _ = ID_TYPES[id_type]
        value = holder_id.strip().upper()
        if not re.fullmatch(pattern, value):
            raise InvalidInputError(
                f"a {name} number has the form {pattern}", code="invalid_holder_id", field="holder.id"
            )
        return value
    raise InvalidInputError(
        f"holder.id_type must be one of {', '.join(sorted(HOLDER_ID_TYPES))}",
        code="invalid_holder_id_type",
        field="holder.id_type",
    )


def request_from_json(data: Any) -> LicenceRequest:
    """The HTTP API's licence request body ``{"type", "holder": {"name", "id_type", "id"}, "fields", "valid_from",
    "valid_until"}`` as a request (shape only; :func:`issue_licence` validates the content)."""
    if not isinstance(data, Mapping):
        raise InvalidInputError("the licence request must be a JSON object", code="invalid_request")
    unknown = sorted(str(k) for k in data if k not in _REQUEST_KEYS)
    if unknown:
        raise InvalidInputError(f"unknown keys: {', '.join(unknown)}", code="unknown_field", field=unknown[0])
    holder = data.get("holder", {})
    if not isinstance(holder, Mapping):
        raise InvalidInputError(
            "holder must be an object {name, id_type, id}",
            code="missing_field" if holder is None else "invalid_field",
            field="holder",
        )
    extra = sorted(str(k) for k in holder if k not in ("name", "id_type", "id"))
    if extra:
        raise InvalidInputError(
            f"unknown holder keys: {', '.join(extra)}", code="unknown_field", field=f"holder.{extra[0]}"
        )
    fields = data.get("fields", {})
    if not isinstance(fields, Mapping):
        raise InvalidInputError("fields must be a JSON object", code="invalid_fields", field="fields")
    return LicenceRequest(
        type_code=_text(data.get("type"), "type", 64),
        holder_name=None if holder.get("name") is None else _text(holder.get("name"), "holder.name", 200),
        holder_id_type=None if holder.get("id_type") is None else _text(holder.get("id_type"), "holder.id_type", 8),
        holder_id=None if holder.get("id") is None else _text(holder.get("id"), "holder.id", 64),
        fields=dict(fields),
        valid_from=_date(data.get("valid_from"), "valid_from"),
        valid_until=_date(data.get("valid_until"), "valid_until"),
    )


def _holder(
    ltype: LicenceType, req: LicenceRequest, fields: Mapping[str, Any], bad: set[str], problems: list[FieldProblem]
) -> tuple[str | None, str, str | None]:
    """(name, id type, id) of the holder: what the request says, checked, and what the face
    fields say where the type takes the holder from them (entered once: a differing value is a
    ``holder_mismatch``)."""
    h = ltype.holder

    def check(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except InvalidInputError as exc:
            problems.extend(exc.problems or (FieldProblem(exc.field or "", exc.code, exc.message),))
            return None

    id_type = req.holder_id_type or h.id_types[0]
    if id_type not in h.id_types:
        names = ", ".join(f"{t} ({HOLDER_ID_TYPES.get(t, t)})" for t in h.id_types)
        problems.append(
            FieldProblem(
                "holder.id_type", "invalid_holder_id_type", f"a {ltype.name} is held under holder.id_type {names}"
            )
        )
        return None, id_type, None
    derived_id = h.id_field is not None and id_type == h.derived_id_type
    derived_name = h.name_field is not None and (h.id_field is None or derived_id)
    name = check(_text, req.holder_name, "holder.name", 200) if req.holder_name is not None else None
    holder_id = check(validate_holder_id, id_type, req.holder_id) if req.holder_id is not None else None
    for part, derived, field_name, given in (
        ("name", derived_name, h.name_field, name),
        ("id", derived_id, h.id_field, holder_id),
    ):
        if not derived:
            if given is None and f"holder.{part}" not in {p.field for p in problems}:
                problems.append(FieldProblem(f"holder.{part}", "missing_field", f"holder.{part} is required"))
            continue
        assert field_name is not None
        face = fields.get(field_name)
        if f"fields.{field_name}" in bad or not isinstance(face, str):
            continue  # the field's own problem says it
        label = ltype.by_name[field_name].label
        if given is not None and given != face:
            problems.append(
                FieldProblem(
                    f"holder.{part}",
                    "holder_mismatch",
                    f"holder.{part} is {given!r} but fields.{field_name} ({label}) is {face!r}: a "
                    f"{ltype.name} names its holder there; leave holder.{part} out or send the "
                    "same value",
                )
            )
        if part == "name":
            name = face
        else:
            holder_id = face
    return name, id_type, holder_id


def _validity(
    ltype: LicenceType,
    req: LicenceRequest,
    fields: Mapping[str, Any],
    bad: set[str],
    problems: list[FieldProblem],
    *,
    keep_until: bool,
) -> tuple[dt.date | None, dt.date | None]:
    """(valid_from, valid_until) by the type's validity rule (see :class:`~.typedef.ValidityRule`)."""
    rule = ltype.validity
    valid_from, valid_until = req.valid_from, req.valid_until

    def from_field(name: str | None, given: dt.date | None, what: str) -> dt.date | None:
        if name is None:
            return given
        value = fields.get(name)
        if f"fields.{name}" in bad or not isinstance(value, str) or not is_date(value):
            return given
        day = dt.date.fromisoformat(value)
        if what == "valid_from" and given is not None:
            return given  # the field is the usual start (营业期限 from 成立日期), a renewal starts anew
        if given is not None and given != day and not keep_until:
            problems.append(
                FieldProblem(
                    what,
                    "invalid_validity",
                    f"{what} must be fields.{name} ({ltype.by_name[name].label}), {value}, or be left out",
                )
            )
        return day

    valid_from = from_field(rule.from_field, valid_from, "valid_from")
    if rule.rule == "until_field":
        valid_until = from_field(rule.field, valid_until, "valid_until")
    elif rule.rule == "fixed_years" and valid_until is None and not keep_until:
        valid_until = rule.end_for(valid_from or china_today())
    return valid_from, valid_until


def _check_request(region_code: str, req: LicenceRequest, source: Any = None, *, keep_until: bool = False) -> _Checked:
    """Every check, so a form can show each problem next to its field at once: the body against
    the type's JSON Schema (:mod:`jsonschema`, with the ``uscc`` and ``gb11643`` check characters
    as formats), then the holder (entered once) and the validity rule."""
    ltype = resolve_type(region_code, req.type_code, source)
    problems: list[FieldProblem] = []
    fields: Any = normalise_fields(ltype, req.fields) if isinstance(req.fields, Mapping) else req.fields
    body = {
        "type": ltype.code,
        "fields": fields,
        "valid_from": req.valid_from.isoformat() if req.valid_from else None,
        "valid_until": req.valid_until.isoformat() if req.valid_until and not keep_until else None,
    }
    # the holder is checked below, with the codes its checks always had
    found = [
        p
        for p in schema_problems(ltype, body, codes={("valid_until", "type"): "invalid_validity"})
        if not p.field.startswith("holder")
    ]
    bad = {p.field for p in found}
    holder: list[FieldProblem] = []
    name, id_type, holder_id = _holder(ltype, req, fields if isinstance(fields, Mapping) else {}, bad, holder)
    validity: list[FieldProblem] = []
    valid_from, valid_until = _validity(
        ltype, req, fields if isinstance(fields, Mapping) else {}, bad, validity, keep_until=keep_until
    )
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        validity.append(FieldProblem("valid_until", "invalid_validity", "valid_until must be after valid_from"))
    problems = [*holder, *found, *[p for p in validity if p.field not in bad]]
    if problems:
        first = problems[0]
        raise InvalidInputError(
            "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
            if len(problems) > 1
            else first.message,
            code=first.code,
            field=first.field or None,
            problems=tuple(problems),
        )
    assert name is not None and holder_id is not None
    return _Checked(ltype, name, id_type, holder_id, dict(fields), valid_from, valid_until)


def _request_hash(dept_uscc: str, c: _Checked) -> str:
    body = {
        "department": dept_uscc,
        "type": c.type.code,
        "holder": {"name": c.holder_name, "id_type": c.holder_id_type, "id": c.holder_id},
        "fields": c.fields,
        "valid_from": c.valid_from.isoformat() if c.valid_from else None,
        "valid_until": c.valid_until.isoformat() if c.valid_until else None,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


# -- scope ------------------------------------------------------------------------------------


def _actor(
    principal_or_actor: Actor, dept_uscc: str, type_code: str | None, *, write: bool, region_code: str = ""
) -> str:
    """The audit actor, after checking the principal may act on this department and type.
    ``type_code`` must be a catalogue code already (resolve it first: an unknown type is the
    caller's 422, not the key's 403)."""
    if isinstance(principal_or_actor, SystemActor):
        return principal_or_actor.name
    p = principal_or_actor
    if p.role is Role.ADMIN:
        return p.actor
    if p.role is Role.ISSUER:
        if p.department_uscc != dept_uscc:
            raise PermissionDeniedError("an issuer key acts only for its own department", code="other_department")
        if write and type_code is not None and type_code not in p.licence_types:
            raise PermissionDeniedError(
                type_not_allowed_message(
                    region_code, allowed=p.licence_types, wanted=type_code, department_uscc=p.department_uscc
                ),
                code="licence_type_not_allowed",
            )
        return p.actor
    if not write and p.role is Role.VERIFIER:
        return p.actor
    raise PermissionDeniedError(f"a {p.role.value} key may not do this", code="role_not_allowed")


# -- metadata ---------------------------------------------------------------------------------


def canonical_metadata(row: LicenceRecord) -> bytes:
    """The exact bytes the licence's ``metadata_signature`` seals."""
    return row.metadata_json.encode("utf-8")


# -- storage helpers --------------------------------------------------------------------------


def _department(session: Session, uscc: str, *, lock: bool) -> Department:
    stmt = select(Department).where(Department.uscc == uscc.strip().upper())
    if lock:
        stmt = stmt.with_for_update()
    dept = session.execute(stmt).scalar_one_or_none()
    if dept is None:
        raise NotFoundError(f"no department {uscc}", code="department_not_found")
    return dept


def _region_of(db: Database) -> str:
    """The region's code, read once per process (it never changes after ``trustsvc init``).

    :raises NotFoundError: ``region_not_found`` before ``trustsvc init``.
    """
    code = db.region_code()
    if not code:
        raise NotFoundError("no region is initialised", code="region_not_found")
    return code


def _region_code(session: Session) -> str:
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotFoundError("no region is initialised", code="region_not_found")
    return region.code


def _next_serial(session: Session, dept: Department, type_code: str, year: int) -> str:
    top = session.execute(
        select(func.max(LicenceRecord.serial)).where(
            LicenceRecord.department_id == dept.id,
            LicenceRecord.type_code == type_code,
            LicenceRecord.serial >= f"{year:04d}",  # a range: the unique index serves it, LIKE may not
            LicenceRecord.serial < f"{year + 1:04d}",
        )
    ).scalar_one_or_none()
    seq = int(top[4:]) + 1 if top else 1
    if seq > MAX_SEQUENCE:
        raise ConflictError(f"serials for {year} are exhausted", code="serial_exhausted")
    return f"{year:04d}{seq:07d}"


def _next_status_index(session: Session, dept: Department) -> int:
    top = session.execute(
        select(func.max(LicenceRecord.status_index)).where(LicenceRecord.department_id == dept.id)
    ).scalar_one_or_none()
    return 0 if top is None else top + 1


def _seal_and_store(
    service: TrustService,
    session: Session,
    *,
    actor: str,
    dept: Department,
    c: _Checked,
    serial: str,
    version: int,
    stamper: Any,
    supersedes: LicenceRecord | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    status_index: int | None = None,
) -> LicenceRecord:
    now = utcnow().replace(microsecond=0)
    seal = _current_seal(session, dept, now)
    ident = LicenceIdentifier(c.type.code, dept.uscc, serial, version).text
    valid_from = c.valid_from or now.astimezone(CHINA).date()
    if c.valid_until is not None and c.valid_until <= valid_from:
        raise InvalidInputError("valid_until must be after valid_from", code="invalid_validity", field="valid_until")
    meta = build_metadata(
        ltype=c.type,
        identifier=ident,
        dept=dept,
        issued_at=now,
        holder_name=c.holder_name,
        holder_id_type=c.holder_id_type,
        holder_id=c.holder_id,
        fields=c.fields,
        valid_from=valid_from,
        valid_until=c.valid_until,
    )
    applied = apply_seal_in_session(
        service, session, seal.esid, meta, actor=actor, property_info=ident, stamper=stamper
    )
    row = LicenceRecord(
        identifier=ident,
        type_code=c.type.code,
        department_id=dept.id,
        serial=serial,
        version=version,
        status="active",
        holder_name=c.holder_name,
        holder_id_type=c.holder_id_type,
        holder_id=c.holder_id,
        fields=c.fields,
        valid_from=valid_from,
        valid_until=c.valid_until,
        issued_at=now,
        supersedes_id=supersedes.id if supersedes is not None else None,
        metadata_json=meta.decode("utf-8"),
        seal_esid=seal.esid,
        status_index=_next_status_index(session, dept) if status_index is None else status_index,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        type_version=c.type.version or None,
    )
    row.store_signature(applied.signature, seal.der)  # the seal itself is stored once, in seals
    row.department = dept
    session.add(row)
    session.flush()
    make_mso_in_session(service, session, row, actor=actor)  # the wallet's field digests, signed now
    return row


# -- issuance ---------------------------------------------------------------------------------


def issue_licence_outcome(
    service: TrustService,
    request: LicenceRequest,
    *,
    principal_or_actor: Actor,
    department_uscc: str | None = None,
    idempotency_key: str | None = None,
    timestamp: bool = True,
) -> IssueOutcome:
    """Issue a licence (see the module docstring); says whether it was an idempotent replay."""
    if department_uscc is None and isinstance(principal_or_actor, Principal):
        department_uscc = principal_or_actor.department_uscc
    if not department_uscc:
        raise InvalidInputError(
            "say which department issues the licence", code="department_required", field="department"
        )
    dept_uscc = department_uscc.strip().upper()
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidInputError(
            f"an idempotency key is 1..{MAX_IDEMPOTENCY_KEY} printable ASCII characters",
            code="invalid_idempotency_key",
            field="Idempotency-Key",
        )
    region_code = _region_of(service.db)
    stamper = region_timestamper(service) if timestamp else None
    # The catalogue this process holds, checked against the database's in the batch that
    # writes (one read a batch, not a transaction a request); read afresh when the batch
    # finds it moved, and at the first request.
    catalogue = held_catalogue(service.db.redacted_url())
    for _ in range(3):
        fresh = catalogue is None
        if catalogue is None:
            with service.db.reader() as session:
                catalogue = catalogue_of(region_code, session)
        try:
            # the type first: an unknown one is a 422 whoever asks, and a name becomes its code
            ltype = resolve_type(region_code, request.type_code, catalogue)
            actor = _actor(principal_or_actor, dept_uscc, ltype.code, write=True, region_code=region_code)
            checked = _check_request(region_code, request, catalogue)
        except TrustSvcError:
            if fresh:
                raise
            catalogue = None  # a type or version recorded since this process last read: read it
            continue
        # concurrent requests share one transaction and one commit; each returns once it is durable
        try:
            return group_commit(service).issue(
                Pending(
                    checked=checked,
                    department_uscc=dept_uscc,
                    actor=actor,
                    request_hash=_request_hash(dept_uscc, checked),
                    idempotency_key=idempotency_key,
                    stamper=stamper,
                    catalogue_marker=catalogue.marker,
                )
            )
        except CatalogueMoved:
            catalogue = None
    raise CatalogueMoved("the licence type catalogue kept changing while this licence was issued; try again")


def issue_licence(
    service: TrustService,
    request: LicenceRequest,
    *,
    principal_or_actor: Actor,
    department_uscc: str | None = None,
    idempotency_key: str | None = None,
    timestamp: bool = True,
) -> LicenceRecord:
    """Issue a licence; with ``idempotency_key``, a repeated identical request returns the same one.

    :raises InvalidInputError: bad holder, dates or fields (``code`` and ``field`` name the first).
    :raises PermissionDeniedError: the principal may not issue for this department or type.
    :raises ConflictError: ``no_seal``, ``idempotency_key_reused``; ``catalogue_changed`` when
        licence types kept being recorded while it was checked (three times): try again.
    """
    return issue_licence_outcome(
        service,
        request,
        principal_or_actor=principal_or_actor,
        department_uscc=department_uscc,
        idempotency_key=idempotency_key,
        timestamp=timestamp,
    ).record


# -- lookup -----------------------------------------------------------------------------------


def find_licence(session: Session, identifier: str, *, lock: bool = False) -> LicenceRecord:
    """The licence with ``identifier`` (normalised), optionally locked for update.

    :raises NotFoundError: ``licence_not_found``.
    """
    text = parse_identifier(identifier).text
    stmt = select(LicenceRecord).where(LicenceRecord.identifier == text)
    if lock:
        stmt = stmt.with_for_update(of=LicenceRecord)
    row = session.execute(stmt).unique().scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no licence {text}", code="licence_not_found")
    return row


def get_licence(
    service: TrustService | Database, identifier: str, *, principal: Principal | None = None
) -> LicenceRecord:
    """A licence by its identifier; an issuer principal sees only its department's. Takes the
    database alone too: reading needs no key store (``trustsvc licence show`` asks no PIN)."""
    db = service if isinstance(service, Database) else service.db
    with db.reader() as session:
        row = find_licence(session, identifier)
        if principal is not None:
            _actor(principal, row.department.uscc, row.type_code, write=False)
        return row


# -- lifecycle --------------------------------------------------------------------------------


def _department_of(session: Session, identifier: str) -> int:
    """The issuing department's id, read without loading the licence (it is locked next)."""
    text = parse_identifier(identifier).text
    dept_id = session.execute(
        select(LicenceRecord.department_id).where(LicenceRecord.identifier == text)
    ).scalar_one_or_none()
    if dept_id is None:
        raise NotFoundError(f"no licence {text}", code="licence_not_found")
    return dept_id


def _transition(
    service: TrustService,
    identifier: str,
    *,
    principal_or_actor: Actor,
    allowed: tuple[LicenceState, ...],
    to: LicenceState,
    action: str,
    reason: str | None,
) -> LicenceRecord:
    if reason is not None:
        reason = _text(reason, "reason", 500)
    with service.db.transaction() as session:
        # the issuer's publishing lock first: concurrent changes of one issuer queue, and each
        # one's list includes the others'
        lock_status_list(session, _department_of(session, identifier))
        row = find_licence(session, identifier, lock=True)
        actor = _actor(principal_or_actor, row.department.uscc, row.type_code, write=True)
        if row.status not in allowed:
            raise ConflictError(f"a {row.status} licence cannot be {to}", code="invalid_transition")
        before = row.status
        row.status = to.value
        row.status_reason = reason
        row.status_changed_at = utcnow()
        session.flush()
        record(
            session,
            AuditEvent(
                actor=actor,
                action=action,
                object_type="licence",
                object_id=row.identifier,
                details={"from": before, "to": to.value, "reason": reason, "status_index": row.status_index},
            ),
        )
        publish_status_list(service, session, row.department)
        return row


def suspend_licence(
    service: TrustService, identifier: str, *, principal_or_actor: Actor, reason: str | None = None
) -> LicenceRecord:
    return _transition(
        service,
        identifier,
        principal_or_actor=principal_or_actor,
        allowed=(LicenceState.ACTIVE,),
        to=LicenceState.SUSPENDED,
        action="licence.suspend",
        reason=reason,
    )


def reinstate_licence(
    service: TrustService, identifier: str, *, principal_or_actor: Actor, reason: str | None = None
) -> LicenceRecord:
    return _transition(
        service,
        identifier,
        principal_or_actor=principal_or_actor,
        allowed=(LicenceState.SUSPENDED,),
        to=LicenceState.ACTIVE,
        action="licence.reinstate",
        reason=reason,
    )


def revoke_licence(service: TrustService, identifier: str, *, principal_or_actor: Actor, reason: str) -> LicenceRecord:
    return _transition(
        service,
        identifier,
        principal_or_actor=principal_or_actor,
        allowed=(LicenceState.ACTIVE, LicenceState.SUSPENDED),
        to=LicenceState.REVOKED,
        action="licence.revoke",
        reason=reason,
    )


def _reissue(
    service: TrustService,
    identifier: str,
    *,
    principal_or_actor: Actor,
    action: str,
    fields: Mapping[str, Any] | None,
    holder_name: str | None,
    valid_from: dt.date | None,
    valid_until: dt.date | None,
    keep_until: bool,
    timestamp: bool,
) -> LicenceRecord:
    with service.db.reader() as session:
        old = find_licence(session, identifier)
        region_code = _region_code(session)
    dept_uscc = old.department.uscc
    actor = _actor(principal_or_actor, dept_uscc, old.type_code, write=True)
    merged = {**old.fields, **(fields or {})}
    # where the face names the holder, a new holder name is a new face field, and the reverse
    h = resolve_type(region_code, old.type_code, service.db).holder
    derived = h.name_field is not None and (h.id_field is None or old.holder_id_type == h.derived_id_type)
    if derived and holder_name and h.name_field is not None and h.name_field not in (fields or {}):
        merged[h.name_field] = holder_name
    req = LicenceRequest(
        type_code=old.type_code,
        holder_name=None if derived else holder_name or old.holder_name,
        holder_id_type=old.holder_id_type,
        holder_id=None if h.id_field and old.holder_id_type == h.derived_id_type else old.holder_id,
        fields=merged,
        valid_from=valid_from,
        valid_until=old.valid_until if keep_until else valid_until,
    )
    checked = _check_request(region_code, req, service.db, keep_until=keep_until)
    stamper = region_timestamper(service) if timestamp else None
    for attempt in range(_ATTEMPTS):
        try:
            with service.db.transaction() as session:
                dept = _department(session, dept_uscc, lock=True)
                lock_status_list(session, dept.id)
                old = find_licence(session, identifier, lock=True)
                if old.status != LicenceState.ACTIVE and not (
                    action == "licence.renew" and old.status == LicenceState.EXPIRED
                ):
                    raise ConflictError(
                        f"a {old.status} licence cannot be {action.split('.')[1]}ed", code="invalid_transition"
                    )
                if old.version >= 999:
                    raise ConflictError("this licence has reached version 999", code="version_exhausted")
                row = _seal_and_store(
                    service,
                    session,
                    actor=actor,
                    dept=dept,
                    c=checked,
                    serial=old.serial,
                    version=old.version + 1,
                    stamper=stamper,
                    supersedes=old,
                )
                old.status = LicenceState.SUPERSEDED.value
                old.status_reason = f"{action.split('.')[1]}: {row.identifier}"
                old.status_changed_at = row.issued_at
                session.flush()
                record(
                    session,
                    AuditEvent(
                        actor=actor,
                        action=action,
                        object_type="licence",
                        object_id=row.identifier,
                        details={
                            "supersedes": old.identifier,
                            "version": row.version,
                            "seal": row.seal_esid,
                            "status_index": row.status_index,
                        },
                    ),
                )
                publish_status_list(service, session, dept)
                return row
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise ConflictError(
                    "a concurrent change took this version; try again", code="version_conflict"
                ) from None
    raise AssertionError("unreachable")


def change_licence(
    service: TrustService,
    identifier: str,
    *,
    principal_or_actor: Actor,
    fields: Mapping[str, Any] | None = None,
    holder_name: str | None = None,
    timestamp: bool = True,
) -> LicenceRecord:
    """变更: a new version (+1) with changed fields or holder name; the old one is superseded."""
    return _reissue(
        service,
        identifier,
        principal_or_actor=principal_or_actor,
        action="licence.change",
        fields=fields,
        holder_name=holder_name,
        valid_from=None,
        valid_until=None,
        keep_until=True,
        timestamp=timestamp,
    )


def renew_licence(
    service: TrustService,
    identifier: str,
    *,
    principal_or_actor: Actor,
    valid_until: dt.date | None,
    valid_from: dt.date | None = None,
    timestamp: bool = True,
) -> LicenceRecord:
    """延续: a new version (+1) with a new validity period; the old one is superseded."""
    return _reissue(
        service,
        identifier,
        principal_or_actor=principal_or_actor,
        action="licence.renew",
        fields=None,
        holder_name=None,
        valid_from=valid_from,
        valid_until=valid_until,
        keep_until=False,
        timestamp=timestamp,
    )


# -- rendering --------------------------------------------------------------------------------


def licence_body(row: LicenceRecord) -> dict[str, Any]:
    """A licence as the API and the CLI give it, without links (the API adds them:
    ``api.shapes.licence_json``)."""
    status = row.status
    if status == LicenceState.ACTIVE and past_in_china(row.valid_until):
        status = LicenceState.EXPIRED.value
    return {
        "id": row.identifier,
        "version": row.version,
        "status": status,
        "type": row.type_code,
        "issuer": {"uscc": row.department.uscc, "name": row.department.name},
        "holder": {"name": row.holder_name, "id_type": row.holder_id_type, "id": row.holder_id},
        "fields": dict(row.fields),
        "valid_from": row.valid_from.isoformat(),
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "issued_at": iso_utc(row.issued_at),
    }
