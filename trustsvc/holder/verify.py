"""Verifying presentations and holder codes: a pure function of (trust, text, time), plus the
online extras (a presentation's single use and its record for the holder).

A presentation PASSES only when every layer does:

* the envelope: well-formed, alg -65537 or -7, a kid naming a code signer known here, the
  signature, the code signer's path at ``iat``, ``iss`` being the signer's region, and ``iat <=
  now < exp`` (past ``exp``: FAILED / EXPIRED);
* each licence's MSO: well-formed, its identifier agreeing with its type, issuer and version,
  signed by a signer certificate *of the issuer the MSO names* (judged at the MSO's ``iat``),
  the issuer allowed the type where a trust list says so, and the licence within its validity;
* each disclosed field: named once, and ``SM3(salt ‖ CBOR([name, value]))[:16]`` equal to the
  MSO's digest for that name (anything else: FAILED / HASH_FAILURE, so a changed value, salt or
  digest, a field the MSO does not sign, or another licence's field all fail);
* each licence's status: live (online) or from its issuer's held status list (offline; missing,
  stale or untrusted lists are INDETERMINATE, never PASSED);
* online with a verifier key: named verifier (``aud``) and purpose as presented, and the
  single use (一码一用): a replay is FAILED / ALREADY_USED.

The report's object lists, per licence, the fields disclosed (verified values only) and the
names of those withheld; a verifier learns nothing else about a withheld field but its digest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca.oids import PKIXOID, TrustSvcEKU
from ca.results import (
    CRYPTO_CONSTRAINTS_FAILURE,
    EXPIRED,
    FORMAT_FAILURE,
    HASH_FAILURE,
    NO_SIGNING_CERTIFICATE_FOUND,
    NOT_YET_VALID,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
    TRUST_LIST_STALE,
    TRY_LATER,
    Indication,
)
from hsm.errors import TrustSvcError
from trustsvc.times import iso_utc

from ..audit import AuditEvent, record
from ..codes.format import CodeFormatError
from ..codes.verify import ALREADY_USED, CLOCK_SKEW
from ..errors import NotFoundError
from ..federation.authorisation import check_licence_authorisation
from ..formats.report import ReportBuilder, VerificationReport
from ..formats.trust import TrustContext, assess_certificate, aware
from ..licences.catalogue import find_type
from ..licences.identifier import parse_identifier
from ..licences.status import add_status_check
from ..storage import Database
from ..storage.models import utcnow
from .cose import ALG_NAMES, Sign1, signing_certificate
from .format import (
    HOLDER,
    PRESENTATION,
    DecodedEnvelope,
    HolderCodeClaims,
    PresentationClaims,
    PresentedLicence,
    decode_envelope,
)
from .material import HolderTrust
from .models import PresentationRecord, RedemptionRecord
from .mso import HOLDER_ID, HOLDER_NAME, field_digest

__all__ = ["OnlineUse", "verify_holder_text", "HOLDER_LABELS", "REDEEM_PATH"]

SIGNING_USAGE = frozenset({"digital_signature"})
HOLDER_LABELS = {HOLDER_NAME: "持证主体", HOLDER_ID: "持证主体代码"}
REDEEM_PATH = "/api/v1/holder-codes/redeem"
_CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


@dataclass(frozen=True)
class OnlineUse:
    """The online extras on the issuing region's own service."""

    db: Database
    actor: str | None = None
    """The verifier (``apikey:<id>``): its verification uses a presentation up and is audited.
    None: anonymous, nothing is written (a used presentation is still refused)."""
    purpose: str | None = None


