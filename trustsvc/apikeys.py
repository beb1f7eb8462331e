"""API keys: ``tsk_<key_id>_<secret>``. Only SHA-256(secret) is stored; the key is shown once.

The secret is 256 random bits, so a plain hash is the right tool (a password KDF would only
slow every request); comparison is constant-time.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from .audit import AuditEvent, record
from .errors import AuthenticationError, InvalidInputError, NotFoundError, NotInitialisedError
from .licences.catalogue import resolve_type
from .storage.db import Database
from .storage.models import ApiKeyRecord, Department, Region, utcnow

__all__ = [
    "SystemActor",
    "Actor",
    "Role",
    "Principal",
    "create_api_key",
    "authenticate",
    "revoke_api_key",
    "CreatedKey",
    "principal_for_key_id",
    "presented_key_id",
]

PREFIX = "tsk"
_KEY_ID = re.compile(r"[0-9a-f]{12}")


class Role(str, enum.Enum):
    """The API key roles (README, "HTTP API")."""

    ADMIN = "admin"
    ISSUER = "issuer"
    """Scoped to one department and a set of licence types."""
    VERIFIER = "verifier"
    PEER = "peer"
    WALLET = "wallet"
    """The holder app's back end: it has authenticated the person or enterprise and acts for
    them (presentations, holder codes, consents, their record of uses)."""
    SEAL_MANAGER = "seal_manager"
    """Makes, suspends, reinstates and revokes seals and chooses a department's default seal
    (GB/T 38540 seal management); optionally scoped to one department."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as resolved from an API key."""

    key_id: str
    role: Role
    department_uscc: str | None = None
    licence_types: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


@dataclass(frozen=True)
class SystemActor:
    """An operator or process acting without an API key (``cli:<user>``, the demo seed). It is
    trusted as the host's administrator, so it is named on purpose, never a bare string."""

    name: str

    @property
    def actor(self) -> str:
        return self.name


Actor = Principal | SystemActor
"""Who performs an operation: a caller by API key, or a named system actor."""


@dataclass(frozen=True)
class CreatedKey:
    key_id: str
    token: str
    """The full key; shown once, never stored."""
    principal: Principal


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _known_types(session: Session, wanted: Sequence[str]) -> list[str]:
    """The type codes a key is scoped to, each resolved against the region's catalogue (a code,
    or a unique catalogue name), so a typo is refused now rather than found out at the first 403."""
    names = sorted({t.strip() for t in wanted if t.strip()})
    if not names:
        return []
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotInitialisedError("no region is initialised here; run `trustsvc init` first")
    try:
        return sorted({resolve_type(region.code, name).code for name in names})
    except InvalidInputError as exc:
        raise InvalidInputError(exc.message, code="unknown_licence_type", field="types") from exc


def create_api_key(
    session: Session,
    *,
    role: Role | str,
    actor: str,
    department_uscc: str | None = None,
    licence_types: Sequence[str] = (),
    label: str = "",
) -> CreatedKey:
    """Create a key in the caller's transaction and audit it."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise InvalidInputError(
            f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}", code="invalid_role", field="role"
        ) from exc
    department = None
    if role is Role.ISSUER:
        if not department_uscc:
            raise InvalidInputError(
                "an issuer key needs --department USCC", code="department_required", field="department"
            )
        department = session.execute(
            select(Department).where(Department.uscc == department_uscc.upper())
        ).scalar_one_or_none()
        if department is None:
            raise NotFoundError(f"no department {department_uscc}", code="department_not_found")
    elif role is Role.SEAL_MANAGER and department_uscc and not licence_types:
        department = session.execute(
            select(Department).where(Department.uscc == department_uscc.upper())
        ).scalar_one_or_none()
        if department is None:
            raise NotFoundError(f"no department {department_uscc}", code="department_not_found")
    elif department_uscc or licence_types:
        raise InvalidInputError(
            "only issuer keys are scoped to a department and licence types (seal managers to a department)",
            code="scope_not_allowed",
        )
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    types = _known_types(session, licence_types)
    session.add(
        ApiKeyRecord(
            key_id=key_id,
            secret_sha256=_hash(secret),
            role=role.value,
            department_id=department.id if department else None,
            licence_types=types,
            label=label,
        )
    )
    record(
        session,
        AuditEvent(
            actor=actor,
            action="apikey.create",
            object_type="api_key",
            object_id=key_id,
            details={
                "role": role.value,
                "department": department.uscc if department else None,
                "licence_types": types,
                "label": label,
            },
        ),
    )
    principal = Principal(key_id, role, department.uscc if department else None, tuple(types))
    return CreatedKey(key_id=key_id, token=f"{PREFIX}_{key_id}_{secret}", principal=principal)


def presented_key_id(token: str) -> str | None:
    """The public id of a presented ``tsk_<id>_<secret>`` when it has the form keys are made
    with, else None. Not secret (audit records name keys by it); rate limits count by it."""
    parts = token.strip().split("_", 2)
    if len(parts) == 3 and parts[0] == PREFIX and _KEY_ID.fullmatch(parts[1]):
        return parts[1]
    return None


# One statement per request (every authenticated call asks it): the key's columns and its
# department's USCC, joined, as plain tuples rather than ORM objects with a lazy department.
_KEY_COLUMNS = select(
    ApiKeyRecord.key_id,
    ApiKeyRecord.secret_sha256,
    ApiKeyRecord.role,
    ApiKeyRecord.licence_types,
    ApiKeyRecord.revoked_at,
    Department.uscc,
).outerjoin(Department, Department.id == ApiKeyRecord.department_id)


_KeyRow = Row[str, str, str, list[str], dt.datetime | None, str]
"""key_id, secret_sha256, role, licence_types, revoked_at, the department's USCC."""


