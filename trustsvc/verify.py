"""One entry point for "verify this": detects what the bytes are and returns a
:class:`~trustsvc.formats.report.VerificationReport` — never raises for bad input.

Kinds: OFD package, licence PDF (:mod:`trustsvc.licences.pdf_verify`), SES seal (.esl), SES
signature, CMS / GB/T 35275 SignedData, X.509 certificate, service codes, and pictures (PNG,
JPEG, ...) of a service code's QR, which are read and verified as the code.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from asn1crypto import cms as asn1_cms

from ca.certs import load_certificates, parse_certificate
from ca.cms import parse_signed_and_enveloped, verify_cms
from ca.errors import CAError, CertificateError
from ca.pem import pem_label, to_der
from ca.results import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    OUT_OF_BOUNDS_NO_POE,
    SIG_CRYPTO_FAILURE,
    SIGNED_DATA_NOT_FOUND,
    Check,
)
from ca.tsa import verify_timestamp_token
from ca.validate import validate_path
from hsm.errors import TrustSvcError

from .formats.ofd import verify_ofd
from .formats.report import ReportBuilder, VerificationReport
from .formats.seals.parse import identify
from .formats.seals.verify import verify_seal, verify_ses_signature
from .formats.trust import TrustContext, assess_certificate
from .licences.ofd_verify import is_licence_ofd, verify_licence_ofd
from .licences.pdf_verify import StatusLookup, verify_licence_pdf
from .times import iso_utc

__all__ = [
    "detect_kind",
    "is_picture",
    "verify_bytes",
    "make_tst_verifier",
    "verify_cms_report",
    "verify_certificate_report",
    "SIGNING_USAGE",
    "ACCEPTED_KINDS",
]

SIGNING_USAGE = frozenset({"digital_signature", "non_repudiation"})
TSA_EKU = "1.3.6.1.5.5.7.3.8"
MAX_INPUT = 64 * 1024 * 1024
ACCEPTED_KINDS = (
    "a licence PDF, an OFD document, an .esl seal (GB/T 38540 SES_Seal), an SES_Signature, "
    "a CMS / GB/T 35275 SignedData (DER or PEM), an X.509 certificate (DER or PEM), "
    "a service code as text (TS1:...) or a picture of its QR code (PNG, JPEG, GIF, WebP)"
)
"""Everything :func:`verify_bytes` accepts, for messages that tell a caller what to send."""
_PICTURE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_picture(data: bytes) -> bool:
    """PNG, JPEG, GIF or WebP by its magic: what a photo or scan of a printed code is."""
    return data.startswith(_PICTURE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def detect_kind(data: bytes) -> str:
    """``ofd``, ``pdf``, ``code``, ``certificate``, ``cms``, ``ses_seal``, ``ses_signature``,
    ``picture`` or ``unknown``."""
    head = data[:64].lstrip()
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if any(n.lstrip("/").lower() == "ofd.xml" for n in zf.namelist()):
                    return "ofd"
        except (zipfile.BadZipFile, ValueError, OSError):
            return "unknown"
        return "unknown"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[:4].upper() == b"TS1:":
        return "code"
    label = pem_label(data)  # RFC 7468: text before the first block (openssl x509 -text) is allowed
    if label is not None:
        return "certificate" if "CERTIFICATE" in label else "cms"
    try:
        info = asn1_cms.ContentInfo.load(data, strict=True)
        if info["content_type"].dotted in ("1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2"):
            return "cms"
    except (ValueError, TypeError, KeyError):
        pass
    try:
        load_certificates(data)
        return "certificate"
    except CertificateError:
        pass
    kind = identify(data)
    if kind == "seal":
        return "ses_seal"
    if kind == "signature":
        return "ses_signature"
    if is_picture(data):  # last: only what is nothing else is taken for a picture
        return "picture"
    return "unknown"


def make_tst_verifier(trust: TrustContext) -> Callable[[bytes, bytes], tuple[dt.datetime | None, tuple[Check, ...]]]:
    """A time-stamp verifier for SES signatures: token valid over ``imprinted`` and a TSA
    certificate with the time-stamping EKU. An untrusted TSA is a warning, a broken one a failure."""

    def verify(token: bytes, imprinted: bytes) -> tuple[dt.datetime | None, tuple[Check, ...]]:
        result = verify_timestamp_token(token, data=imprinted)
        checks = list(result.checks)
        if result.valid and result.tsa_cert_der is not None and result.gen_time is not None:
            path = validate_path(
                result.tsa_cert_der,
                intermediates=trust.intermediates,
                anchors=trust.anchors,
                at=result.gen_time,
                required_eku=TSA_EKU,
                revocation=trust.revocation,
            )
            if path.indication.value == "PASSED":
                checks.append(Check("tsa.path", "passed", f"TSA certificate: {path.message}"))
            elif path.indication.value == "FAILED":
                checks.append(Check("tsa.path", "failed", f"TSA certificate: {path.message}"))
            else:
                checks.append(
                    Check(
                        "tsa.path",
                        "warning",
                        f"TSA certificate not anchored ({path.message}); its time is used as claimed",
                    )
                )
        return result.gen_time, tuple(checks)

    return verify


def _cms_verifier(
    trust: TrustContext,
) -> Callable[[bytes, bytes], tuple[tuple[Check, ...], bytes | None, dt.datetime | None]]:
    def verify(signed_value: bytes, content: bytes) -> tuple[tuple[Check, ...], bytes | None, dt.datetime | None]:
        result = verify_cms(signed_value, detached_content=content)
        return tuple(result.checks), result.signer_cert_der, result.signing_time

    return verify


def verify_cms_report(
    data: bytes, *, trust: TrustContext, detached: bytes | None = None, now: dt.datetime | None = None
) -> VerificationReport:
    """GB/T 35275 / PKCS#7 SignedData: signature, digest, signer certificate at signing time."""
    now = now or _utcnow()
    if _is_signed_and_enveloped(data):
        return _enveloped_report(data)
    builder = ReportBuilder("cms")
    try:
        result = verify_cms(data, detached_content=detached)
    except (CAError, TrustSvcError) as exc:
        builder.fail("cms.format", FORMAT_FAILURE, f"not a readable CMS SignedData: {exc.message}")
        return builder.build()
    builder.object.update(
        {"shape": result.shape, "content_type": result.content_type, "digest_algorithm": result.digest_algorithm}
    )
    content_missing = detached is None and result.shape.startswith("detached")
    for c in result.checks:
        if c.failed and content_missing and c.name in ("cms.content", "cms.signature"):
            # a detached signature without its content cannot be judged either way
            builder.indeterminate(c.name, SIGNED_DATA_NOT_FOUND, c.detail, result="skipped")
        elif c.failed:
            builder.fail(c.name, HASH_FAILURE if c.name.endswith("message_digest") else SIG_CRYPTO_FAILURE, c.detail)
        else:
            builder.check(c.name, c.result, c.detail)
    for w in result.warnings:
        builder.warn("cms.quirk", w)
    builder.signing_time = result.signing_time
    if result.signer_cert_der is None:
        builder.indeterminate(
            "cms.signer_certificate", "NO_SIGNING_CERTIFICATE_FOUND", "the signer certificate is not in the SignedData"
        )
        return builder.build()
    at = result.signing_time or now
    if result.signing_time is None:
        # No signed time: nothing proves the signature existed while the certificate was valid.
        # Judge the chain at the last moment the certificate was valid, and if that is past,
        # say so as ETSI does (INDETERMINATE / OUT_OF_BOUNDS_NO_POE), not as a failure.
        try:
            not_after = parse_certificate(result.signer_cert_der).not_after
        except CAError:
            not_after = now
        if not_after < now:
            builder.indeterminate(
                "cms.signing_time",
                OUT_OF_BOUNDS_NO_POE,
                f"no signing time in the signature and the signer certificate expired "
                f"{not_after.isoformat()}: no proof it was signed while valid",
                result="warning",
            )
            at = not_after
        else:
            builder.skipped("cms.signing_time", "no signing time in the signature: judged now")
    assess_certificate(
        builder,
        "signer",
        result.signer_cert_der,
        trust=trust,
        at=at,
        now=now,
        required_key_usage=SIGNING_USAGE,
        extra_intermediates=result.certificates,
    )
    return builder.build()


