"""The region verifier: one function, ``(snapshot, input, time) → VerificationReport``, that
``POST /api/v1/verify``, the ``/verify`` page and ``trustsvc verify`` all call.

**Scoping.** An object is judged only inside the namespace of its issuer
(:mod:`trustsvc.federation.snapshot`):

* a licence PDF or OFD by the issuer USCC of the licence identifier it names (in an OFD, the
  sealed metadata's ``ZZBS``): its signatures validate
  with that namespace's anchor, shared CAs and that issuer's CAs only, and its status comes
  only from that namespace's status list of the issuer;
* a service code by the issuer of its ``sub``: its kid must be one of that namespace's code
  signers (a peer's kid on a code naming one of our departments is unknown here, whatever its
  signature), and its status comes from that namespace's list;
* an issuer no namespace holds is vouched for by nobody: INDETERMINATE /
  NO_CERTIFICATE_CHAIN_FOUND (or FAILED when the signature itself is bad);
* objects that name no issuer (seals, SES signatures, OFD, CMS, certificates) are tried with
  one namespace at a time, this region's first, each with its own certificates only; the
  first that passes is the verdict, else the most informative failure;
* whatever the kind, a certificate on a path that claims an issuer (its organizationIdentifier
  ``NTRCN-<USCC>``) passes only when the namespace of the path's anchor holds that issuer: a
  peer's root certifying a department of ours, or another peer's issuer, vouches for nothing.

A PASSED report's trust path names the anchor and its namespace. A verdict that relied on a
peer list stale at the verification time is INDETERMINATE / TRUST_LIST_STALE (a FAILED one
stays FAILED).

**Purity.** :func:`verify` reads nothing but its arguments. The online extras of a code
verification (:class:`OnlineCodes`: using a dynamic code of this region up once, peeking at
whether an anonymous one was used, the audit record of a keyed verification) are the only
database access, and only for codes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ca.oids import TrustSvcEKU
from ca.results import (
    CRYPTO_CONSTRAINTS_FAILURE,
    FORMAT_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND,
    NO_SIGNING_CERTIFICATE_FOUND,
    SIG_CRYPTO_FAILURE,
    TRUST_LIST_STALE,
    Check,
    Indication,
)
from hsm import signature_from_raw, sm3
from hsm.errors import InvalidSignature, TrustSvcError

from .audit import AuditEvent, record
from .codes.format import CODE_ALGORITHMS, DYNAMIC, CodeFormatError, DecodedCode, decode_code
from .codes.online import peek_code_use, use_code_once
from .codes.verify import (
    ALG_NAMES,
    SIGNING_USAGE,
    check_issuer_region,
    check_lifetime,
    code_time,
    minimal_object,
)
from .federation.authorisation import check_licence_authorisation
from .federation.snapshot import CodeSigner, Namespace, TrustSnapshot, issuer_of
from .formats.report import ReportBuilder, ReportPart, VerificationReport
from .formats.trust import NO_TRUST, TrustContext, assess_certificate, aware
from .holder.dispatch import envelope_type, verify_holder_in_snapshot
from .licences.identifier import parse_identifier
from .licences.ofd_verify import is_licence_ofd, verify_licence_ofd
from .licences.pdf_verify import verify_licence_pdf
from .licences.status import LicenceStatus, add_status_check
from .storage import Database
from .storage.models import utcnow
from .verify import MAX_INPUT, detect_kind, make_tst_verifier, verify_bytes

__all__ = ["OnlineCodes", "SnapshotStatusLookup", "verify", "verify_code", "enforce_freshness", "check_claimed_issuers"]

_CODE_KINDS = ("code", "picture")
_CLAIMED_ISSUER = re.compile(r"organizationIdentifier=(?:NTRCN-)?([0-9A-Z]{18})(?![0-9A-Z])")


@dataclass(frozen=True)
class OnlineCodes:
    """The online extras of a code verification on this region's own service."""

    db: Database
    actor: str | None = None
    """The verifier (``apikey:<id>``): its verification uses a dynamic code up and is audited.
    None: anonymous, nothing is written (a used dynamic code is still refused)."""
    purpose: str | None = None


