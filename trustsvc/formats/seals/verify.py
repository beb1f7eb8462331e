"""Verifying electronic seals (电子印章) and SES signatures (电子签章): every check that
GB/T 38540 verification asks for, each recorded by name in a :class:`~trustsvc.formats.report.VerificationReport`.

Order (chingliu's, which GB/T 38540 follows; the first failure names the sub-indication, but
every check still runs so a report shows every problem):

signature: ``signature.format`` → ``signature.value`` (over DER(TBS_Sign) as received, with
SES_Signature.cert in v4/v5 or TBS_Sign.cert in v1) → ``signature.timestamp`` (the signing
time is the TST's genTime when one verifies, else ``timeInfo``) → ``signature.cert_list``
(signer ∈ seal certList: exact DER for type 1, SM3/SHA-256 digests for type 2; a mismatch is
SIG_CONSTRAINTS_FAILURE) → the seal checks below, at the signing time → ``signer.*`` (path at
the signing time, key usage digitalSignature or nonRepudiation) → ``signature.data_hash``
(SM3 of the original, when it is supplied).

seal: ``seal.format`` → ``seal.signature`` (v4/v5 over DER(SES_SealInfo); v1 over DER
SEQUENCE {sealInfo, cert, alg}, both from the received bytes) → ``seal.maker.*`` (the maker
certificate judged at ``createDate``, GM/T 0031-2025: a certificate that had expired when the
seal was made FAILS, one that expired later is a warning) → ``seal.validity``
(``validStart..validEnd`` at the reference time) → ``seal.timestamp`` (v5).

Verdicts: FAILED for any cryptographic, hash or format failure, for a certificate or seal
expired/revoked/not yet valid at the time that matters, and for broken chain constraints;
INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND when all of that passed but no trust anchor was
reached; PASSED otherwise. Any signature algorithm other than SM3withSM2 for SM2 keys (or
ecdsa-with-SHA256 for P-256 keys) FAILS: GB/T 38540 fixes SM2 with SM3. Verification never
raises: unreadable input is a FAILED / FORMAT_FAILURE report.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import hsm
from ca.certs import ParsedCertificate, parse_certificate
from ca.errors import CertificateError
from ca.results import (
    EXPIRED,
    FORMAT_FAILURE,
    HASH_FAILURE,
    NOT_YET_VALID,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
    Check,
)
from ca.validate import SIGNING_KEY_USAGE
from hsm.errors import TrustSvcError
from trustsvc.formats.report import ReportBuilder, VerificationReport
from trustsvc.formats.trust import NO_TRUST, TrustContext, assess_certificate, aware
from trustsvc.times import iso_utc

from . import _der
from .asn1 import (
    OID_ECDSA_WITH_SHA256,
    OID_SHA1_WITH_SM2,
    OID_SHA256_WITH_SM2,
    OID_SM2_SIGN,
    OID_SM3_WITH_SM2,
)
from .errors import SESFormatError
from .model import ParsedSeal, ParsedSESSignature
from .parse import parse_seal, parse_ses_signature

__all__ = [
    "verify_seal",
    "verify_ses_signature",
    "TSTVerifier",
    "VERSION_LABELS",
    "seal_summary",
    "check_seal",
    "verify_signature_value",
    "run_tst_verifier",
]

log = logging.getLogger(__name__)

TSTVerifier = Callable[[bytes, bytes], tuple[datetime | None, Sequence[Check]]]
"""``tst_verifier(token_der, imprinted_value) -> (genTime or None, checks)``: verifies an
RFC 3161 / GB/T 20520 token whose messageImprint must cover ``imprinted_value`` (the stored
signature octets). A failed check or a ``None`` time means the token does not verify."""

VERSION_LABELS = {"v1": "GM/T 0031-2014", "v4": "GB/T 38540-2020", "v5": "GM/T 0031-2025"}
_CLOCK_SKEW = timedelta(minutes=5)
_HASHES: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    OID_SM3_WITH_SM2: ("SM3", hsm.sm3),
    OID_SM2_SIGN: ("SM3", hsm.sm3),
    OID_SHA256_WITH_SM2: ("SHA-256", lambda d: hashlib.sha256(d).digest()),
    OID_SHA1_WITH_SM2: ("SHA-1", lambda d: hashlib.sha1(d).digest()),
    OID_ECDSA_WITH_SHA256: ("SHA-256", lambda d: hashlib.sha256(d).digest()),
}
_DIGESTS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "sm3": ("SM3", hsm.sm3),
    "1.2.156.10197.1.401": ("SM3", hsm.sm3),
    "sha256": ("SHA-256", lambda d: hashlib.sha256(d).digest()),
    "sha-256": ("SHA-256", lambda d: hashlib.sha256(d).digest()),
    "2.16.840.1.101.3.4.2.1": ("SHA-256", lambda d: hashlib.sha256(d).digest()),
}


def _now(now: datetime | None) -> datetime:
    return aware(now) if now is not None else datetime.now(UTC)


def _safely(kind: str, run: Callable[[], VerificationReport]) -> VerificationReport:
    """Last line of defence for "verification never raises": an unforeseen error in a
    dependency on hostile input becomes a FAILED report (and a logged traceback)."""
    try:
        return run()
    except Exception as exc:
        log.exception("unexpected error while verifying %s", kind)
        builder = ReportBuilder(kind)
        builder.fail(
            "internal_error", FORMAT_FAILURE, f"the input could not be processed ({type(exc).__name__}: {exc})"
        )
        return builder.build()


@dataclass(frozen=True)
class _KeyOnly:
    """The public key of a certificate the X.509 parser refuses (e.g. an X.520 attribute of
    the wrong type), so the signature can still be checked; the certificate itself FAILS."""

    spki: bytes
    subject_str: str


def _spki_of(der: bytes) -> bytes | None:
    """subjectPublicKeyInfo of anything shaped like a certificate, read without judging it."""
    try:
        cert = _der.read(der, "certificate").sequence()
        tbs = cert[0].sequence()
        offset = 1 if tbs and tbs[0].is_context(0) else 0
        spki = tbs[offset + 5]
        if not spki.is_universal(_der.SEQUENCE):
            return None
        hsm.parse_spki(spki.raw)
    except (SESFormatError, IndexError, TrustSvcError):
        return None
    return spki.raw


def _encoding_problem(der: bytes) -> str | None:
    """What ca's parser lets through but DER forbids in the unsigned outer layer of a
    certificate: a signatureValue BIT STRING with unused bits (the same certificate in a
    second encoding, so a different fingerprint for the same signed content)."""
    try:
        unused, _ = _der.read(der, "certificate").sequence()[2].bit_string()
    except (SESFormatError, IndexError):
        return "not a DER certificate"
    return f"its signatureValue BIT STRING declares {unused} unused bits" if unused else None


def _parse_cert(builder: ReportBuilder, name: str, der: bytes, role: str) -> ParsedCertificate | _KeyOnly | None:
    try:
        cert = parse_certificate(der)
    except CertificateError as exc:
        builder.fail(name, FORMAT_FAILURE, f"{role} is unreadable: {exc.message}")
        spki = _spki_of(der)
        return None if spki is None else _KeyOnly(spki, f"{role} (unreadable)")
    problem = _encoding_problem(der)
    if problem is not None:
        builder.fail(name, FORMAT_FAILURE, f"{role} {cert.subject_str!r} is not valid DER: {problem}")
    return cert


def verify_signature_value(
    builder: ReportBuilder,
    name: str,
    what: str,
    cert: ParsedCertificate | _KeyOnly,
    algorithm: str,
    message: bytes,
    signature: bytes | None,
    problem: str | None,
) -> bool:
    """Record check ``name``: does ``signature`` (canonical DER) by ``cert`` cover ``message``?"""
    if signature is None:
        builder.fail(name, SIG_CRYPTO_FAILURE, f"{what}: the stored value is not a signature ({problem})")
        return False
    try:
        key_algorithm = hsm.parse_spki(cert.spki).algorithm
    except TrustSvcError as exc:
        builder.fail(name, SIG_CRYPTO_FAILURE, f"{what}: the key of {cert.subject_str!r} is not usable ({exc.message})")
        return False
    if key_algorithm is hsm.KeyAlgorithm.SM2:
        fits = algorithm in (OID_SM3_WITH_SM2, OID_SM2_SIGN)
    else:
        fits = algorithm == OID_ECDSA_WITH_SHA256
    if not fits:
        builder.fail(
            name,
            SIG_CRYPTO_FAILURE,
            f"{what}: signature algorithm {algorithm} does not fit the {key_algorithm.value} key of {cert.subject_str!r}",
        )
        return False
    if algorithm == OID_SM2_SIGN:
        builder.warn(
            name, f"{what}: algorithm given as SM2-1 ({OID_SM2_SIGN}) instead of SM3withSM2 ({OID_SM3_WITH_SM2})"
        )
    try:
        hsm.verify(cert.spki, message, signature)
    except hsm.InvalidSignature:
        builder.fail(name, SIG_CRYPTO_FAILURE, f"{what} does not verify under the key of {cert.subject_str!r}")
        return False
    except TrustSvcError as exc:
        builder.fail(name, SIG_CRYPTO_FAILURE, f"{what} could not be verified: {exc.message}")
        return False
    builder.passed(name, f"{what} verifies under the key of {cert.subject_str!r}")
    return True


def run_tst_verifier(
    builder: ReportBuilder, name: str, token: bytes, imprinted: bytes, tst_verifier: TSTVerifier | None, what: str
) -> datetime | None:
    """Check ``name`` for one time-stamp token; its genTime when it verifies."""
    if tst_verifier is None:
        builder.skipped(
            name, f"{what} carries a time-stamp token; no time-stamp verifier was supplied, so it was not checked"
        )
        return None
    try:
        gen_time, checks = tst_verifier(token, imprinted)
    except TrustSvcError as exc:
        builder.fail(name, FORMAT_FAILURE, f"{what}: time-stamp token unreadable: {exc.message}")
        return None
    checks = tuple(checks)
    builder.extend(checks, f"{name}.")
    failed = [c for c in checks if c.failed]
    if failed or gen_time is None:
        reason = failed[0].detail if failed else "no genTime"
        builder.fail(name, SIG_CRYPTO_FAILURE, f"{what}: time-stamp token does not verify ({reason})")
        return None
    gen_time = aware(gen_time)
    builder.passed(name, f"{what}: time-stamp token verifies, genTime {iso_utc(gen_time)}")
    return gen_time


def seal_summary(seal: ParsedSeal) -> dict[str, Any]:
    """The ``object`` fields a report gives for a seal."""
    maker: str | None
    try:
        maker = parse_certificate(seal.maker_cert).subject_str
    except CertificateError:
        maker = None
    return {
        "version": seal.version,
        "standard": VERSION_LABELS[seal.version],
        "es_id": seal.es_id,
        "seal_name": seal.name,
        "seal_type": seal.seal_type,
        "vid": seal.header.vid,
        "header_version": seal.header.version,
        "maker": maker,
        "cert_list_type": seal.cert_list.type,
        "create_date": iso_utc(seal.create_date),
        "valid_start": iso_utc(seal.valid_start),
        "valid_end": iso_utc(seal.valid_end),
        "picture_type": seal.picture.type,
    }


def check_seal(
    builder: ReportBuilder,
    seal: ParsedSeal,
    *,
    trust: TrustContext,
    at: datetime,
    now: datetime,
    tst_verifier: TSTVerifier | None,
    prefix: str = "seal",
    poe: datetime | None = None,
) -> None:
    """The seal checks of GB/T 38540, the validity window judged at ``at``.

    :param poe: when a verified time-stamp proves the seal existed (the enclosing signature's),
        so a maker revoked for a compromise later, or a seal suspended later, does not undo it.
    """
    builder.passed(
        f"{prefix}.format",
        f"{VERSION_LABELS[seal.version]} electronic seal {seal.name!r} (esID {seal.es_id}, vid {seal.header.vid})",
    )
    for warning in seal.warnings:
        builder.warn(f"{prefix}.format", warning)
    for ext in seal.ext_datas:
        if ext.critical:
            builder.warn(f"{prefix}.ext_datas", f"critical seal extension {ext.oid} is not interpreted by trustsvc")
    maker = _parse_cert(builder, f"{prefix}.maker.certificate", seal.maker_cert, "seal maker certificate")
    if maker is not None:
        signed = "DER SEQUENCE {sealInfo, cert, signatureAlgorithm}" if seal.version == "v1" else "DER(SES_SealInfo)"
        verify_signature_value(
            builder,
            f"{prefix}.signature",
            f"seal maker signature over {signed}",
            maker,
            seal.sign_algorithm,
            seal.signed_bytes,
            seal.signed_value,
            seal.signed_value_problem,
        )
    if isinstance(maker, ParsedCertificate):
        made_at = seal.create_date
        if made_at < maker.not_before:
            # The maker cannot have signed before its certificate existed, so createDate is
            # not when the seal was signed; judge at the latest time it must have existed.
            builder.warn(
                f"{prefix}.created",
                f"createDate {iso_utc(made_at)} precedes the maker certificate ({iso_utc(maker.not_before)} ..); "
                f"the maker certificate is judged at {iso_utc(at)} instead",
            )
            made_at = at
        assess_certificate(
            builder,
            f"{prefix}.maker",
            seal.maker_cert,
            trust=trust,
            at=made_at,
            now=now,
            required_key_usage=SIGNING_KEY_USAGE,
            time_proven=poe is not None and made_at <= poe,
        )
    span = f"{iso_utc(seal.valid_start)} .. {iso_utc(seal.valid_end)}"
    if seal.valid_start > seal.valid_end:
        builder.fail(f"{prefix}.validity", FORMAT_FAILURE, f"seal validity window is empty ({span})")
    elif at < seal.valid_start:
        builder.fail(f"{prefix}.validity", NOT_YET_VALID, f"seal was not yet valid at {iso_utc(at)} ({span})")
    elif at > seal.valid_end:
        builder.fail(f"{prefix}.validity", EXPIRED, f"seal had expired at {iso_utc(at)} ({span})")
    else:
        builder.passed(f"{prefix}.validity", f"seal valid at {iso_utc(at)} ({span})")
    if seal.create_date - at > _CLOCK_SKEW:  # differences, not sums: a 9999-12-31 date must not overflow
        builder.warn(f"{prefix}.created", f"seal createDate {iso_utc(seal.create_date)} is after {iso_utc(at)}")
    if seal.time_stamp is not None:
        gen_time = run_tst_verifier(
            builder, f"{prefix}.timestamp", seal.time_stamp, seal.signed_value_raw, tst_verifier, "the seal"
        )
        if gen_time is not None and seal.create_date - gen_time > _CLOCK_SKEW:
            builder.fail(
                f"{prefix}.timestamp.order",
                SIG_CONSTRAINTS_FAILURE,
                f"seal createDate {iso_utc(seal.create_date)} is later than its time-stamp {iso_utc(gen_time)}",
            )
    elif seal.version == "v5":
        builder.skipped(f"{prefix}.timestamp", "the v5 seal carries no time-stamp")
    expired_now = now > seal.valid_end
    builder.status_now[prefix] = {"valid_end": iso_utc(seal.valid_end), "expired": expired_now}
    if expired_now and seal.valid_start <= at <= seal.valid_end:
        builder.warn(
            f"{prefix}.status_now", f"seal validity ended {iso_utc(seal.valid_end)}; it was valid at {iso_utc(at)}"
        )
    if trust.seal_status is not None:
        from trustsvc.formats.seal_status import check_seal_status

        check_seal_status(builder, prefix, trust.seal_status, seal.der, seal.es_id, at, time_proven=poe is not None)


def verify_seal(
    data: bytes,
    *,
    trust: TrustContext = NO_TRUST,
    at: datetime | None = None,
    now: datetime | None = None,
    tst_verifier: TSTVerifier | None = None,
) -> VerificationReport:
    """Verify an electronic seal (``SESeal``, .esl).

    :param at: when the seal's validity window is judged (e.g. a signing time); default now.
        The maker certificate is always judged at the seal's ``createDate``.
    :param tst_verifier: verifies a v5 seal time-stamp; absent, that check is skipped.
    """

    def run() -> VerificationReport:
        now_ = _now(now)
        builder = ReportBuilder("ses_seal")
        try:
            seal = parse_seal(data)
        except SESFormatError as exc:
            builder.fail("seal.format", FORMAT_FAILURE, f"not an electronic seal: {exc.message}")
            return builder.build()
        builder.object.update(seal_summary(seal))
        builder.signing_time = seal.create_date
        check_seal(builder, seal, trust=trust, at=aware(at) if at else now_, now=now_, tst_verifier=tst_verifier)
        return builder.build()

    return _safely("ses_seal", run)


def _signing_time(
    builder: ReportBuilder, sig: ParsedSESSignature, tst_verifier: TSTVerifier | None, now: datetime
) -> datetime:
    claimed = sig.time_info.value
    token = sig.time_stamp if sig.time_stamp is not None else sig.time_info.token
    tst_time: datetime | None = None
    if token is None:
        builder.skipped("signature.timestamp", "no time-stamp token; the signing time is the signer's claimed timeInfo")
    else:
        tst_time = run_tst_verifier(
            builder, "signature.timestamp", token, sig.signature_raw, tst_verifier, "the signature"
        )
    if tst_time is not None:
        if claimed is not None and claimed - tst_time > _CLOCK_SKEW:
            builder.warn(
                "signature.time_info", f"timeInfo {iso_utc(claimed)} is later than the time-stamp {iso_utc(tst_time)}"
            )
        return tst_time
    if claimed is not None:
        return claimed
    builder.warn(
        "signature.time_info", f"no usable signing time (timeInfo is a time-stamp token); judged at {iso_utc(now)}"
    )
    return now


def _timestamp_verified(builder: ReportBuilder) -> bool:
    """The signing time is a verified time-stamp's genTime (proof of existence), not a claim."""
    return any(c.name == "signature.timestamp" and c.result == "passed" for c in builder.checks)


def _check_cert_list(builder: ReportBuilder, seal: ParsedSeal, signer_der: bytes) -> None:
    """GB/T 38540 binds the signer to the seal only through the maker-signed certList."""
    listed = seal.cert_list
    if listed.type == 1 or not listed.digests:
        if signer_der in listed.certs:
            builder.passed("signature.cert_list", "signer certificate is in the seal's certList (exact DER)")
        else:
            builder.fail(
                "signature.cert_list",
                SIG_CONSTRAINTS_FAILURE,
                f"signer certificate is not in the seal's certList ({len(listed.certs)} entries): not authorised to apply this seal",
            )
        return
    for i, entry in enumerate(listed.digests):
        known = _DIGESTS.get(entry.algorithm.strip().lower())
        if known is None:
            builder.warn(
                "signature.cert_list", f"certDigestList entry {i} uses unknown digest type {entry.algorithm!r}; ignored"
            )
            continue
        label, digest = known
        if digest(signer_der) == entry.value:
            builder.passed("signature.cert_list", f"{label} of the signer certificate is in the seal's certDigestList")
            return
    builder.fail(
        "signature.cert_list",
        SIG_CONSTRAINTS_FAILURE,
        f"no digest in the seal's certDigestList ({len(listed.digests)} entries) matches the signer certificate",
    )


def _check_data_hash(builder: ReportBuilder, sig: ParsedSESSignature, original: bytes | None) -> None:
    if original is None:
        builder.skipped(
            "signature.data_hash",
            f"the signed document was not supplied, so dataHash {sig.data_hash.hex()} was not compared with it",
        )
        return
    label, digest = _HASHES.get(sig.signature_algorithm, ("SM3", hsm.sm3))
    actual = digest(bytes(original))
    if actual == sig.data_hash:
        builder.passed(
            "signature.data_hash", f"dataHash equals the {label} of the supplied document ({len(original)} bytes)"
        )
    else:
        builder.fail(
            "signature.data_hash",
            HASH_FAILURE,
            f"dataHash {sig.data_hash.hex()} differs from the {label} of the supplied document ({actual.hex()})",
        )


def verify_ses_signature(
    data: bytes,
    *,
    original: bytes | None = None,
    trust: TrustContext = NO_TRUST,
    now: datetime | None = None,
    tst_verifier: TSTVerifier | None = None,
) -> VerificationReport:
    """Verify an SES signature (``SES_Signature``, OFD SignedValue.dat) and the seal inside it.

    :param original: the signed document (for OFD: the bytes of Signature.xml); without it
        the dataHash check is skipped, saying so.
    :param tst_verifier: verifies ``timeStamp`` (and a v5 seal's); absent, skipped.
    """

    def run() -> VerificationReport:
        now_ = _now(now)
        builder = ReportBuilder("ses_signature")
        try:
            sig = parse_ses_signature(data)
        except SESFormatError as exc:
            builder.fail("signature.format", FORMAT_FAILURE, f"not an SES signature: {exc.message}")
            return builder.build()
        seal = sig.seal
        builder.object.update(seal_summary(seal))
        builder.object.update(
            version=sig.version,
            standard=VERSION_LABELS[sig.version],
            signer=None,
            property_info=sig.property_info,
            data_hash=sig.data_hash.hex(),
            time_info=iso_utc(sig.time_info.value),
            time_info_form=sig.time_info.form,
            has_timestamp=sig.time_stamp is not None,
        )
        builder.passed("signature.format", f"{VERSION_LABELS[sig.version]} SES_Signature")
        for warning in sig.warnings:
            builder.warn("signature.format", warning)
        signer = _parse_cert(builder, "signer.certificate", sig.signer_cert, "signer certificate")
        if isinstance(signer, ParsedCertificate):
            builder.object["signer"] = signer.subject_str
        if signer is not None:
            verify_signature_value(
                builder,
                "signature.value",
                "signer signature over DER(TBS_Sign)",
                signer,
                sig.signature_algorithm,
                sig.signed_bytes,
                sig.signature,
                sig.signature_problem,
            )
        signing_time = _signing_time(builder, sig, tst_verifier, now_)
        builder.signing_time = signing_time
        if signing_time - now_ > _CLOCK_SKEW:
            builder.warn("signature.time_info", f"signing time {iso_utc(signing_time)} is in the future")
        _check_cert_list(builder, seal, sig.signer_cert)
        proven = _timestamp_verified(builder)
        check_seal(
            builder,
            seal,
            trust=trust,
            at=signing_time,
            now=now_,
            tst_verifier=tst_verifier,
            poe=signing_time if proven else None,
        )
        if isinstance(signer, ParsedCertificate):
            assess_certificate(
                builder,
                "signer",
                sig.signer_cert,
                trust=trust,
                at=signing_time,
                now=now_,
                required_key_usage=SIGNING_KEY_USAGE,
                time_proven=proven,
            )
        _check_data_hash(builder, sig, original)
        return builder.build()

    return _safely("ses_signature", run)
