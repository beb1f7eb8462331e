"""一人一码 / 一企一码: holder codes, the holder's consents, and redeeming a code for the
consented licences (授权用证), every use recorded for the holder (用证记录).

A holder code shows who (masked) and the types and statuses of what they hold, nothing more;
its handle (the code's ``cti``) is recorded here. A verifier key scans it and redeems it with a
purpose; the service looks for the holder's consent naming that purpose, that verifier (or any),
still valid and not withdrawn, and answers with those licences' data and file links. Anything
else is refused with 403 and a reason code (:class:`RefusalReason`). Granted or refused, each
redeem is one audit event (``holder.redeem``) and one row of the holder's record of uses, in
one transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from trustsvc.times import iso_utc

from ..apikeys import Actor, Principal, Role
from ..audit import AuditEvent, record
from ..codes.format import NONCE_LENGTH, CodeFormatError
from ..context import TrustService
from ..errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from ..licences.catalogue import find_type
from ..licences.status import effective_status
from ..storage.models import ApiKeyRecord, LicenceRecord, utcnow
from .common import (
    HolderRef,
    code_signer,
    purpose_from,
    region_code,
    ttl_from,
    verifier_actor,
    verifier_from,
    wallet_actor,
)
from .format import HOLDER, HolderCodeClaims, HolderLicence, decode_envelope, encode_holder_code, sign_envelope
from .material import holder_trust_from_db
from .models import ConsentRecord, HolderCodeRecord, RedemptionRecord
from .peer import forward_redeem
from .presentation import holders_licence
from .verify import verify_holder_text

__all__ = [
    "RefusalReason",
    "Outcome",
    "UseKind",
    "ConsentRefusedError",
    "ConsentRequest",
    "IssuedHolderCode",
    "consent_request_from_json",
    "make_holder_code",
    "give_consent",
    "list_consents",
    "withdraw_consent",
    "redeem_holder_code",
    "list_uses",
    "MAX_CONSENT_DAYS",
]

MAX_CONSENT_DAYS = 366
PEER_REGION = re.compile(r"^region:[1-8][0-9]{5}$")
MAX_LICENCES_PER_CONSENT = 50


class RefusalReason(str, enum.Enum):
    """Why a redeem was refused (the 403's error code)."""

    NO_CONSENT = "no_consent"
    """The holder consented to nothing for this purpose."""
    VERIFIER_NOT_NAMED = "verifier_not_named"
    """Consents for this purpose name other verifiers."""
    CONSENT_EXPIRED = "consent_expired"
    """Consents for this purpose and verifier ended."""
    LICENCE_NOT_CONSENTED = "licence_not_consented"
    """A licence asked for is outside every valid consent."""
    HOLDER_CODE_EXPIRED = "holder_code_expired"


class Outcome(str, enum.Enum):
    GRANTED = "granted"
    REFUSED = "refused"


class UseKind(str, enum.Enum):
    REDEEM = "redeem"
    PRESENTATION = "presentation"


class ConsentRefusedError(PermissionDeniedError):
    """A redeem outside the holder's consent (403); ``code`` is the :class:`RefusalReason`."""

    code = "consent_refused"


@dataclass(frozen=True)
class ConsentRequest:
    holder: HolderRef
    licences: tuple[str, ...]
    purpose: str
    verifier: str | None
    valid_until: dt.datetime


@dataclass(frozen=True)
class IssuedHolderCode:
    text: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    licences: tuple[HolderLicence, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.text,
            "type": HOLDER,
            "issued_at": iso_utc(self.issued_at),
            "expires_at": iso_utc(self.expires_at),
            "licences": [{"type": x.type_code, "type_name": x.type_name, "status": x.status} for x in self.licences],
        }


def _time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{name} must be an ISO 8601 time with a zone",
            code="missing_field" if value is None else "invalid_field",
            field=name,
        )
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not an ISO 8601 time", code="invalid_field", field=name) from exc
    if parsed.tzinfo is None:
        raise InvalidInputError(f"{name} needs a time zone", code="invalid_field", field=name)
    return parsed.astimezone(dt.UTC)