def verify(
    snapshot: TrustSnapshot,
    data: bytes,
    *,
    now: dt.datetime | None = None,
    original: bytes | None = None,
    kind: str | None = None,
    online: OnlineCodes | None = None,
) -> VerificationReport:
    """Verify whatever ``data`` is against ``snapshot`` at ``now`` (see the module docstring).

    :param original: the signed document of a detached signature (SES dataHash, detached CMS).
    :param online: codes only: use dynamic codes up, audit keyed verifications (None: offline).
    """
    now = aware(now) if now is not None else utcnow()
    if len(data) > MAX_INPUT:
        return verify_bytes(data, trust=NO_TRUST)
    kind = kind or detect_kind(data)
    if kind in _CODE_KINDS:
        return verify_bytes(
            data,
            trust=NO_TRUST,
            kind=kind,
            now=now,
            code_verifier=lambda text: verify_code(snapshot, text, now=now, online=online),
        )
    if kind == "pdf" or (kind == "ofd" and is_licence_ofd(data)):
        licence_verifier = verify_licence_pdf if kind == "pdf" else verify_licence_ofd
        report = licence_verifier(
            data, now=now, scope=_pdf_scope(snapshot), status_lookup=SnapshotStatusLookup(snapshot, now)
        )
        report = check_claimed_issuers(_note_unheld_issuer(report, snapshot), snapshot)
        return enforce_freshness(report, snapshot, now)
    return _verify_unscoped(snapshot, data, kind=kind, now=now, original=original)


# -- freshness -----------------------------------------------------------------------------------


def enforce_freshness(report: VerificationReport, snapshot: TrustSnapshot, now: dt.datetime) -> VerificationReport:
    """Mark each peer anchor of the trust path ``stale`` or not at ``now``; a verdict that relied
    on a stale one is INDETERMINATE / TRUST_LIST_STALE (a FAILED one stays FAILED: a broken
    signature is broken whatever the list's age)."""
    entries: list[Mapping[str, Any]] | None = None  # copied at the first peer anchor only
    stale: Mapping[str, Any] | None = None
    for i, entry in enumerate(report.trust_path):
        if not entry.get("trust_anchor"):
            continue
        name = entry.get("namespace")
        ns = snapshot.namespace(str(name)) if name else None
        if ns is None or ns.stale_after is None:
            continue
        if entries is None:
            entries = list(report.trust_path)
        is_stale = ns.stale(now)
        entries[i] = {**entry, "stale": is_stale}
        if is_stale and stale is None:
            stale = entries[i]
    if entries is None:
        return report
    report = dataclasses.replace(report, trust_path=tuple(entries))
    if stale is None or any(c.name == "trust_list.freshness" for c in report.checks):
        return report
    message = (
        f"the trust list of region {stale.get('region')} (sequence {stale.get('list_sequence')}) is stale: its "
        f"next_update {stale.get('list_next_update')} plus the grace passed at {stale.get('stale_after')}; "
        "nothing it vouches for is relied on until `trustsvc trust refresh` fetches a newer list"
    )
    checks = (*report.checks, Check("trust_list.freshness", "failed", message))
    if report.indication is Indication.FAILED:
        return dataclasses.replace(report, checks=checks)
    return dataclasses.replace(
        report, indication=Indication.INDETERMINATE, sub_indication=TRUST_LIST_STALE, message=message, checks=checks
    )


def check_claimed_issuers(report: VerificationReport, snapshot: TrustSnapshot) -> VerificationReport:
    """Every issuer a certificate of a trust path claims to be must be one the namespace of
    that path's anchor holds (see the module docstring); otherwise the path vouches for nothing:
    INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND (a FAILED report stays FAILED)."""
    anchors: dict[Any, Namespace] = {}
    for entry in report.trust_path:
        ns = snapshot.namespace(str(entry.get("namespace"))) if entry.get("trust_anchor") else None
        if ns is not None:
            anchors[entry.get("role")] = ns
    problems: list[str] = []
    for entry in report.trust_path:
        ns = anchors.get(entry.get("role"))
        if ns is None or entry.get("trust_anchor"):
            continue
        for uscc in _CLAIMED_ISSUER.findall(str(entry.get("subject", ""))):
            holder = snapshot.by_issuer.get(uscc)
            if holder is ns or (holder is None and ns.catch_all):
                continue
            who = f"{holder.label} vouches for that issuer" if holder is not None else "nobody here vouches for it"
            problems.append(
                f"{entry.get('role')} certificate {entry.get('subject')!r} names issuer {uscc} but chains "
                f"to the root of {ns.label}, and {who}: only the anchor holding an issuer vouches for it"
            )
    if not problems:
        return report
    checks = (*report.checks, *(Check("trust.namespace", "failed", p) for p in problems))
    if report.indication is not Indication.PASSED:
        return dataclasses.replace(report, checks=checks)
    return dataclasses.replace(
        report,
        indication=Indication.INDETERMINATE,
        sub_indication=NO_CERTIFICATE_CHAIN_FOUND,
        message=problems[0],
        checks=checks,
    )


