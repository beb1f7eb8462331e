"""What every holder operation shares: who the holder is, who may act for them, and the checks
on purposes, verifiers and lifetimes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..apikeys import Actor, Role, SystemActor
from ..codes.service import CODE_SIGNER_SLUG, MAX_TTL, MIN_TTL
from ..errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from ..licences.masking import ORGANISATION_ID_TYPE, PERSON_ID_TYPE, mask_holder_id, mask_holder_name
from ..licences.service import HOLDER_ID_TYPES, validate_holder_id
from ..storage.models import CertificateRecord, Region

__all__ = [
    "HolderRef",
    "holder_from_json",
    "wallet_actor",
    "verifier_actor",
    "purpose_from",
    "verifier_from",
    "ttl_from",
    "code_signer",
    "region_code",
    "MIN_TTL",
    "MAX_TTL",
    "VERIFIER_NAME",
]

VERIFIER_NAME = re.compile(r"^(apikey:[0-9a-f]{12}|region:[1-8][0-9]{5})$")
"""How a consent or presentation names a verifier: a verifier key of this region
(``apikey:<key id>``, the actor its uses are audited as) or a peer region (``region:<code>``)."""


@dataclass(frozen=True)
class HolderRef:
    """A holder: a person (公民身份号码, id type 111) or an enterprise (USCC, id type 001)."""

    id_type: str
    id: str

    @property
    def kind(self) -> str:
        return "person" if self.id_type == PERSON_ID_TYPE else "enterprise"

    @property
    def masked_id(self) -> str:
        return mask_holder_id(self.id, self.id_type)

    def masked_name(self, name: str) -> str:
        return mask_holder_name(name, self.id_type)

    def as_dict(self) -> dict[str, str]:
        """What a response may say about the holder: the kind and the masked id."""
        return {"kind": self.kind, "id_type": self.id_type, "id": self.masked_id}


def holder_from_json(value: Any, name: str = "holder") -> HolderRef:
    """``{"id_type": "111" | "001", "id": ...}``, normalised and checked (check digits)."""
    if not isinstance(value, Mapping) or set(value) - {"id_type", "id"}:
        raise InvalidInputError(f"{name} must be an object {{id_type, id}}", code="invalid_holder", field=name)
    id_type, ident = value.get("id_type"), value.get("id")
    if (
        not isinstance(id_type, str)
        or id_type not in HOLDER_ID_TYPES
        or id_type not in (PERSON_ID_TYPE, ORGANISATION_ID_TYPE)
    ):
        raise InvalidInputError(
            f"{name}.id_type must be one of {', '.join(sorted(HOLDER_ID_TYPES))}",
            code="invalid_holder_id_type",
            field=f"{name}.id_type",
        )
    if not isinstance(ident, str):
        raise InvalidInputError(f"{name}.id must be a string", code="invalid_holder_id", field=f"{name}.id")
    return HolderRef(id_type, validate_holder_id(id_type, ident))


def wallet_actor(principal_or_actor: Actor) -> str:
    """Only the holder app's back end (``wallet`` keys, which authenticated the person or
    enterprise) and admins act for holders."""
    if isinstance(principal_or_actor, SystemActor):
        return principal_or_actor.name
    if principal_or_actor.role in (Role.ADMIN, Role.WALLET):
        return principal_or_actor.actor
    raise PermissionDeniedError(
        f"a {principal_or_actor.role.value} key may not act for holders; needs wallet", code="role_not_allowed"
    )


def verifier_actor(principal_or_actor: Actor) -> str:
    """Verifier keys (and peers, admins) redeem holder codes."""
    if isinstance(principal_or_actor, SystemActor):
        return principal_or_actor.name
    if principal_or_actor.role in (Role.ADMIN, Role.VERIFIER, Role.PEER):
        return principal_or_actor.actor
    raise PermissionDeniedError(
        f"a {principal_or_actor.role.value} key may not redeem holder codes", code="role_not_allowed"
    )


def purpose_from(value: Any, name: str = "purpose") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(
            f"{name} must be a non-empty string (why the licences are used)",
            code="missing_field" if value is None else "invalid_field",
            field=name,
        )
    value = value.strip()
    if len(value) > 200 or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise InvalidInputError(f"{name} is at most 200 printable characters", code="invalid_field", field=name)
    return value


def verifier_from(value: Any, name: str = "verifier") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not VERIFIER_NAME.match(value.strip()):
        raise InvalidInputError(
            f"{name} is apikey:<key id> (a verifier key of this region), region:<code> "
            "(a peer region) or null (any verifier)",
            code="invalid_verifier",
            field=name,
        )
    return value.strip()


def ttl_from(value: Any, default: int, name: str = "ttl") -> int:
    ttl = default if value is None else value
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidInputError(f"{name} must be {MIN_TTL}..{MAX_TTL} seconds", code="invalid_ttl", field=name)
    return ttl


def code_signer(session: Session, now: dt.datetime) -> CertificateRecord:
    """The region's code signer (it signs presentations and holder codes as it signs codes)."""
    row = session.execute(
        select(CertificateRecord).where(CertificateRecord.slug == CODE_SIGNER_SLUG)
    ).scalar_one_or_none()
    if row is None or row.key_ref is None:
        raise NotFoundError("this region has no code-signer certificate; run `trustsvc init`", code="no_code_signer")
    if row.status != "good" or not row.not_before <= now <= row.not_after:
        raise ConflictError(
            "the code-signer certificate is revoked or outside its validity", code="code_signer_invalid"
        )
    return row


def region_code(session: Session) -> str:
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotFoundError("no region is initialised", code="region_not_found")
    return region.code