def consent_request_from_json(data: Any, holder: HolderRef) -> ConsentRequest:
    """``{"holder", "licences": [id, ...], "purpose", "verifier" (null: any), "valid_until"}``."""
    if not isinstance(data, Mapping):
        raise InvalidInputError("the body must be a JSON object", code="invalid_request")
    unknown = sorted(str(k) for k in data if k not in ("holder", "licences", "purpose", "verifier", "valid_until"))
    if unknown:
        raise InvalidInputError(f"unknown keys: {', '.join(unknown)}", code="unknown_field", field=unknown[0])
    licences = data.get("licences")
    if (
        not isinstance(licences, list)
        or not 1 <= len(licences) <= MAX_LICENCES_PER_CONSENT
        or not all(isinstance(x, str) for x in licences)
    ):
        raise InvalidInputError(
            f"licences must list 1..{MAX_LICENCES_PER_CONSENT} licence identifiers",
            code="invalid_field",
            field="licences",
        )
    return ConsentRequest(
        holder=holder,
        licences=tuple(dict.fromkeys(x.strip() for x in licences)),
        purpose=purpose_from(data.get("purpose")),
        verifier=verifier_from(data.get("verifier")),
        valid_until=_time(data.get("valid_until"), "valid_until"),
    )


def _current_licences(session: Any, holder: HolderRef) -> Sequence[LicenceRecord]:
    return (
        session.execute(
            select(LicenceRecord)
            .where(
                LicenceRecord.holder_id_type == holder.id_type,
                LicenceRecord.holder_id == holder.id,
                LicenceRecord.status.not_in(("superseded", "revoked")),
            )
            .order_by(LicenceRecord.id)
        )
        .scalars()
        .all()
    )


def make_holder_code(
    service: TrustService, holder: HolderRef, *, principal_or_actor: Actor, ttl: int | None = None
) -> IssuedHolderCode:
    """The holder's code: masked name and id, the types and statuses of their licences.

    :raises NotFoundError: ``holder_not_found`` (no licence of this holder here).
    """
    actor = wallet_actor(principal_or_actor)
    seconds = ttl_from(ttl, service.config.codes.dynamic_ttl)
    with service.db.transaction() as session:
        now = utcnow().replace(microsecond=0)
        rows = _current_licences(session, holder)
        if not rows:
            raise NotFoundError("this holder has no licence here", code="holder_not_found")
        region = region_code(session)
        held = []
        for row in rows:
            try:
                name = find_type(region, row.type_code).name
            except NotFoundError:
                name = row.type_code
            held.append(HolderLicence(row.type_code, name, effective_status(row, now)))
        expires = now + dt.timedelta(seconds=seconds)
        handle = secrets.token_bytes(NONCE_LENGTH)
        claims = HolderCodeClaims(
            iss=region,
            iat=int(now.timestamp()),
            exp=int(expires.timestamp()),
            handle=handle,
            kind=holder.kind,
            name=holder.masked_name(rows[-1].holder_name),
            holder_id=holder.masked_id,
            licences=tuple(held),
        )
        signer = code_signer(session, now)
        assert signer.key_ref is not None
        text = sign_envelope(
            encode_holder_code(claims), signer=service.keystore.signer(signer.key_ref), cert_der=signer.der
        )
        session.add(
            HolderCodeRecord(
                handle=handle.hex(),
                holder_id_type=holder.id_type,
                holder_id=holder.id,
                issued_at=now,
                expires_at=expires,
                created_by=actor,
            )
        )
        record(
            session,
            AuditEvent(
                actor=actor,
                action="holder.code.issue",
                object_type="holder_code",
                object_id=handle.hex(),
                key_ref=signer.key_ref,
                details={"holder": holder.masked_id, "licences": len(held), "iat": claims.iat, "exp": claims.exp},
            ),
        )
    return IssuedHolderCode(text=text, issued_at=now, expires_at=expires, licences=tuple(held))


def _consent_json(row: ConsentRecord, now: dt.datetime) -> dict[str, Any]:
    state = "withdrawn" if row.withdrawn_at else ("expired" if row.valid_until <= now else "valid")
    return {
        "id": row.consent_id,
        "licences": list(row.licences),
        "purpose": row.purpose,
        "verifier": row.verifier,
        "valid_until": iso_utc(row.valid_until),
        "created_at": iso_utc(row.created_at),
        "state": state,
        "withdrawn_at": iso_utc(row.withdrawn_at) if row.withdrawn_at else None,
    }