def _unheld_message(issuer: str) -> str:
    return (
        f"issuer {issuer} is vouched for by no trust anchor here: it is neither a department of this region "
        "nor an issuer listed by a peer region imported by pin"
    )


def _note_unheld_issuer(report: VerificationReport, snapshot: TrustSnapshot) -> VerificationReport:
    """A file naming an issuer nobody holds was judged with no trust at all; say why."""
    identifier = report.object.get("identifier")
    issuer = issuer_of(identifier if isinstance(identifier, str) else None)
    if issuer is None or snapshot.namespace_for_issuer(issuer) is not None:
        return report
    message = _unheld_message(issuer)
    checks = (*report.checks, Check("licence.issuer", "failed", message))
    if report.indication is Indication.FAILED:
        return dataclasses.replace(report, checks=checks)
    return dataclasses.replace(
        report,
        indication=Indication.INDETERMINATE,
        sub_indication=NO_CERTIFICATE_CHAIN_FOUND,
        message=message,
        checks=checks,
    )


# -- files that name their issuer ----------------------------------------------------------------


def _pdf_scope(snapshot: TrustSnapshot) -> Callable[[str | None], tuple[TrustContext, Any]]:
    def scope(identifier: str | None) -> tuple[TrustContext, Any]:
        issuer = issuer_of(identifier)
        if issuer is None:
            ns = snapshot.local or next(iter(snapshot.namespaces), None)
            trust = ns.trust if ns is not None else NO_TRUST
        else:
            held = snapshot.namespace_for_issuer(issuer)
            trust = held.trust_for(issuer) if held is not None else NO_TRUST
        return trust, make_tst_verifier(trust)

    return scope


class SnapshotStatusLookup:
    """``lookup(identifier, *, status_index=None)`` for licence files: the status list of the
    licence's issuer held in the issuer's namespace (this region's own lists for its
    departments, the peer's for a peer's issuer), None for an issuer nobody vouches for."""

    def __init__(self, snapshot: TrustSnapshot, now: dt.datetime) -> None:
        self._snapshot, self._now = snapshot, now

    def __call__(self, identifier: str, *, status_index: int | None = None) -> LicenceStatus | None:
        issuer = issuer_of(identifier)
        ns = self._snapshot.namespace_for_issuer(issuer)
        if ns is None or ns.catch_all:
            return None
        return ns.licence_status(parse_identifier(identifier).text, status_index, self._now)


# -- objects that name no issuer -----------------------------------------------------------------


def _reached_anchor(report: VerificationReport) -> bool:
    return any(t.get("trust_anchor") for t in report.trust_path)


def _judged_trust(report: VerificationReport) -> bool:
    return any(c.name.endswith(".path") or c.name.endswith("path.build") for c in report.checks)


def _verify_unscoped(
    snapshot: TrustSnapshot, data: bytes, *, kind: str, now: dt.datetime, original: bytes | None
) -> VerificationReport:
    reports: list[VerificationReport] = []
    for ns in snapshot.namespaces:
        report = check_claimed_issuers(
            verify_bytes(data, trust=ns.trust, original=original, now=now, kind=kind), snapshot
        )
        if report.passed:
            return enforce_freshness(report, snapshot, now)
        reports.append(report)
        if not _judged_trust(report):
            break  # unreadable, or nothing trust could change: the same in every namespace
    if not reports:
        return verify_bytes(data, trust=NO_TRUST, original=original, now=now, kind=kind)
    best = next((r for r in reports if _reached_anchor(r)), reports[0])
    return enforce_freshness(best, snapshot, now)


