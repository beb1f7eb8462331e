"""Presentations for the holder's wallet: the holder chooses licences and the fields of each to
show; the region's code signer signs what was chosen, once, for a short time.

The wallet back end (a ``wallet`` key) has authenticated the holder; here every licence must
be the holder's own (another's is "not found", so a wallet cannot probe who holds what) and
active, and every field one its MSO signs. A licence version without an MSO yet (issued
before MSOs existed) gets one now, in the same transaction.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustsvc.times import iso_utc

from ..apikeys import Actor
from ..audit import AuditEvent, record
from ..codes.format import NONCE_LENGTH
from ..context import TrustService
from ..errors import ConflictError, InvalidInputError, NotFoundError
from ..licences.catalogue import find_type
from ..licences.service import find_licence
from ..licences.status import effective_status
from ..storage.models import LicenceRecord, utcnow
from .common import (
    HolderRef,
    code_signer,
    holder_from_json,
    purpose_from,
    region_code,
    ttl_from,
    verifier_from,
    wallet_actor,
)
from .format import MAX_LICENCES, Disclosure, encode_presentation, sign_envelope
from .models import PresentationRecord
from .mso import make_mso_in_session, wallet_items
from .verify import HOLDER_LABELS

__all__ = [
    "MAX_PRESENTATION_CHARS",
    "LicenceChoice",
    "PresentationRequest",
    "IssuedPresentation",
    "presentation_request_from_json",
    "make_presentation",
    "holder_licences",
    "licence_end",
]

MAX_PRESENTATION_CHARS = 3391
"""What a version-40 QR code holds in alphanumeric mode at error correction level M: a longer
presentation could not be scanned, so it is refused (disclose fewer fields or licences)."""
_CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


@dataclass(frozen=True)
class LicenceChoice:
    identifier: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class PresentationRequest:
    holder: HolderRef
    licences: tuple[LicenceChoice, ...]
    purpose: str
    verifier: str | None = None
    """``apikey:<id>`` or ``region:<code>``: only that verifier's online check passes."""
    ttl: int | None = None


@dataclass(frozen=True)
class IssuedPresentation:
    text: str
    nonce: bytes
    issued_at: dt.datetime
    expires_at: dt.datetime
    disclosed: Mapping[str, tuple[str, ...]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.text,
            "type": "presentation",
            "chars": len(self.text),
            "issued_at": iso_utc(self.issued_at),
            "expires_at": iso_utc(self.expires_at),
            "licences": [{"id": k, "fields": list(v)} for k, v in self.disclosed.items()],
        }


def presentation_request_from_json(data: Any) -> PresentationRequest:
    """``{"holder": {"id_type", "id"}, "licences": [{"id", "fields": [name, ...]}], "purpose",
    "verifier" (optional), "ttl" (optional, 30..900)}``."""
    if not isinstance(data, Mapping):
        raise InvalidInputError("the body must be a JSON object", code="invalid_request")
    unknown = sorted(str(k) for k in data if k not in ("holder", "licences", "purpose", "verifier", "ttl"))
    if unknown:
        raise InvalidInputError(f"unknown keys: {', '.join(unknown)}", code="unknown_field", field=unknown[0])
    items = data.get("licences")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_LICENCES:
        raise InvalidInputError(
            f"licences must list 1..{MAX_LICENCES} licences", code="invalid_field", field="licences"
        )
    choices = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or set(item) - {"id", "fields"} or not isinstance(item.get("id"), str):
            raise InvalidInputError(
                f"licences[{i}] must be {{id, fields: [name, ...]}}", code="invalid_field", field=f"licences[{i}]"
            )
        fields = item.get("fields", [])
        if (
            not isinstance(fields, list)
            or not all(isinstance(f, str) for f in fields)
            or len(set(fields)) != len(fields)
        ):
            raise InvalidInputError(
                f"licences[{i}].fields must list distinct field names",
                code="invalid_field",
                field=f"licences[{i}].fields",
            )
        choices.append(LicenceChoice(item["id"].strip(), tuple(fields)))
    if len({c.identifier for c in choices}) != len(choices):
        raise InvalidInputError("a licence is listed twice", code="duplicate_licence", field="licences")
    return PresentationRequest(
        holder=holder_from_json(data.get("holder")),
        licences=tuple(choices),
        purpose=purpose_from(data.get("purpose")),
        verifier=verifier_from(data.get("verifier")),
        ttl=data.get("ttl"),
    )


def licence_end(row: LicenceRecord) -> dt.datetime | None:
    """The first instant after the licence's last valid day (China time)."""
    if row.valid_until is None:
        return None
    return dt.datetime.combine(row.valid_until + dt.timedelta(days=1), dt.time(), _CHINA).astimezone(dt.UTC)


def holders_licence(session: Session, holder: HolderRef, identifier: str) -> LicenceRecord:
    """The holder's licence version; another holder's (or none) is the same 404.

    :raises NotFoundError: ``licence_not_found``.
    """
    try:
        row = find_licence(session, identifier)
    except InvalidInputError as exc:
        raise NotFoundError(f"no licence {identifier[:80]} of this holder", code="licence_not_found") from exc
    if (row.holder_id_type, row.holder_id) != (holder.id_type, holder.id):
        raise NotFoundError(f"no licence {row.identifier} of this holder", code="licence_not_found")
    return row