def give_consent(service: TrustService, request: ConsentRequest, *, principal_or_actor: Actor) -> dict[str, Any]:
    """Record the holder's consent (every licence must be theirs).

    :raises InvalidInputError: ``invalid_validity`` (not in the future, or over a year away).
    """
    actor = wallet_actor(principal_or_actor)
    now = utcnow().replace(microsecond=0)
    if not now < request.valid_until <= now + dt.timedelta(days=MAX_CONSENT_DAYS):
        raise InvalidInputError(
            f"valid_until must lie in the next {MAX_CONSENT_DAYS} days", code="invalid_validity", field="valid_until"
        )
    with service.db.transaction() as session:
        licences = [holders_licence(session, request.holder, x).identifier for x in request.licences]
        row = ConsentRecord(
            consent_id=secrets.token_hex(8),
            holder_id_type=request.holder.id_type,
            holder_id=request.holder.id,
            licences=licences,
            purpose=request.purpose,
            verifier=request.verifier,
            valid_until=request.valid_until,
            created_at=now,
            created_by=actor,
        )
        session.add(row)
        record(
            session,
            AuditEvent(
                actor=actor,
                action="holder.consent.give",
                object_type="holder_consent",
                object_id=row.consent_id,
                details={
                    "holder": request.holder.masked_id,
                    "licences": licences,
                    "purpose": request.purpose,
                    "verifier": request.verifier,
                    "valid_until": iso_utc(request.valid_until),
                },
            ),
        )
        return _consent_json(row, now)


def list_consents(service: TrustService, holder: HolderRef, *, principal_or_actor: Actor) -> list[dict[str, Any]]:
    wallet_actor(principal_or_actor)
    now = utcnow()
    with service.db.reader() as session:
        rows = (
            session.execute(
                select(ConsentRecord)
                .where(ConsentRecord.holder_id_type == holder.id_type, ConsentRecord.holder_id == holder.id)
                .order_by(ConsentRecord.id.desc())
            )
            .scalars()
            .all()
        )
        return [_consent_json(r, now) for r in rows]