# -- service codes -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _decode_cached(text: str) -> DecodedCode:
    return decode_code(text)


def _decode(text: Any) -> DecodedCode:
    """Decoding is pure: a code verified again (a queue re-scanning, a replay) is parsed once."""
    return _decode_cached(text) if isinstance(text, str) and len(text) < 8192 else decode_code(text)


def _raw_to_der(raw: bytes) -> bytes | None:
    """DER ``SEQUENCE {r, s}`` from the 64-byte ``r‖s`` a code carries; None when malformed."""
    if len(raw) != 64:
        return None
    try:
        return signature_from_raw(raw)
    except InvalidSignature:  # r or s zero
        return None


def _verifies(signer: CodeSigner, tbs: bytes, signature: bytes) -> bool:
    key = signer.key
    if key is None:
        return False
    try:
        if signer.z is not None:
            key.verify_digest(sm3(signer.z + tbs), signature)
        else:
            key.verify(tbs, signature)
    except (InvalidSignature, TrustSvcError):
        return False
    return True


_CODE_SIGNER_ROLE = ("code_signer",)

# Passed checks whose wording is fixed: built once, recorded as they are.
_FORMAT_OK = Check("code.format", "passed", "TS1: Base45 / zlib / COSE_Sign1 structure is well-formed")
_ALGORITHM_OK = {
    alg: Check("code.algorithm", "passed", f"COSE alg {alg} ({ALG_NAMES[key_algorithm]}, raw r‖s)")
    for alg, key_algorithm in CODE_ALGORITHMS.items()
}
_SIGNATURE_OK = {
    key_algorithm: Check(
        "code.signature", "passed", f"{ALG_NAMES[key_algorithm]} signature over the COSE Sig_structure verifies"
    )
    for key_algorithm in CODE_ALGORITHMS.values()
}


@dataclass(frozen=True)
class _SignerJudgement:
    """A code signer's path judged at one signing time (see :func:`_assess_signer`)."""

    part: ReportPart
    region_ok: Mapping[str, Check]
    """Each region of an anchor the path reached → the passed ``code.issuer_region`` check of a
    code whose ``iss`` is that region (any other ``iss`` is judged by check_issuer_region)."""


def _judgement(part: ReportPart) -> _SignerJudgement:
    regions = {str(t["region"]) for t in part.trust_path if t.get("trust_anchor") and t.get("region")}
    return _SignerJudgement(
        part,
        {r: Check("code.issuer_region", "passed", f"iss {r} is the region of the signer's anchor") for r in regions},
    )


def _kid_check(ns: Namespace, kid: bytes, candidates: tuple[CodeSigner, ...]) -> Check:
    """The passed ``code.kid`` check, worded once per kid the namespace holds."""
    found: Check | None = ns.memo.get(("code.kid", kid))
    if found is None:
        found = Check(
            "code.kid", "passed", f"kid {kid.hex()} names {len(candidates)} code-signer certificate(s) of {ns.label}"
        )
        ns.memo[("code.kid", kid)] = found
    return found


def _material_check(snapshot: TrustSnapshot, freshness: Mapping[str, Any]) -> Check:
    """The passed ``code.trust_material`` check, worded once per snapshot (its source and
    ``next_update`` do not change)."""
    found: Check | None = snapshot.memo.get("code.trust_material")
    if found is None:
        fresh = f", fresh until {freshness['next_update']}" if snapshot.next_update else ""
        found = Check("code.trust_material", "passed", f"trust material from {snapshot.source}{fresh}")
        snapshot.memo["code.trust_material"] = found
    return found