def _time(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _signer_of(
    builder: ReportBuilder, name: str, message: Sign1, candidates: Sequence[tuple[bytes, TrustContext]], what: str
) -> tuple[bytes, TrustContext] | None:
    """The candidate whose key made the signature (checks ``<name>.algorithm/kid/signature``)."""
    key_algorithm = message.key_algorithm
    if key_algorithm is None:
        builder.fail(
            f"{name}.algorithm",
            CRYPTO_CONSTRAINTS_FAILURE,
            f"COSE alg {message.alg!r} is neither SM2-with-SM3 (-65537) nor ES256 (-7)",
        )
        return None
    builder.passed(f"{name}.algorithm", f"COSE alg {message.alg} ({ALG_NAMES[key_algorithm]}, raw r‖s)")
    if not candidates:
        builder.indeterminate(
            f"{name}.kid", NO_SIGNING_CERTIFICATE_FOUND, f"kid {message.kid.hex()} names no {what} known here"
        )
        return None
    builder.passed(f"{name}.kid", f"kid {message.kid.hex()} names {len(candidates)} {what}(s)")
    der = signing_certificate(message, [d for d, _ in candidates])
    if der is None:
        builder.fail(
            f"{name}.signature",
            SIG_CRYPTO_FAILURE,
            "the signature does not verify: it was changed or not signed by this key",
        )
        return None
    builder.passed(f"{name}.signature", f"{ALG_NAMES[key_algorithm]} signature over the COSE Sig_structure verifies")
    return next((d, t) for d, t in candidates if d == der)


def _envelope(builder: ReportBuilder, env: DecodedEnvelope, trust: HolderTrust, now: dt.datetime) -> bool:
    """The region's signature and the code's lifetime; False when the signature was not verified."""
    c = env.claims
    found = _signer_of(builder, "code", env.sign1, trust.code_signers(env.sign1.kid), "code-signer certificate")
    if found is None:
        return False
    der, ctx = found
    iat = _time(c.iat)
    builder.signing_time = iat
    assess_certificate(
        builder,
        "code_signer",
        der,
        trust=ctx,
        at=iat,
        now=now,
        required_key_usage=SIGNING_USAGE,
        required_eku=TrustSvcEKU.SERVICE_CODE_SIGNING,
    )
    regions = {
        str(t["region"])
        for t in builder.trust_path
        if t.get("role") == "code_signer" and t.get("trust_anchor") and t.get("region")
    }
    if not regions:
        builder.skipped("code.issuer_region", "the anchor reached names no region; iss not compared")
    elif c.iss in regions:
        builder.passed("code.issuer_region", f"iss {c.iss} is the region of the signer's anchor")
    else:
        builder.fail(
            "code.issuer_region",
            SIG_CONSTRAINTS_FAILURE,
            f"iss {c.iss} is not the region ({', '.join(sorted(regions))}) that certified the code signer",
        )
    if iat > now + CLOCK_SKEW:
        builder.fail("code.not_before", NOT_YET_VALID, f"the code was issued in the future ({iso_utc(iat)})")
    exp = _time(c.exp)
    if c.exp <= c.iat:
        builder.fail("code.lifetime", FORMAT_FAILURE, "the code expires before it was issued")
    elif now >= exp:
        builder.fail("code.lifetime", EXPIRED, f"the code expired at {iso_utc(exp)} (过期)")
    else:
        builder.passed("code.lifetime", f"the code is valid until {iso_utc(exp)}")
    return True


def _labels(region: str, type_code: str) -> tuple[str | None, dict[str, str]]:
    try:
        ltype = find_type(region, type_code)
    except NotFoundError:
        return None, dict(HOLDER_LABELS)
    return ltype.name, {**HOLDER_LABELS, **{f.name: f.label for f in ltype.fields}}


def _licence(
    builder: ReportBuilder, i: int, doc: PresentedLicence, trust: HolderTrust, region: str, now: dt.datetime
) -> dict[str, Any]:
    """One licence of a presentation: its MSO, its disclosed fields, its validity and status."""
    p = f"licence[{i}]"
    c = doc.mso.claims
    type_name, labels = _labels(region, c.type_code)
    entry: dict[str, Any] = {
        "licence": c.identifier,
        "licence_type": c.type_code,
        "licence_type_name": type_name,
        "issuer": c.issuer,
        "licence_version": c.version,
        "valid_from": c.valid_from,
        "valid_until": c.valid_until,
        "disclosed": {},
        "withheld": [],
        "labels": {},
    }
    try:
        ident = parse_identifier(c.identifier)
    except TrustSvcError as exc:
        builder.fail(f"{p}.mso.identifier", FORMAT_FAILURE, f"the MSO's licence identifier is invalid: {exc.message}")
        return entry
    if (ident.text, ident.type_code, ident.issuer_code, ident.version) != (
        c.identifier,
        c.type_code,
        c.issuer,
        c.version,
    ):
        builder.fail(
            f"{p}.mso.identifier",
            SIG_CONSTRAINTS_FAILURE,
            f"the MSO's type, issuer or version disagrees with its identifier {c.identifier}",
        )
        return entry
    builder.passed(f"{p}.mso.identifier", f"MSO of licence {c.identifier}")
    found = _signer_of(
        builder,
        f"{p}.mso",
        doc.mso.sign1,
        trust.issuer_signers(c.issuer, doc.mso.sign1.kid),
        f"signer certificate of issuer {c.issuer}",
    )
    if found is not None:
        der, ctx = found
        assess_certificate(
            builder,
            f"{p}.signer",
            der,
            trust=ctx,
            at=_time(c.signed_at),
            now=now,
            required_key_usage=SIGNING_USAGE,
            required_eku=PKIXOID.DOCUMENT_SIGNING,
        )
        check_licence_authorisation(builder, ctx, c.identifier, roles=(f"{p}.signer",), name=f"{p}.authorisation")
        _fields(builder, p, doc, entry, labels)
    else:
        entry["unverified"] = [d.name for d in doc.disclosures]
        builder.skipped(f"{p}.fields", "the MSO's signature is not verified, so no field it carries is shown")
    _validity(builder, p, c.valid_from, c.valid_until, now)
    answer = trust.licence_status(c.identifier, c.status_index, now)
    if answer.summary is not None:
        builder.status_now.setdefault("status_lists", []).append(dict(answer.summary))
    if answer.problem is not None:
        builder.indeterminate(f"{p}.status", *answer.problem)
    else:
        add_status_check(builder, answer.status, identifier=c.identifier, name=f"{p}.status")
        held = builder.status_now.pop("licence", None)
        if held is not None:
            builder.status_now.setdefault("licences", []).append(held)
    return entry


def _fields(
    builder: ReportBuilder, p: str, doc: PresentedLicence, entry: dict[str, Any], labels: dict[str, str]
) -> None:
    """Each disclosed field against its signed digest; the rest are withheld."""
    digests = doc.mso.claims.digests
    shown: dict[str, Any] = {}
    bad: list[str] = []
    for d in doc.disclosures:
        expected = digests.get(d.name)
        if d.name in shown or d.name in bad:
            builder.fail(f"{p}.fields", FORMAT_FAILURE, f"field {d.name} is disclosed twice")
            bad.append(d.name)
        elif expected is None:
            builder.fail(f"{p}.fields", HASH_FAILURE, f"field {d.name} is not a field this licence's MSO signs")
            bad.append(d.name)
        elif not hmac.compare_digest(field_digest(d.salt, d.name, d.value), expected):
            builder.fail(
                f"{p}.fields",
                HASH_FAILURE,
                f"field {d.name}: SM3(salt ‖ CBOR([name, value])) differs from the MSO's digest",
            )
            bad.append(d.name)
        else:
            shown[d.name] = d.value
    entry["disclosed"] = shown
    entry["withheld"] = [n for n in digests if n not in shown and n not in bad]
    entry["labels"] = {n: labels[n] for n in (*shown, *entry["withheld"]) if n in labels}
    if bad:
        entry["rejected"] = bad
    else:
        builder.passed(
            f"{p}.fields",
            f"{len(shown)} of {len(digests)} fields disclosed, each matching its "
            f"signed digest; {len(entry['withheld'])} withheld",
        )


def _validity(builder: ReportBuilder, p: str, valid_from: str, valid_until: str | None, now: dt.datetime) -> None:
    today = now.astimezone(_CHINA).date()
    start = dt.date.fromisoformat(valid_from)
    end = dt.date.fromisoformat(valid_until) if valid_until else None
    if today < start:
        builder.fail(f"{p}.validity", NOT_YET_VALID, f"the licence is valid from {valid_from}")
    elif end is not None and today > end:
        builder.fail(f"{p}.validity", EXPIRED, f"the licence expired after {valid_until}")
    else:
        builder.passed(f"{p}.validity", f"the licence is valid {valid_from} .. {valid_until or '长期'}")


def _presentation(builder: ReportBuilder, env: DecodedEnvelope, trust: HolderTrust, now: dt.datetime) -> None:
    c = env.claims
    assert isinstance(c, PresentationClaims)
    builder.object.update({"purpose": c.purpose, "verifier": c.verifier})
    names = [d.mso.claims.identifier for d in c.licences]
    if len(set(names)) != len(names):
        builder.fail("presentation.licences", FORMAT_FAILURE, "a licence is presented twice")
    builder.object["licences"] = [_licence(builder, i, doc, trust, c.iss, now) for i, doc in enumerate(c.licences)]


def _holder(builder: ReportBuilder, env: DecodedEnvelope) -> None:
    c = env.claims
    assert isinstance(c, HolderCodeClaims)
    builder.object.update(
        {
            "holder": {"kind": c.kind, "name": c.name, "id": c.holder_id},
            "licences": [
                {"licence_type": x.type_code, "licence_type_name": x.type_name, "status": x.status} for x in c.licences
            ],
            "redeem": REDEEM_PATH,
        }
    )
    builder.skipped(
        "holder.redeem",
        "a holder code shows no licence data: a verifier redeems it online with a "
        f"verifier key and a purpose ({REDEEM_PATH}), for what the holder consented to",
    )


def _base_object(env: DecodedEnvelope) -> dict[str, Any]:
    c = env.claims
    return {
        "code_type": env.typ,
        "issuer_region": c.iss,
        "issued_at": iso_utc(_time(c.iat)),
        "expires_at": iso_utc(_time(c.exp)),
        "kid": env.sign1.kid.hex(),
    }


def verify_holder_text(
    text: Any, *, trust: HolderTrust, now: dt.datetime | None = None, online: OnlineUse | None = None
) -> VerificationReport:
    """Verify a presentation or a holder code (see the module docstring). Never raises for bad
    input: garbage is FAILED / FORMAT_FAILURE.

    :param online: this region's own service: single use and the verifier's record (None: offline).
    """
    now = aware(now) if now is not None else utcnow()
    builder = ReportBuilder("code")
    try:
        env = decode_envelope(text)
    except CodeFormatError as exc:
        builder.fail("code.format", FORMAT_FAILURE, f"not a valid presentation or holder code: {exc.message}")
        return builder.build()
    builder.passed("code.format", f"TS1: Base45 / zlib / COSE_Sign1 {env.typ} is well-formed")
    builder.object.update(_base_object(env))
    verified = _envelope(builder, env, trust, now)
    builder.status_now["trust"] = trust.freshness(now)
    if trust.stale(now):
        builder.indeterminate(
            "code.trust_material", TRUST_LIST_STALE, f"the trust material ({trust.source}) is stale; refresh it"
        )
    else:
        builder.passed("code.trust_material", f"trust material from {trust.source}")
    if not verified:
        return _finish(builder, env, online, now, use=False)
    if env.typ == HOLDER:
        _holder(builder, env)
        return builder.build()
    _presentation(builder, env, trust, now)
    c = env.claims
    assert isinstance(c, PresentationClaims)
    if online is None:
        builder.warn("presentation.single_use", "offline: a presentation's single use is enforced only online")
        if c.verifier is not None:
            builder.warn("presentation.verifier", f"presented to verifier {c.verifier}; not checkable offline")
        return builder.build()
    if online.actor is None:
        if c.verifier is not None:
            builder.warn(
                "presentation.verifier",
                f"presented to verifier {c.verifier}; an anonymous check cannot say who is looking",
            )
        with online.db.reader() as session:
            row = _record(session, c)
            if row is None:
                builder.indeterminate(
                    "presentation.single_use",
                    TRY_LATER,
                    "this presentation is not recorded here; its single use cannot be checked",
                )
            elif row.used_at is not None:
                builder.fail(
                    "presentation.single_use",
                    ALREADY_USED,
                    f"this presentation was already used at {iso_utc(row.used_at)} (一码一用)",
                )
            else:
                builder.warn(
                    "presentation.single_use",
                    "not used up: only a verification with a verifier key uses a presentation",
                )
        return builder.build()
    if c.verifier is not None and c.verifier != online.actor:
        builder.fail(
            "presentation.verifier",
            SIG_CONSTRAINTS_FAILURE,
            f"the holder presented this to verifier {c.verifier}, not to {online.actor}",
        )
    elif c.verifier is not None:
        builder.passed("presentation.verifier", f"presented to this verifier ({c.verifier})")
    if online.purpose is not None and online.purpose != c.purpose:
        builder.fail(
            "presentation.purpose",
            SIG_CONSTRAINTS_FAILURE,
            f"the holder presented this for {c.purpose!r}, not for {online.purpose!r}",
        )
    else:
        builder.passed("presentation.purpose", f"purpose {c.purpose!r} as presented")
    return _finish(builder, env, online, now, use=True)


def _record(session: Session, c: PresentationClaims) -> PresentationRecord | None:
    return session.execute(
        select(PresentationRecord).where(PresentationRecord.nonce == c.nonce.hex())
    ).scalar_one_or_none()


def _finish(
    builder: ReportBuilder, env: DecodedEnvelope, online: OnlineUse | None, now: dt.datetime, *, use: bool
) -> VerificationReport:
    """A keyed online verification of a presentation uses it up (when everything else passed)
    and is audited, in one transaction: of two concurrent uses exactly one passes."""
    if online is None or online.actor is None or env.typ != PRESENTATION:
        return builder.build()
    c = env.claims
    assert isinstance(c, PresentationClaims)
    with online.db.transaction() as session:
        row = _record(session, c) if use else None
        if use and row is None:
            builder.indeterminate(
                "presentation.single_use",
                TRY_LATER,
                "this presentation is not recorded here; its single use cannot be checked",
            )
        elif use and row is not None:
            if builder.build().indication is not Indication.PASSED:
                builder.skipped("presentation.single_use", "not used up: the presentation did not pass")
            else:
                done = session.execute(
                    update(PresentationRecord)
                    .where(PresentationRecord.id == row.id, PresentationRecord.used_at.is_(None))
                    .values(used_at=now, used_by=online.actor, used_purpose=online.purpose)
                    .execution_options(synchronize_session=False)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    builder.passed("presentation.single_use", "presentation used now (single use)")
                else:
                    session.refresh(row)
                    when = f" at {iso_utc(row.used_at)}" if row.used_at else ""
                    builder.fail(
                        "presentation.single_use", ALREADY_USED, f"this presentation was already used{when} (一码一用)"
                    )
        report = builder.build()
        licences = [d.mso.claims.identifier for d in c.licences]
        if row is not None:
            session.add(
                RedemptionRecord(
                    holder_id_type=row.holder_id_type,
                    holder_id=row.holder_id,
                    kind="presentation",
                    consent_id=None,
                    verifier=online.actor,
                    purpose=online.purpose,
                    licences=licences,
                    outcome="granted" if report.passed else "refused",
                    reason=None if report.passed else (report.sub_indication or report.indication.value),
                    at=now,
                )
            )
        record(
            session,
            AuditEvent(
                actor=online.actor,
                action="holder.presentation.verify",
                object_type="holder_presentation",
                object_id=c.nonce.hex(),
                details={
                    "purpose": online.purpose,
                    "licences": licences,
                    "disclosed": {d.mso.claims.identifier: [x.name for x in d.disclosures] for d in c.licences},
                    "indication": report.indication.value,
                    "sub_indication": report.sub_indication,
                },
            ),
        )
    return report


def replace_object(report: VerificationReport, **extra: Any) -> VerificationReport:
    """``report`` with ``extra`` added to its object (for callers that annotate a verdict)."""
    return dataclasses.replace(report, object={**report.object, **extra})