def withdraw_consent(service: TrustService, consent_id: str, *, principal_or_actor: Actor) -> None:
    """Withdraw a consent now (idempotent); later redeems no longer find it.

    :raises NotFoundError: ``consent_not_found``.
    """
    actor = wallet_actor(principal_or_actor)
    with service.db.transaction() as session:
        row = session.execute(select(ConsentRecord).where(ConsentRecord.consent_id == consent_id)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no consent {consent_id[:40]}", code="consent_not_found")
        if row.withdrawn_at is None:
            row.withdrawn_at = utcnow()
            record(
                session,
                AuditEvent(
                    actor=actor,
                    action="holder.consent.withdraw",
                    object_type="holder_consent",
                    object_id=row.consent_id,
                ),
            )


@dataclass(frozen=True)
class _Decision:
    consents: tuple[ConsentRecord, ...]
    licences: tuple[str, ...]
    refusal: RefusalReason | None
    message: str


def _decide(
    consents: Sequence[ConsentRecord],
    *,
    purpose: str,
    verifiers: Sequence[str],
    wanted: Sequence[str] | None,
    now: dt.datetime,
) -> _Decision:
    """Which consents cover this redeem, or the first reason none does (purpose, then verifier,
    then time, then the licences asked for)."""
    live = [c for c in consents if c.withdrawn_at is None and c.purpose == purpose]
    if not live:
        return _Decision((), (), RefusalReason.NO_CONSENT, f"the holder has not consented to use for {purpose!r}")
    named = [c for c in live if c.verifier is None or c.verifier in verifiers]
    if not named:
        return _Decision(
            (),
            (),
            RefusalReason.VERIFIER_NOT_NAMED,
            f"the holder's consents for {purpose!r} name other verifiers, not {' or '.join(verifiers)}",
        )
    valid = [c for c in named if c.valid_until > now]
    if not valid:
        ended = max(c.valid_until for c in named)
        return _Decision((), (), RefusalReason.CONSENT_EXPIRED, f"the holder's consent ended at {iso_utc(ended)}")
    covered = list(dict.fromkeys(x for c in valid for x in c.licences))
    if wanted is not None:
        outside = [x for x in wanted if x not in covered]
        if outside:
            return _Decision(
                (), (), RefusalReason.LICENCE_NOT_CONSENTED, f"licence {outside[0]} is outside the holder's consent"
            )
        covered = list(dict.fromkeys(wanted))
    used = tuple(c for c in valid if any(x in c.licences for x in covered))
    return _Decision(used, tuple(covered), None, "granted")


def _note_use(
    service: TrustService,
    *,
    holder: HolderRef,
    verifier: str,
    purpose: str,
    decision: _Decision,
    handle: str,
    now: dt.datetime,
    actor: str,
    on_behalf_of: str | None = None,
) -> None:
    """One row of the holder's record of uses and one audit event, in one transaction."""
    outcome = Outcome.REFUSED if decision.refusal else Outcome.GRANTED
    consent_ids = [c.consent_id for c in decision.consents]
    with service.db.transaction() as session:
        session.add(
            RedemptionRecord(
                holder_id_type=holder.id_type,
                holder_id=holder.id,
                kind=UseKind.REDEEM.value,
                consent_id=consent_ids[0] if consent_ids else None,
                verifier=verifier,
                purpose=purpose,
                licences=list(decision.licences),
                outcome=outcome.value,
                reason=decision.refusal.value if decision.refusal else None,
                at=now,
            )
        )
        record(
            session,
            AuditEvent(
                actor=actor,
                action="holder.redeem",
                object_type="holder_code",
                object_id=handle,
                details={
                    "holder": holder.masked_id,
                    "purpose": purpose,
                    "outcome": outcome.value,
                    "reason": decision.refusal.value if decision.refusal else None,
                    "consents": consent_ids,
                    "licences": list(decision.licences),
                    "verifier": verifier,
                    "on_behalf_of": on_behalf_of,
                },
            ),
        )


def _identities(service: TrustService, principal_or_actor: Actor) -> tuple[str, ...]:
    """Who the caller is, as a consent may name it: the key (``apikey:<id>``), and for a peer key
    labelled ``region:<code>`` (made by this region for that peer) also that region."""
    actor = verifier_actor(principal_or_actor)
    if not isinstance(principal_or_actor, Principal) or principal_or_actor.role is not Role.PEER:
        return (actor,)
    with service.db.reader() as session:
        label = session.execute(
            select(ApiKeyRecord.label).where(ApiKeyRecord.key_id == principal_or_actor.key_id)
        ).scalar_one_or_none()
    region = (label or "").strip()
    return (region, actor) if PEER_REGION.match(region) else (actor,)


def redeem_holder_code(
    service: TrustService,
    text: Any,
    *,
    purpose: Any,
    principal_or_actor: Actor,
    render_licence: Callable[[LicenceRecord], dict[str, Any]],
    licences: Sequence[str] | None = None,
    on_behalf_of: str | None = None,
    snapshot: Any = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Redeem a holder code for the licences its holder consented to (see the module docstring).
    Another region's code is checked against that region's trust list and redeemed there
    (:mod:`trustsvc.holder.peer`).

    :param render_licence: how the answer gives each licence (the API's licence object with
        its file's link: ``api.shapes.redeemed_licence_json``; the domain knows no URL).
    :param on_behalf_of: a peer region's own verifier, recorded with the use.
    :param snapshot: the trust snapshot to check another region's code with (default: built now).
    :raises InvalidInputError: ``invalid_holder_code`` (not a valid holder code), ``unknown_holder_code``
        (not issued here).
    :raises ConsentRefusedError: 403 with a :class:`RefusalReason` code (recorded first).
    """
    identities = _identities(service, principal_or_actor)
    verifier = identities[0]
    why = purpose_from(purpose)
    if licences is not None and (not isinstance(licences, list) or not all(isinstance(x, str) for x in licences)):
        raise InvalidInputError("licences must list licence identifiers", code="invalid_field", field="licences")
    if on_behalf_of is not None and (not isinstance(on_behalf_of, str) or len(on_behalf_of) > 200):
        raise InvalidInputError("on_behalf_of is a short text", code="invalid_field", field="on_behalf_of")
    now = now or utcnow().replace(microsecond=0)
    try:
        envelope = decode_envelope(text)
    except CodeFormatError as exc:
        raise InvalidInputError(f"not a holder code: {exc.message}", code="invalid_holder_code", field="code") from exc
    if not isinstance(envelope.claims, HolderCodeClaims):
        raise InvalidInputError(
            "not a holder code: a presentation is verified, not redeemed", code="invalid_holder_code", field="code"
        )
    with service.db.reader() as session:
        here = region_code(session)
    if envelope.claims.iss != here:
        return _redeem_at_peer(
            service, envelope, text=text, purpose=why, verifier=verifier, licences=licences, snapshot=snapshot, now=now
        )
    report = verify_holder_text(text, trust=holder_trust_from_db(service.db, live=True), now=now)
    with service.db.reader() as session:
        row = session.execute(
            select(HolderCodeRecord).where(HolderCodeRecord.handle == envelope.claims.handle.hex())
        ).scalar_one_or_none()
        consents = (
            session.execute(
                select(ConsentRecord)
                .where(ConsentRecord.holder_id_type == row.holder_id_type, ConsentRecord.holder_id == row.holder_id)
                .order_by(ConsentRecord.id)
            )
            .scalars()
            .all()
            if row is not None
            else []
        )
    expired = report.sub_indication == "EXPIRED"
    if not report.passed and not expired:
        raise InvalidInputError(
            f"the holder code does not verify: {report.message}", code="invalid_holder_code", field="code"
        )
    if row is None:
        raise InvalidInputError("this holder code was not issued here", code="unknown_holder_code", field="code")
    holder = HolderRef(row.holder_id_type, row.holder_id)
    if expired:
        decision = _Decision((), (), RefusalReason.HOLDER_CODE_EXPIRED, f"the holder code expired: {report.message}")
    else:
        decision = _decide(consents, purpose=why, verifiers=identities, wanted=licences, now=now)
    _note_use(
        service,
        holder=holder,
        verifier=verifier,
        purpose=why,
        decision=decision,
        handle=row.handle,
        now=now,
        actor=identities[-1],
        on_behalf_of=on_behalf_of,
    )
    if decision.refusal is not None:
        raise ConsentRefusedError(decision.message, code=decision.refusal.value)
    out = []
    with service.db.reader() as session:
        for identifier in decision.licences:
            lic = session.execute(
                select(LicenceRecord).where(LicenceRecord.identifier == identifier)
            ).scalar_one_or_none()
            if lic is not None:
                out.append(render_licence(lic))
    return {
        "holder": {"kind": holder.kind, "id_type": holder.id_type, "id": holder.id},
        "region": here,
        "purpose": why,
        "verifier": verifier,
        "redeemed_at": iso_utc(now),
        "consents": [{"id": c.consent_id, "valid_until": iso_utc(c.valid_until)} for c in decision.consents],
        "licences": out,
    }


def _redeem_at_peer(
    service: TrustService,
    envelope: Any,
    *,
    text: str,
    purpose: str,
    verifier: str,
    licences: Sequence[str] | None,
    snapshot: Any,
    now: dt.datetime,
) -> dict[str, Any]:
    """Another region's code: it must verify against that region's trust list held here (an
    expired one still goes, so the holder's region records the attempt), then that region decides."""
    from ..federation.snapshot import build_snapshot
    from .dispatch import SnapshotHolderTrust

    if snapshot is None:
        snapshot = build_snapshot(service.db, grace=dt.timedelta(seconds=service.config.trust.grace), now=now)
    report = verify_holder_text(text, trust=SnapshotHolderTrust(snapshot), now=now)
    if not report.passed and report.sub_indication != "EXPIRED":
        raise InvalidInputError(
            f"the holder code of region {envelope.claims.iss} does not verify here: {report.message}",
            code="invalid_holder_code",
            field="code",
        )
    answer = forward_redeem(
        service,
        envelope.claims.iss,
        text=text,
        purpose=purpose,
        verifier=verifier,
        licences=list(licences) if licences is not None else None,
    )
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.status == 200:
        return {**body, "via": {"region": envelope.claims.iss, "verifier": verifier}}
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    code = str(error.get("code") or "peer_redeem_failed")
    message = f"region {envelope.claims.iss}: {error.get('message') or f'status {answer.status}'}"
    if answer.status == 403:
        raise ConsentRefusedError(message, code=code)
    if answer.status == 401:
        raise ConflictError(
            f"region {envelope.claims.iss} refused this region's key: {message}", code="peer_key_rejected"
        )
    raise InvalidInputError(message, code=code, field="code")


def list_uses(
    service: TrustService, holder: HolderRef, *, principal_or_actor: Actor, limit: int = 200
) -> list[dict[str, Any]]:
    """The holder's record of uses (用证记录), newest first: redeems of their holder codes and
    online verifications of their presentations, granted or refused."""
    wallet_actor(principal_or_actor)
    with service.db.reader() as session:
        rows = (
            session.execute(
                select(RedemptionRecord)
                .where(RedemptionRecord.holder_id_type == holder.id_type, RedemptionRecord.holder_id == holder.id)
                .order_by(RedemptionRecord.id.desc())
                .limit(limit)
            )
            .scalars()
            .all()
        )
        return [
            {
                "at": iso_utc(r.at),
                "kind": r.kind,
                "verifier": r.verifier,
                "purpose": r.purpose,
                "licences": list(r.licences),
                "outcome": r.outcome,
                "reason": r.reason,
                "consent": r.consent_id,
            }
            for r in rows
        ]