def _assess_signer(
    builder: ReportBuilder, signer: CodeSigner, at: dt.datetime, now: dt.datetime
) -> _SignerJudgement | None:
    """The signer's path at the code's signing time, as :func:`assess_certificate` judges it;
    the judgement depends only on ``at`` and on whether the certificate is expired, not yet
    valid or revoked at ``now``, so it is made once per such key and replayed (None: an
    unreadable certificate, judged afresh each time)."""
    cert = signer.certificate
    if cert is None:
        assess_certificate(
            builder,
            "code_signer",
            signer.der,
            trust=signer.trust,
            at=at,
            now=now,
            required_key_usage=SIGNING_USAGE,
            required_eku=TrustSvcEKU.SERVICE_CODE_SIGNING,
        )
        return None
    key = (at, now > cert.not_after, now < cert.not_before, signer.revocation.revoked_by(now))
    judged: _SignerJudgement | None = signer.assessed.get(key)
    if judged is None:
        scratch = ReportBuilder("code")
        assess_certificate(
            scratch,
            "code_signer",
            signer.der,
            trust=signer.trust,
            at=at,
            now=now,
            required_key_usage=SIGNING_USAGE,
            required_eku=TrustSvcEKU.SERVICE_CODE_SIGNING,
        )
        judged = _judgement(scratch.part())
        if len(signer.assessed) >= 4096:
            signer.assessed.clear()
        signer.assessed[key] = judged
    builder.add_part(judged.part)
    return judged


def _judge(
    builder: ReportBuilder, snapshot: TrustSnapshot, code: DecodedCode, now: dt.datetime
) -> tuple[Namespace, CodeSigner] | None:
    """Signature, signer path, authorisation, region and lifetime, inside the code's namespace.
    Returns where it verified, or None when the signature was not verified."""
    checks = builder.checks  # the fixed passed checks below are appended as they are
    checks.append(_FORMAT_OK)
    key_algorithm = CODE_ALGORITHMS.get(code.alg) if type(code.alg) is int else None
    if key_algorithm is None:
        builder.fail(
            "code.algorithm",
            CRYPTO_CONSTRAINTS_FAILURE,
            f"COSE alg {code.alg!r} is neither SM2-with-SM3 (-65537) nor ES256 (-7)",
        )
        return None
    checks.append(_ALGORITHM_OK[code.alg])
    claims = code.claims
    issuer = issuer_of(claims.sub)
    ns = snapshot.namespace_for_issuer(issuer) if issuer is not None else snapshot.namespace_for_kid(code.kid)
    unheld = issuer is not None and ns is None
    if unheld:  # only to tell a forged signature from an issuer nobody vouches for
        ns = snapshot.namespace_for_kid(code.kid)
    candidates = ns.code_signers.get(code.kid, ()) if ns is not None else ()
    if not candidates:
        kid = code.kid.hex()
        owner = snapshot.namespace_for_kid(code.kid)
        if ns is None or owner is None:
            detail = f"kid {kid} names no code-signer certificate known here ({snapshot.source})"
        else:
            detail = (
                f"kid {kid} is not a code signer of {ns.label}, which vouches for issuer {issuer}; "
                f"only {ns.label}'s code signers speak for its issuers (the kid is {owner.label}'s)"
            )
        builder.indeterminate("code.kid", NO_SIGNING_CERTIFICATE_FOUND, detail)
        return None
    assert ns is not None
    checks.append(_kid_check(ns, code.kid, candidates))
    signature = _raw_to_der(code.signature)
    if signature is None:
        builder.fail("code.signature", SIG_CRYPTO_FAILURE, "the signature is not a 64-byte r‖s value")
        return None
    tbs = code.to_be_signed
    signer = None
    for candidate in candidates:
        if candidate.algorithm is key_algorithm and _verifies(candidate, tbs, signature):
            signer = candidate
            break
    if signer is None:
        builder.fail(
            "code.signature",
            SIG_CRYPTO_FAILURE,
            "the signature does not verify: the code was changed or not signed by this key",
        )
        return None
    checks.append(_SIGNATURE_OK[key_algorithm])
    signed_at = builder.signing_time = code_time(claims.iat)
    builder.object.update(minimal_object(code))
    if unheld:
        assert issuer is not None
        builder.indeterminate("code.issuer", NO_CERTIFICATE_CHAIN_FOUND, _unheld_message(issuer))
        return None
    judged = _assess_signer(builder, signer, signed_at, now)
    check_licence_authorisation(builder, signer.trust, claims.sub, roles=_CODE_SIGNER_ROLE)
    region_ok = judged.region_ok.get(claims.iss) if judged is not None else None
    if region_ok is not None:
        checks.append(region_ok)
    else:
        check_issuer_region(builder, code)
    check_lifetime(builder, code, now, signed_at)
    if claims.typ == DYNAMIC and claims.exp is not None:
        builder.object["lifetime_seconds"] = claims.exp - claims.iat
    return ns, signer


