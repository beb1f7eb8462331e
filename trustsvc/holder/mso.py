"""The Mobile Security Object (MSO) of a licence version: the ISO 18013-5 model with SM2/SM3.

At issuance the department signs, once per licence version, a COSE_Sign1 over::

    {"typ": "mso", "id": identifier, "ver": version, "type": type code, "issuer": USCC,
     "valid": {"from": "YYYY-MM-DD", "until": "YYYY-MM-DD"},   / "until" absent: no end (长期) /
     "si": status index, "iat": signed at (seconds),
     "digests": {field name: SM3(salt ‖ CBOR([name, value]))[:16]}}

with a fresh 16-byte salt per face field (the holder's name and id, and every field of the
licence type that the licence carries). The digests say nothing about a value without its salt;
the salts and values stay with the holder's wallet (:class:`LicenceMsoRecord`), which later
discloses any subset, each field checkable against the department's signature on its own.

The signing key is the department's signer key (``<USCC>/signer``), picked by
:func:`trustsvc.signing_keys.signing_key` like every other signature (a revoked, expired or
not-yet-valid certificate, or one under such a CA, signs nothing). Why the department and not the region: a peer region checks an MSO along the department's own
path, inside the namespace of the issuer the identifier names, exactly as it checks the
licence's sealed file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hsm import Signer, sm3
from hsm.errors import TrustSvcError

from ..audit import AuditEvent, record
from ..codes.format import CodeFormatError, cbor_item
from ..context import TrustService
from ..errors import ConflictError, NotFoundError
from ..licences.identifier import parse_identifier
from ..signing_keys import check_signer, signing_key
from ..storage.models import CertificateRecord, LicenceRecord, utcnow
from .cose import Sign1, parse_sign1, sign1
from .models import LicenceMsoRecord

__all__ = [
    "MSO_TYPE",
    "SALT_LENGTH",
    "DIGEST_LENGTH",
    "HOLDER_NAME",
    "HOLDER_ID",
    "FieldValue",
    "MsoClaims",
    "DecodedMso",
    "field_digest",
    "face_fields",
    "encode_mso",
    "decode_mso",
    "make_mso_in_session",
    "sign_mso",
    "SignedMso",
    "mso_of",
    "department_signer",
]

MSO_TYPE = "mso"
SALT_LENGTH = 16
DIGEST_LENGTH = 16
"""SM3 truncated to 128 bits: three licences of ten-odd fields each must fit one QR code, and
a salted digest needs second-preimage resistance only (the issuer draws the salt after the
value is fixed), which 128 bits give."""
HOLDER_NAME = "holder_name"
HOLDER_ID = "holder_id"
MAX_FIELDS = 64
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")

FieldValue = str | int
"""What a face field holds: text, or an integer for integer fields."""


def field_digest(salt: bytes, name: str, value: FieldValue) -> bytes:
    """The first 16 bytes of ``SM3(salt ‖ CBOR([name, value]))``, CBOR in deterministic encoding."""
    return sm3(salt + cbor2.dumps([name, value], canonical=True))[:DIGEST_LENGTH]


def face_fields(row: LicenceRecord) -> dict[str, FieldValue]:
    """What a licence shows on its face, by field name: the holder's name and id first, then
    the type's fields the licence carries (a type field never shadows the holder's)."""
    out: dict[str, FieldValue] = {HOLDER_NAME: row.holder_name, HOLDER_ID: row.holder_id}
    for name, value in row.fields.items():
        if name in out:
            raise ConflictError(f"licence type field {name!r} clashes with a holder field", code="field_name_clash")
        out[name] = value
    return out


@dataclass(frozen=True)
class MsoClaims:
    identifier: str
    version: int
    type_code: str
    issuer: str
    """The issuing department's USCC."""
    valid_from: str
    valid_until: str | None
    """None: no end (长期)."""
    status_index: int
    signed_at: int
    digests: Mapping[str, bytes]


@dataclass(frozen=True)
class DecodedMso:
    sign1: Sign1
    claims: MsoClaims