def _is_signed_and_enveloped(data: bytes) -> bool:
    try:
        der = to_der(data)
        info = asn1_cms.ContentInfo.load(der)
        return info["content_type"].dotted in ("1.2.840.113549.1.7.4", "1.2.156.10197.6.1.4.2.4")
    except (ValueError, TypeError, KeyError):
        return False


def _cms_or_status_list(
    data: bytes, *, trust: TrustContext, original: bytes | None, now: dt.datetime | None
) -> VerificationReport:
    """A signed licence status list gets its own checks (signer EKU, freshness); other CMS the generic ones."""
    from .status_lists import STATUS_LIST_CONTENT_TYPE, verify_status_list

    try:
        der = to_der(data)
        econtent_type = asn1_cms.ContentInfo.load(der)["content"]["encap_content_info"]["content_type"].dotted
    except Exception:
        econtent_type = None
    if original is None and econtent_type == STATUS_LIST_CONTENT_TYPE:
        return verify_status_list(der, trust=trust, now=now).report
    return verify_cms_report(data, trust=trust, detached=original, now=now)


def _enveloped_report(data: bytes) -> VerificationReport:
    """signedAndEnvelopedData: the signature covers the plaintext, which only the recipient can
    decrypt; report the structure and say why the signature cannot be checked here."""
    builder = ReportBuilder("cms_signed_and_enveloped")
    try:
        info = parse_signed_and_enveloped(data)
    except (CAError, TrustSvcError) as exc:
        builder.fail("cms.format", FORMAT_FAILURE, f"not a readable signedAndEnvelopedData: {exc.message}")
        return builder.build()
    builder.object.update(
        {
            "family": info.family,
            "recipients": len(info.recipients),
            "content_encryption_algorithm": info.content_encryption_algorithm,
            "certificates": len(info.certificates),
        }
    )
    builder.passed("cms.format", f"signedAndEnvelopedData for {len(info.recipients)} recipient(s)")
    builder.indeterminate(
        "cms.signature",
        SIGNED_DATA_NOT_FOUND,
        "the signed content is encrypted for its recipient; the signature can be checked "
        "only after the recipient decrypts it",
        result="skipped",
    )
    return builder.build()