def _key_row(session: Session, key_id: str) -> _KeyRow | None:
    return session.execute(_KEY_COLUMNS.where(ApiKeyRecord.key_id == key_id)).one_or_none()


def _principal(row: _KeyRow) -> Principal:
    if row.revoked_at is not None:
        raise AuthenticationError("this API key has been revoked", code="revoked_api_key")
    return Principal(
        key_id=row.key_id,
        role=Role(row.role),
        department_uscc=row.uscc,
        licence_types=tuple(row.licence_types or ()),
    )


def authenticate(session: Session, token: str) -> Principal:
    """Resolve a presented key; :raises AuthenticationError: for any unknown, malformed or revoked key."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        raise AuthenticationError("malformed API key", code="invalid_api_key")
    row = _key_row(session, parts[1])
    # Compare even when the key is unknown so timing does not reveal which key ids exist.
    expected = row.secret_sha256 if row is not None else "0" * 64
    if not hmac.compare_digest(expected, _hash(parts[2])) or row is None:
        raise AuthenticationError("unknown API key", code="invalid_api_key")
    return _principal(row)


def principal_for_key_id(session: Session, key_id: str) -> Principal:
    """The principal of a key already authenticated once (a console session holds only its id),
    checked again so that revoking the key ends the session.

    :raises AuthenticationError: ``invalid_api_key`` (unknown) or ``revoked_api_key``.
    """
    row = _key_row(session, key_id)
    if row is None:
        raise AuthenticationError("unknown API key", code="invalid_api_key")
    return _principal(row)


def revoke_api_key(session: Session, key_id: str, *, actor: str, now: dt.datetime | None = None) -> None:
    row = session.execute(select(ApiKeyRecord).where(ApiKeyRecord.key_id == key_id)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no API key {key_id}", code="api_key_not_found")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        record(session, AuditEvent(actor=actor, action="apikey.revoke", object_type="api_key", object_id=key_id))


# -- the same, each in its own transaction (what the front doors call) ---------------------------


def principal_for_token(db: Database, token: str) -> Principal:
    """:func:`authenticate` in a read-only session of its own."""
    with db.reader() as session:
        return authenticate(session, token)


def new_api_key(
    db: Database,
    *,
    role: Role | str,
    actor: str,
    department_uscc: str | None = None,
    licence_types: Sequence[str] = (),
    label: str = "",
) -> CreatedKey:
    """:func:`create_api_key`, committed."""
    with db.transaction() as session:
        return create_api_key(
            session, role=role, actor=actor, department_uscc=department_uscc, licence_types=licence_types, label=label
        )


def end_api_key(db: Database, key_id: str, *, actor: str) -> None:
    """:func:`revoke_api_key`, committed."""
    with db.transaction() as session:
        revoke_api_key(session, key_id, actor=actor)


def key_label(db: Database, key_id: str) -> str:
    """The label this region gave an API key when it made it (blank when none or unknown)."""
    with db.reader() as session:
        label = session.execute(select(ApiKeyRecord.label).where(ApiKeyRecord.key_id == key_id)).scalar_one_or_none()
    return (label or "").strip()