def _status(builder: ReportBuilder, ns: Namespace, code: DecodedCode, now: dt.datetime) -> None:
    try:
        ident = parse_identifier(code.claims.sub)
    except TrustSvcError as exc:
        builder.fail("licence.status", FORMAT_FAILURE, f"the code's licence identifier is invalid: {exc.message}")
        return
    builder.status_now["status_list"] = ns.status_list_summary(ident.issuer_code, now)
    add_status_check(builder, ns.licence_status(ident.text, code.claims.status_index, now), identifier=ident.text)


def verify_code(
    snapshot: TrustSnapshot, text: Any, *, now: dt.datetime | None = None, online: OnlineCodes | None = None
) -> VerificationReport:
    """Verify a ``TS1:`` code in its issuer's namespace (see the module docstring): signature
    under that namespace's code signer for the kid, the signer's path at ``iat``, the licence
    types the issuer may sign, ``iss``, the lifetime, the status from the namespace's status
    list, and a dynamic code's single use (online, this region's codes only). Never raises
    for bad input: garbage is FAILED / FORMAT_FAILURE."""
    now = aware(now) if now is not None else utcnow()
    builder = ReportBuilder("code")
    code: DecodedCode | None = None
    judged = None
    try:
        code = _decode(text)
    except CodeFormatError as exc:
        if envelope_type(text) is not None:  # a presentation or a holder code (trustsvc.holder)
            return verify_holder_in_snapshot(snapshot, text, now=now, online=online)
        builder.fail("code.format", FORMAT_FAILURE, f"not a valid service code: {exc.message}")
    if code is not None:
        judged = _judge(builder, snapshot, code, now)
    freshness = builder.status_now["trust"] = snapshot.freshness(now)
    if freshness["stale"]:
        builder.indeterminate(
            "code.trust_material",
            TRUST_LIST_STALE,
            f"the trust material ({snapshot.source}) is stale since {freshness['next_update']}; refresh it",
        )
    else:
        builder.add(_material_check(snapshot, freshness))
    if code is None or judged is None:
        return _finish(builder, snapshot, now, code, online)
    ns, _signer = judged
    _status(builder, ns, code, now)
    if code.claims.typ != DYNAMIC:
        return _finish(builder, snapshot, now, code, online)
    if ns.kind != "local":
        builder.warn("code.single_use", f"a dynamic code of region {code.claims.iss} is used up only by its own region")
    elif online is None:
        builder.warn("code.single_use", "offline: a dynamic code's single use is enforced only online")
    elif online.actor is None:
        with online.db.reader() as session:
            peek_code_use(session, builder, code)
    else:
        return _finish(builder, snapshot, now, code, online, use=True)
    return _finish(builder, snapshot, now, code, online)


def _finish(
    builder: ReportBuilder,
    snapshot: TrustSnapshot,
    now: dt.datetime,
    code: DecodedCode | None,
    online: OnlineCodes | None,
    *,
    use: bool = False,
) -> VerificationReport:
    """Build the report; a keyed online verification uses the code up (``use``) and is audited
    in one transaction, so of two concurrent uses exactly one passes."""
    if online is None or online.actor is None:
        return enforce_freshness(builder.build(), snapshot, now)
    with online.db.transaction() as session:
        if use and code is not None:
            use_code_once(session, builder, code, actor=online.actor, purpose=online.purpose, now=now)
        report = enforce_freshness(builder.build(), snapshot, now)
        claims = code.claims if code is not None else None
        record(
            session,
            AuditEvent(
                actor=online.actor,
                action="code.verify",
                object_type="licence",
                object_id=claims.sub if claims is not None else "",
                details={
                    "purpose": online.purpose,
                    "region": claims.iss if claims else None,
                    "type": claims.typ if claims else None,
                    "nonce": claims.nonce.hex() if claims and claims.nonce else None,
                    "indication": report.indication.value,
                    "sub_indication": report.sub_indication,
                },
            ),
        )
    return report