def make_presentation(
    service: TrustService, request: PresentationRequest, *, principal_or_actor: Actor
) -> IssuedPresentation:
    """Sign a presentation of the holder's chosen licences and fields (see the module docstring).

    :raises PermissionDeniedError: not a wallet (or admin) key.
    :raises NotFoundError: ``licence_not_found`` (not the holder's).
    :raises ConflictError: ``licence_not_active``.
    :raises InvalidInputError: ``unknown_field``, ``invalid_ttl``, ``presentation_too_large``.
    """
    actor = wallet_actor(principal_or_actor)
    ttl = ttl_from(request.ttl, service.config.codes.dynamic_ttl)
    with service.db.transaction() as session:
        now = utcnow().replace(microsecond=0)
        expires = now + dt.timedelta(seconds=ttl)
        parts: list[tuple[bytes, list[Disclosure]]] = []
        for i, choice in enumerate(request.licences):
            row = holders_licence(session, request.holder, choice.identifier)
            status = effective_status(row, now)
            if status != "active":
                raise ConflictError(
                    f"licence {row.identifier} is {status}; only active licences are presented",
                    code="licence_not_active",
                )
            end = licence_end(row)
            if end is not None and end < expires:
                expires = end
            kept = make_mso_in_session(service, session, row, actor=actor)
            items = wallet_items(kept)
            unknown = [f for f in choice.fields if f not in items]
            if unknown:
                raise InvalidInputError(
                    f"licence {row.identifier} has no field {unknown[0]!r}; its fields are {', '.join(items)}",
                    code="unknown_field",
                    field=f"licences[{i}].fields",
                )
            parts.append((kept.mso, [Disclosure(f, items[f][0], items[f][1]) for f in choice.fields]))
        signer = code_signer(session, now)
        nonce = secrets.token_bytes(NONCE_LENGTH)
        payload = encode_presentation(
            iss=region_code(session),
            iat=int(now.timestamp()),
            exp=int(expires.timestamp()),
            nonce=nonce,
            purpose=request.purpose,
            verifier=request.verifier,
            licences=parts,
        )
        assert signer.key_ref is not None
        text = sign_envelope(payload, signer=service.keystore.signer(signer.key_ref), cert_der=signer.der)
        if len(text) > MAX_PRESENTATION_CHARS:
            raise InvalidInputError(
                f"the presentation is {len(text)} characters, more than a QR code at error "
                f"correction M holds ({MAX_PRESENTATION_CHARS}): disclose fewer fields or "
                "licences",
                code="presentation_too_large",
                field="licences",
            )
        disclosed = {c.identifier: c.fields for c in request.licences}
        session.add(
            PresentationRecord(
                nonce=nonce.hex(),
                holder_id_type=request.holder.id_type,
                holder_id=request.holder.id,
                disclosed={k: list(v) for k, v in disclosed.items()},
                purpose=request.purpose,
                verifier=request.verifier,
                issued_at=now,
                expires_at=expires,
                created_by=actor,
            )
        )
        record(
            session,
            AuditEvent(
                actor=actor,
                action="holder.present",
                object_type="holder_presentation",
                object_id=nonce.hex(),
                key_ref=signer.key_ref,
                details={
                    "holder": request.holder.masked_id,
                    "disclosed": disclosed,
                    "purpose": request.purpose,
                    "verifier": request.verifier,
                    "iat": int(now.timestamp()),
                    "exp": int(expires.timestamp()),
                },
            ),
        )
    return IssuedPresentation(text=text, nonce=nonce, issued_at=now, expires_at=expires, disclosed=disclosed)


def holder_licences(service: TrustService, holder: HolderRef, *, principal_or_actor: Actor) -> list[dict[str, Any]]:
    """The holder's current licence versions, each with its MSO and the salt and value of every
    field (what the wallet keeps to disclose fields later). Superseded versions are left out."""
    actor = wallet_actor(principal_or_actor)
    out = []
    with service.db.transaction() as session:
        region = region_code(session)
        rows = (
            session.execute(
                select(LicenceRecord)
                .where(
                    LicenceRecord.holder_id_type == holder.id_type,
                    LicenceRecord.holder_id == holder.id,
                    LicenceRecord.status != "superseded",
                )
                .order_by(LicenceRecord.id)
            )
            .scalars()
            .all()
        )
        now = utcnow()
        for row in rows:
            kept = make_mso_in_session(service, session, row, actor=actor)
            try:
                ltype = find_type(region, row.type_code)
                labels = {**HOLDER_LABELS, **{f.name: f.label for f in ltype.fields}}
                type_name: str | None = ltype.name
            except NotFoundError:
                labels, type_name = dict(HOLDER_LABELS), None
            out.append(
                {
                    "id": row.identifier,
                    "type": row.type_code,
                    "type_name": type_name,
                    "status": effective_status(row, now),
                    "issuer": {"uscc": row.department.uscc, "name": row.department.name},
                    "valid_from": row.valid_from.isoformat(),
                    "valid_until": row.valid_until.isoformat() if row.valid_until else None,
                    "mso": base64.b64encode(kept.mso).decode("ascii"),
                    "fields": {
                        name: {"salt": salt.hex(), "value": value, "label": labels.get(name)}
                        for name, (salt, value) in wallet_items(kept).items()
                    },
                }
            )
    return out