def encode_mso(claims: MsoClaims) -> bytes:
    """The MSO payload: deterministic CBOR (RFC 8949 §4.2.1)."""
    valid: dict[str, str] = {"from": claims.valid_from}
    if claims.valid_until is not None:
        valid["until"] = claims.valid_until
    body = {
        "typ": MSO_TYPE,
        "id": claims.identifier,
        "ver": claims.version,
        "type": claims.type_code,
        "issuer": claims.issuer,
        "valid": valid,
        "si": claims.status_index,
        "iat": claims.signed_at,
        "digests": dict(claims.digests),
    }
    return cbor2.dumps(body, canonical=True)


def _text(body: Mapping[Any, Any], key: str, max_len: int = 256) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise CodeFormatError(f"MSO {key} must be a non-empty text of at most {max_len} characters")
    return value


def _uint(body: Mapping[Any, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**40:
        raise CodeFormatError(f"MSO {key} must be a non-negative integer")
    return value


def _date(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _DATE.match(value):
        raise CodeFormatError(f"MSO {what} must be a date YYYY-MM-DD")
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CodeFormatError(f"MSO {what} is not a calendar date") from exc
    return value


def _mso_claims(payload: bytes) -> MsoClaims:
    body = cbor_item(payload, "the MSO payload")
    if not isinstance(body, dict) or body.get("typ") != MSO_TYPE:
        raise CodeFormatError('the MSO payload is not a map with typ "mso"')
    valid = body.get("valid")
    if not isinstance(valid, dict) or set(valid) - {"from", "until"} or "from" not in valid:
        raise CodeFormatError("MSO valid must be {from, until?}")
    digests = body.get("digests")
    if (
        not isinstance(digests, dict)
        or not 0 < len(digests) <= MAX_FIELDS
        or not all(
            isinstance(k, str) and _FIELD_NAME.match(k) and isinstance(v, bytes) and len(v) == DIGEST_LENGTH
            for k, v in digests.items()
        )
    ):
        raise CodeFormatError(f"MSO digests must map 1..{MAX_FIELDS} field names to {DIGEST_LENGTH}-byte digests")
    return MsoClaims(
        identifier=_text(body, "id"),
        version=_uint(body, "ver"),
        type_code=_text(body, "type", 64),
        issuer=_text(body, "issuer", 64),
        valid_from=_date(valid["from"], "valid.from"),
        valid_until=_date(valid["until"], "valid.until") if "until" in valid else None,
        status_index=_uint(body, "si"),
        signed_at=_uint(body, "iat"),
        digests=dict(digests),
    )


def decode_mso(item: Any) -> DecodedMso:
    """An MSO from its CBOR item (a tagged COSE_Sign1) or its encoded bytes. Does NOT verify.

    :raises CodeFormatError: anything that is not a well-formed MSO.
    """
    if isinstance(item, bytes):
        item = cbor_item(item, "the MSO")
    message = parse_sign1(item, "the MSO")
    return DecodedMso(sign1=message, claims=_mso_claims(message.payload))


def _iso_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def department_signer(session: Session, uscc: str) -> CertificateRecord:
    """The department's signer certificate (its key signs seals and MSOs).

    :raises NotFoundError: ``no_department_signer``.
    """
    row = session.execute(
        select(CertificateRecord).where(CertificateRecord.slug == f"{uscc}/signer")
    ).scalar_one_or_none()
    if row is None or row.key_ref is None:
        raise NotFoundError(f"department {uscc} has no signer certificate", code="no_department_signer")
    return row


def mso_of(session: Session, row: LicenceRecord) -> LicenceMsoRecord | None:
    return session.execute(select(LicenceMsoRecord).where(LicenceMsoRecord.licence_id == row.id)).scalar_one_or_none()


@dataclass(frozen=True)
class SignedMso:
    """An MSO signed for one licence version, not yet stored: batches store many at once."""

    mso: bytes
    items: dict[str, Any]
    """Field name → ``[salt hex, value]`` (:attr:`LicenceMsoRecord.items`)."""
    event: AuditEvent
    """The ``holder.mso.sign`` key use to audit with it."""


def sign_mso(
    service: TrustService,
    session: Session,
    signer: CertificateRecord,
    row: LicenceRecord,
    *,
    now: dt.datetime,
    actor: str = "system",
    key: Signer | None = None,
    checked: bool = False,
) -> SignedMso:
    """Sign ``row``'s MSO with fresh salts. ``key``: the signer's key when the caller already
    holds it (a batch sealing with the same certificate); the certificate is checked unless
    ``checked`` says the caller checked this very certificate for this signing already (the
    issuing batch's seal context, which any revocation or expiry invalidates).

    :raises SignerUnusableError: (409) the signer certificate, or a CA above it, is revoked,
        expired or not yet valid (:mod:`trustsvc.signing_keys`).
    """
    purpose = f"sign the MSO of {row.identifier}"
    if key is None:
        key = signing_key(service, session, signer, purpose=purpose, now=now)
    elif not checked:
        check_signer(session, signer, purpose=purpose, now=now)
    assert signer.key_ref is not None  # signing_key refuses a certificate without a key here
    fields = face_fields(row)
    salts = {name: secrets.token_bytes(SALT_LENGTH) for name in fields}
    ident = parse_identifier(row.identifier)
    claims = MsoClaims(
        identifier=row.identifier,
        version=row.version,
        type_code=row.type_code,
        issuer=row.department.uscc,
        valid_from=row.valid_from.isoformat(),
        valid_until=_iso_date(row.valid_until),
        status_index=row.status_index,
        signed_at=int(now.timestamp()),
        digests={name: field_digest(salts[name], name, value) for name, value in fields.items()},
    )
    assert ident.issuer_code == claims.issuer and ident.type_code == claims.type_code
    message = sign1(encode_mso(claims), signer=key, cert_der=signer.der)
    mso = cbor2.dumps(message.item(), canonical=True)
    event = AuditEvent(
        actor=actor,
        action="holder.mso.sign",
        object_type="licence_mso",
        object_id=hashlib.sha256(mso).hexdigest(),
        key_ref=signer.key_ref,
        details={"licence": row.identifier, "fields": sorted(fields), "signer": signer.sha256, "iat": claims.signed_at},
    )
    return SignedMso(mso=mso, items={n: [salts[n].hex(), v] for n, v in fields.items()}, event=event)


def make_mso_in_session(
    service: TrustService, session: Session, row: LicenceRecord, *, actor: str = "system"
) -> LicenceMsoRecord:
    """The licence version's MSO inside the caller's transaction: the kept one, or one signed
    now with fresh salts and kept. The key use is audited as ``holder.mso.sign`` on the MSO
    (its SHA-256), naming the licence in the details.

    :raises NotFoundError: ``no_department_signer``.
    :raises SignerUnusableError: (409) the department's signer may not sign now.
    """
    kept = mso_of(session, row)
    if kept is not None:
        return kept
    now = utcnow().replace(microsecond=0)
    signer = department_signer(session, row.department.uscc)
    signed = sign_mso(service, session, signer, row, now=now, actor=actor)
    record(session, signed.event)
    kept_row = LicenceMsoRecord(
        licence_id=row.id, mso=signed.mso, items=signed.items, signer_sha256=signer.sha256, created_at=now
    )
    try:
        with session.begin_nested():
            session.add(kept_row)
    except IntegrityError:
        # a concurrent request kept one first: everyone uses that one
        winner = mso_of(session, row)
        if winner is None:
            raise
        return winner
    return kept_row


def wallet_items(kept: LicenceMsoRecord) -> dict[str, tuple[bytes, FieldValue]]:
    """Field name → (salt, value), as the wallet discloses them."""
    out: dict[str, tuple[bytes, FieldValue]] = {}
    for name, pair in kept.items.items():
        try:
            out[name] = (bytes.fromhex(pair[0]), pair[1])
        except (TypeError, ValueError, IndexError, TrustSvcError) as exc:
            raise ConflictError(f"the kept MSO items of field {name} are unreadable", code="mso_items_invalid") from exc
    return out