def verify_certificate_report(
    data: bytes, *, trust: TrustContext, now: dt.datetime | None = None
) -> VerificationReport:
    """A certificate (or PEM bundle: the first is the subject, the rest help build the path)."""
    now = now or _utcnow()
    builder = ReportBuilder("certificate")
    try:
        certs = load_certificates(data)
    except CertificateError as exc:
        builder.fail("certificate.format", FORMAT_FAILURE, f"not a readable certificate: {exc.message}")
        return builder.build()
    leaf = certs[0]
    builder.object.update(
        {
            "subject": leaf.subject_str,
            "issuer": leaf.issuer_str,
            "serial": format(leaf.serial, "x"),
            "sha256": leaf.sha256,
            "not_before": iso_utc(leaf.not_before),
            "not_after": iso_utc(leaf.not_after),
        }
    )
    assess_certificate(
        builder,
        "certificate",
        leaf.der,
        trust=trust,
        at=now,
        now=now,
        required_key_usage=None,
        extra_intermediates=[c.der for c in certs[1:]],
    )
    return builder.build()


def _unsupported(kind: str, message: str) -> VerificationReport:
    builder = ReportBuilder(kind)
    builder.fail("format", FORMAT_FAILURE, message)
    return builder.build()


def verify_bytes(
    data: bytes,
    *,
    trust: TrustContext,
    original: bytes | None = None,
    now: dt.datetime | None = None,
    kind: str | None = None,
    code_verifier: Callable[[str], VerificationReport] | None = None,
    status_lookup: StatusLookup | None = None,
) -> VerificationReport:
    """Verify whatever ``data`` is. ``original`` is the signed document for detached forms
    (an SES signature's dataHash, a detached CMS); ``now`` judges "now" at another time.
    ``code_verifier`` verifies ``TS1:`` service codes (online or offline, see trustsvc.codes):
    codes need trust material a TrustContext does not carry.
    ``status_lookup`` answers a licence's status by identifier (``partial(licence_status, db)``)
    for licence PDFs and OFDs; without it their status check is skipped with a warning."""
    if len(data) > MAX_INPUT:
        return _unsupported("unknown", f"input is larger than {MAX_INPUT} bytes")
    kind = kind or detect_kind(data)
    tst = make_tst_verifier(trust)
    dispatch: dict[str, Callable[[], VerificationReport]] = {
        "ofd": lambda: (
            verify_licence_ofd(data, trust=trust, now=now, tst_verifier=tst, status_lookup=status_lookup)
            if is_licence_ofd(data)
            else verify_ofd(data, trust=trust, now=now, tst_verifier=tst, cms_verifier=_cms_verifier(trust))
        ),
        "ses_seal": lambda: verify_seal(data, trust=trust, now=now, tst_verifier=tst),
        "ses_signature": lambda: verify_ses_signature(data, original=original, trust=trust, now=now, tst_verifier=tst),
        "cms": lambda: _cms_or_status_list(data, trust=trust, original=original, now=now),
        "certificate": lambda: verify_certificate_report(data, trust=trust, now=now),
        "pdf": lambda: verify_licence_pdf(data, trust=trust, now=now, tst_verifier=tst, status_lookup=status_lookup),
    }
    if code_verifier is not None:
        dispatch["code"] = lambda: code_verifier(data.decode("ascii", errors="replace").strip())
        dispatch["picture"] = lambda: _picture_report(data, code_verifier)
    handler = dispatch.get(kind)
    if handler is None:
        messages: dict[str, Any] = {
            "code": "service codes are verified with trust material for codes (trustsvc.codes)",
            "picture": "a picture is verified as the photo of a service code's QR code, which needs trust "
            "material for codes (trustsvc.codes)",
        }
        return _unsupported(kind, messages.get(kind, f"unrecognised input: send {ACCEPTED_KINDS}"))
    return handler()


def _picture_report(data: bytes, code_verifier: Callable[[str], VerificationReport]) -> VerificationReport:
    """A photo or scan sent as the file: the service code in its QR, verified as the code
    (``object.read_from`` says so); a picture without one is FAILED / FORMAT_FAILURE saying why."""
    from .codes.render import read_code_from_image

    try:
        text = read_code_from_image(data)
    except TrustSvcError as exc:
        return _unsupported(
            "picture",
            f"{exc.message}: a picture is read as the photo of a service code's "
            f"QR code (TS1:...); otherwise send {ACCEPTED_KINDS}",
        )
    report = code_verifier(text)
    return replace(report, object={**report.object, "read_from": "picture"})
