"""Verifying a licence PDF (kind ``pdf``): the PDF signature, what it covers, and the licence it names.

Checks, in order (every one runs so the report shows every problem; the first failure names
the sub-indication):

* ``pdf.format`` / ``pdf.signatures``: pyHanko reads the file and finds the signatures; a licence
  file carries exactly one (none: FAILED, FORMAT_FAILURE).
* ``pdf.byte_range``: ``[0, a, b, c]`` with ``b + c`` = the file's length, and the gap
  ``a..b`` is exactly this signature's ``/Contents`` hex string (one case of hex digits, the CMS
  followed by zero padding only). So *every* byte of the file is either signed or part of the
  signature itself, and a changed byte anywhere makes the report FAILED (ISO 32000-1 §12.8).
  ``pdf.coverage`` adds pyHanko's own verdict, which must be ``ENTIRE_FILE``: a file with
  anything appended after signing FAILS (HASH_FAILURE) — a licence admits no later revisions.
* ``cms.*``: :func:`ca.cms.verify_cms` over the ``/ByteRange`` bytes (messageDigest = SM3 of
  them: HASH_FAILURE; the SM2 signature: SIG_CRYPTO_FAILURE).
* ``signature.timestamp``: the RFC 3161 token in the signer's unsigned attributes must cover the
  signature value; its genTime is the signing time. Without one, the CMS signingTime is used.
* ``signer.*``: the signer certificate's path to a trusted anchor at the signing time
  (:func:`trustsvc.formats.trust.assess_certificate`); ``pdf.signer_issuer``: the signer certificate
  belongs to the department the identifier names (its organizationIdentifier ``NTRCN-<USCC>``).
* ``metadata.*``: the embedded ``licence-metadata.json`` and its SES_Signature
  (``licence-metadata.ses``), verified as any SES signature; its ``ZZBS`` must equal the
  identifier in the XMP (``dc:identifier``).
* ``licence.status``: the one status rule of :mod:`trustsvc.licences.status` (revoked or
  superseded FAILED / REVOKED, expired FAILED / EXPIRED, suspended INDETERMINATE), when the
  caller can look the licence up; otherwise skipped with a warning.

Never raises: unreadable input is a FAILED / FORMAT_FAILURE report.
"""

from __future__ import annotations

import binascii
import dataclasses
import io
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from ca.certs import ParsedCertificate, parse_certificate, verify_certificate_signature
from ca.cms import verify_cms
from ca.cms_timestamp import signer_timestamp_parts
from ca.errors import CAError
from ca.results import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    OUT_OF_BOUNDS_NO_POE,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
    TRY_LATER,
    Indication,
)
from ca.validate import SIGNING_KEY_USAGE
from hsm.errors import InvalidSignature, TrustSvcError
from trustsvc.times import iso_utc

from ..federation.authorisation import check_licence_authorisation
from ..formats.report import ReportBuilder, VerificationReport
from ..formats.seals.verify import TSTVerifier, run_tst_verifier, verify_ses_signature
from ..formats.trust import NO_TRUST, TrustContext, assess_certificate, aware
from ..times import past_in_china
from .identifier import parse_identifier
from .status import LicenceStatus, add_status_check

__all__ = ["verify_licence_pdf", "StatusLookup", "TrustScope", "MAX_ATTACHMENT"]

log = logging.getLogger(__name__)

StatusLookup = Callable[..., LicenceStatus | None]
"""``lookup(identifier, *, status_index=None) -> status`` (None: not issued here), e.g.
``partial(licence_status, db)`` or :class:`trustsvc.verifier.SnapshotStatusLookup`;
``status_index`` is passed when the file names one (``licence-status.json``)."""
TrustScope = Callable[[str | None], tuple[TrustContext, TSTVerifier | None]]
"""``scope(identifier) -> (trust, tst_verifier)``: what to judge a file with, chosen by the
licence it names (its issuer's namespace, :mod:`trustsvc.verifier`); asked once the file's
identifier is read, before any signature in it is judged."""
MAX_ATTACHMENT = 4 * 1024 * 1024
_METADATA = "licence-metadata.json"
_METADATA_SES = "licence-metadata.ses"
_STATUS_ENTRY = "licence-status.json"
_DC = "http://purl.org/dc/elements/1.1/"
_HEX = re.compile(rb"^(?:[0-9a-f]*|[0-9A-F]*)$")
_ORG_ID_PREFIX = "NTRCN-"


class _Unreadable(Exception):
    """The PDF cannot be read far enough to find its signature."""


def _der_length(data: bytes) -> int:
    """Length of the DER TLV at the start of ``data`` (definite lengths only)."""
    if len(data) < 2:
        raise ValueError("too short")
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        raise ValueError("not a definite DER length")
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


def _check_byte_range(builder: ReportBuilder, data: bytes, byte_range: Any, contents: bytes) -> bytes | None:
    """The CMS DER when the ranges cover the whole file but the signature's own hex string."""
    try:
        br = [int(v) for v in byte_range]
    except (TypeError, ValueError):
        builder.fail("pdf.byte_range", FORMAT_FAILURE, "the /ByteRange is not a list of integers")
        return None
    if len(br) != 4 or br[0] != 0 or not 0 < br[1] < br[2] <= len(data) or br[3] < 0:
        builder.fail("pdf.byte_range", FORMAT_FAILURE, f"/ByteRange {br} is not [0, a, b, c] with 0 < a < b")
        return None
    if br[2] + br[3] != len(data):
        builder.fail(
            "pdf.byte_range",
            HASH_FAILURE,
            f"/ByteRange {br} ends at byte {br[2] + br[3]} but the file has {len(data)} bytes: "
            "the file was changed or extended after it was signed",
        )
        return None
    gap = data[br[1] : br[2]]
    inner = gap[1:-1]
    if gap[:1] != b"<" or gap[-1:] != b">" or len(inner) % 2 or not _HEX.match(inner):
        builder.fail(
            "pdf.byte_range",
            HASH_FAILURE,
            "the bytes the /ByteRange leaves out are not one hex string of a single case: "
            "something other than the signature is unsigned, or it was edited",
        )
        return None
    value = binascii.unhexlify(inner)
    if value != contents:
        builder.fail("pdf.byte_range", HASH_FAILURE, "the unsigned gap is not this signature's /Contents")
        return None
    try:
        length = _der_length(value)
    except ValueError:
        builder.fail("pdf.contents", FORMAT_FAILURE, "/Contents does not start with a DER structure")
        return None
    if length > len(value) or any(value[length:]):
        builder.fail(
            "pdf.contents", HASH_FAILURE, "/Contents holds bytes after the signature that are not zero padding"
        )
        return None
    builder.passed(
        "pdf.byte_range",
        f"/ByteRange {br} covers all {len(data)} bytes except the signature's own /Contents ({len(gap)} bytes)",
    )
    return value[:length]


def _cms_checks(builder: ReportBuilder, cms_der: bytes, signed: bytes) -> Any:
    try:
        result = verify_cms(cms_der, detached_content=signed)
    except (CAError, TrustSvcError) as exc:
        builder.fail("cms.format", FORMAT_FAILURE, f"/Contents is not a readable CMS SignedData: {exc.message}")
        return None
    builder.object.update(
        {
            "digest_algorithm": result.digest_algorithm,
            "signature_algorithm": result.signature_algorithm,
            "cms_shape": result.shape,
        }
    )
    for c in result.checks:
        if c.failed:
            builder.fail(c.name, HASH_FAILURE if c.name.endswith("message_digest") else SIG_CRYPTO_FAILURE, c.detail)
        else:
            builder.check(c.name, c.result, c.detail)
    if result.shape != "detached_signed_attributes":
        builder.fail(
            "cms.shape",
            FORMAT_FAILURE,
            f"an adbe.pkcs7.detached signature is detached with signed attributes, not {result.shape}",
        )
    return result


def _carried_certificates(
    builder: ReportBuilder, cms_der: bytes, certificates: tuple[bytes, ...], trust: TrustContext
) -> None:
    """Every certificate the signature and its time-stamps carry must be intact.

    They sit in ``/Contents``, outside the signed bytes, and path building may never use an
    extra copy (the verifier's own anchors win); so a changed byte in one would otherwise pass
    unnoticed. Each must parse and verify under an issuer found among them or the trust context.
    """
    carried = list(certificates)
    try:
        for token in signer_timestamp_parts(cms_der).tokens:
            carried += verify_cms(token).certificates
    except (CAError, TrustSvcError):
        pass  # signature.timestamp already reports an unreadable token
    parsed: list[ParsedCertificate] = []
    for der in carried:
        try:
            parsed.append(parse_certificate(der))
        except CAError as exc:
            builder.fail(
                "signature.certificates",
                FORMAT_FAILURE,
                f"a certificate carried in the signature is unreadable: {exc.message}",
            )
            return
    issuers = list(parsed)
    for der in (*trust.anchors, *trust.intermediates):
        try:
            issuers.append(parse_certificate(der))
        except CAError:
            continue
    unchecked = []
    for cert in parsed:
        candidates = [i for i in issuers if i.subject_key == cert.issuer_key]
        if not candidates:
            unchecked.append(cert.subject_str)
            continue
        for issuer in candidates:
            try:
                verify_certificate_signature(cert, issuer)
                break
            except (InvalidSignature, CAError):
                continue
        else:
            builder.fail(
                "signature.certificates",
                SIG_CRYPTO_FAILURE,
                f"certificate {cert.subject_str!r} carried in the signature does not verify under its "
                "issuer: it was damaged or altered",
            )
            return
    if unchecked:
        builder.warn("signature.certificates", f"no issuer known for {', '.join(map(repr, unchecked))}; not checked")
    builder.passed(
        "signature.certificates",
        f"all {len(parsed)} certificates carried in the signature and its time-stamps are intact",
    )


def _signing_time(
    builder: ReportBuilder,
    cms_der: bytes,
    claimed: datetime | None,
    signer_der: bytes | None,
    tst_verifier: TSTVerifier | None,
    now: datetime,
) -> datetime:
    try:
        parts = signer_timestamp_parts(cms_der)
    except CAError as exc:
        builder.fail("signature.timestamp", FORMAT_FAILURE, f"unsigned attributes unreadable: {exc.message}")
        parts = None
    stamped: datetime | None = None
    if parts is not None and parts.tokens:
        if len(parts.tokens) > 1:
            builder.warn("signature.timestamp", f"{len(parts.tokens)} signature time-stamps; the first is used")
        stamped = run_tst_verifier(
            builder, "signature.timestamp", parts.tokens[0], parts.signature, tst_verifier, "the PDF signature"
        )
    elif parts is not None:
        builder.skipped("signature.timestamp", "no signature time-stamp; the signer's claimed signingTime is used")
    if stamped is not None:
        if claimed is not None and abs((claimed - stamped).total_seconds()) > 300:
            builder.warn(
                "signature.signing_time",
                f"signingTime {iso_utc(claimed)} is far from the time-stamp {iso_utc(stamped)}",
            )
        return stamped
    if claimed is not None:
        return claimed
    not_after = None
    if signer_der is not None:
        try:
            not_after = parse_certificate(signer_der).not_after
        except CAError:
            pass
    if not_after is not None and not_after < now:
        builder.indeterminate(
            "signature.signing_time",
            OUT_OF_BOUNDS_NO_POE,
            f"no signing time and the signer certificate expired {iso_utc(not_after)}: no proof it was signed while valid",
            result="warning",
        )
        return not_after
    builder.skipped("signature.signing_time", "no signing time: judged now")
    return now


def _signer_issuer(builder: ReportBuilder, signer_der: bytes, identifier: str | None) -> None:
    if identifier is None:
        builder.skipped("pdf.signer_issuer", "no licence identifier: the signer cannot be matched to an issuer")
        return
    issuer = parse_identifier(identifier).issuer_code
    try:
        subject = parse_certificate(signer_der).subject.native
    except CAError:
        return  # the signer checks already say the certificate is unreadable
    org_id = subject.get("organization_identifier") if isinstance(subject, dict) else None
    if not isinstance(org_id, str):
        builder.warn(
            "pdf.signer_issuer",
            f"the signer certificate names no organizationIdentifier; it cannot be matched to issuer {issuer}",
        )
    elif org_id.upper() in (issuer, _ORG_ID_PREFIX + issuer):
        builder.passed("pdf.signer_issuer", f"signed by the issuing department {issuer}")
    else:
        builder.fail(
            "pdf.signer_issuer", SIG_CONSTRAINTS_FAILURE, f"signed by {org_id}, but the licence names issuer {issuer}"
        )


def _status_index(entry: bytes | None, identifier: str) -> int | None:
    """The status index the signed file names for its licence (``licence-status.json``), if any."""
    if entry is None:
        return None
    try:
        doc = json.loads(entry.decode("utf-8"))
        index = doc["status_index"]
        issuer = doc["issuer"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return None
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return None
    if not isinstance(issuer, str) or issuer.upper() != parse_identifier(identifier).issuer_code:
        return None
    return index


def _attachments(reader: Any) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except (KeyError, TypeError):
        return out
    for i in range(0, len(names) - 1, 2):
        name = str(names[i])
        spec = names[i + 1].get_object()
        stream = spec["/EF"]["/F"].get_object()
        if len(stream.encoded_data) > MAX_ATTACHMENT:
            continue
        data = stream.data
        if len(data) <= MAX_ATTACHMENT and name not in out:
            out[name] = data
    return out


def _xmp_identifier(reader: Any) -> str | None:
    from pyhanko.pdf_utils.metadata.model import ExpandedName
    from pyhanko.pdf_utils.metadata.xmp_xml import parse_xmp

    try:
        stream = reader.root["/Metadata"].get_object()
    except KeyError:
        return None
    wanted = ExpandedName(_DC, "identifier")
    for root in parse_xmp(io.BytesIO(stream.data)):
        for name, value in root:
            if name == wanted and isinstance(value.value, str):
                return value.value.strip()
    return None


def _metadata(
    builder: ReportBuilder,
    files: dict[str, bytes],
    xmp_identifier: str | None,
    *,
    trust: TrustContext,
    now: datetime,
    tst_verifier: TSTVerifier | None,
) -> str | None:
    """Check the embedded metadata; the licence identifier the file is about (or None)."""
    meta_bytes, ses = files.get(_METADATA), files.get(_METADATA_SES)
    identifier: str | None = None
    if meta_bytes is None:
        builder.skipped("metadata", f"no embedded {_METADATA}")
    else:
        try:
            meta = json.loads(meta_bytes.decode("utf-8"))
            zzbs = meta["ZZBS"] if isinstance(meta, dict) else None
            if not isinstance(zzbs, str):
                raise ValueError("no ZZBS")
            identifier = parse_identifier(zzbs).text
        except (ValueError, UnicodeDecodeError, KeyError, TrustSvcError) as exc:
            builder.fail("metadata", FORMAT_FAILURE, f"{_METADATA} is not licence metadata with a valid ZZBS ({exc})")
        else:
            builder.passed("metadata", f"{_METADATA} names licence {identifier}")
        if ses is None:
            builder.warn("metadata.signature", f"no {_METADATA_SES}: the embedded metadata is not sealed")
        else:
            sub = verify_ses_signature(ses, original=meta_bytes, trust=trust, now=now, tst_verifier=tst_verifier)
            builder.extend(sub.checks, "metadata.")
            builder.warnings.extend(sub.warnings)  # e.g. which revocation rule kept the seal valid
            builder.object["metadata_signature"] = {
                "indication": sub.indication.value,
                "sub_indication": sub.sub_indication,
                "message": sub.message,
                "seal": sub.object.get("es_id"),
            }
            what = f"the department seal's SES signature over {_METADATA}"
            if sub.indication is Indication.FAILED:
                builder.fail("metadata.signature", sub.sub_indication or SIG_CRYPTO_FAILURE, f"{what}: {sub.message}")
            elif sub.indication is Indication.INDETERMINATE:
                builder.indeterminate(
                    "metadata.signature", sub.sub_indication or "INDETERMINATE", f"{what}: {sub.message}"
                )
            else:
                builder.passed("metadata.signature", f"{what} verifies")
    if xmp_identifier is not None:
        try:
            from_xmp = parse_identifier(xmp_identifier).text
        except TrustSvcError:
            builder.fail(
                "pdf.identifier", FORMAT_FAILURE, f"XMP dc:identifier {xmp_identifier!r} is not a licence identifier"
            )
            return identifier
        if identifier is not None and from_xmp != identifier:
            builder.fail(
                "pdf.identifier",
                SIG_CONSTRAINTS_FAILURE,
                f"XMP dc:identifier {from_xmp} differs from the sealed metadata's {identifier}",
            )
        else:
            builder.passed("pdf.identifier", f"the file names licence {from_xmp}")
        identifier = identifier or from_xmp
    elif identifier is None:
        builder.warn("pdf.identifier", "the file names no licence identifier (no metadata, no XMP dc:identifier)")
    return identifier


def _claimed_identifier(files: dict[str, bytes], xmp_identifier: str | None) -> str | None:
    """The identifier the file claims, not yet checked: the sealed metadata's ZZBS, else the XMP's."""
    candidates: list[Any] = []
    try:
        meta = json.loads(files.get(_METADATA, b"null").decode("utf-8"))
        candidates.append(meta.get("ZZBS") if isinstance(meta, dict) else None)
    except (ValueError, UnicodeDecodeError):
        pass
    for candidate in (*candidates, xmp_identifier):
        if isinstance(candidate, str):
            try:
                return parse_identifier(candidate).text
            except TrustSvcError:
                continue
    return None


def _verify(
    builder: ReportBuilder,
    data: bytes,
    trust: TrustContext,
    now: datetime,
    tst_verifier: TSTVerifier | None,
    status_lookup: StatusLookup | None,
    scope: TrustScope | None = None,
) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception as exc:
        raise _Unreadable(f"{type(exc).__name__}: {exc}"[:300]) from exc
    builder.passed("pdf.format", f"PDF read ({len(data)} bytes)")
    builder.object["signatures"] = len(signatures)
    if not signatures:
        builder.fail("pdf.signatures", FORMAT_FAILURE, "the PDF carries no signature")
        return
    if len(signatures) > 1:
        builder.fail(
            "pdf.signatures",
            FORMAT_FAILURE,
            f"the PDF carries {len(signatures)} signatures; a licence file carries exactly one",
        )
        return
    sig = signatures[0]
    subfilter = str(sig.sig_object.get("/SubFilter", ""))
    builder.object.update({"field": sig.field_name, "subfilter": subfilter.lstrip("/")})
    if subfilter != "/adbe.pkcs7.detached":
        builder.warn(
            "pdf.signatures", f"signature {sig.field_name} has /SubFilter {subfilter}, not adbe.pkcs7.detached"
        )
    builder.passed("pdf.signatures", f"one signature, field {sig.field_name}")
    cms_der = _check_byte_range(builder, data, sig.byte_range, bytes(sig.pkcs7_content))
    coverage = sig.evaluate_signature_coverage()
    builder.object["coverage"] = coverage.name
    if coverage.name == "ENTIRE_FILE":
        builder.passed("pdf.coverage", "pyHanko: the signature covers the entire file")
    else:
        builder.fail(
            "pdf.coverage",
            HASH_FAILURE,
            f"pyHanko: the signature covers {coverage.name}, not the entire file: content was added after signing",
        )
    try:
        files = _attachments(reader)
    except Exception as exc:
        builder.fail("pdf.attachments", FORMAT_FAILURE, f"the embedded files cannot be read ({type(exc).__name__})")
        files = {}
    builder.object["attachments"] = sorted(files)
    try:
        xmp_identifier = _xmp_identifier(reader)
    except Exception as exc:
        builder.fail("pdf.xmp", FORMAT_FAILURE, f"the XMP metadata cannot be read ({type(exc).__name__})")
        xmp_identifier = None
    if scope is not None:
        trust, tst_verifier = scope(_claimed_identifier(files, xmp_identifier))
    identifier = _metadata(builder, files, xmp_identifier, trust=trust, now=now, tst_verifier=tst_verifier)
    builder.object["identifier"] = identifier
    if cms_der is None:
        return
    br = [int(v) for v in sig.byte_range]
    signed = data[br[0] : br[0] + br[1]] + data[br[2] : br[2] + br[3]]
    result = _cms_checks(builder, cms_der, signed)
    if result is None:
        return
    _carried_certificates(builder, cms_der, result.certificates, trust)
    signing_time = _signing_time(builder, cms_der, result.signing_time, result.signer_cert_der, tst_verifier, now)
    builder.signing_time = signing_time
    if result.signer_cert_der is None:
        builder.indeterminate(
            "signer.certificate", "NO_SIGNING_CERTIFICATE_FOUND", "the signer certificate is not in the signature"
        )
    else:
        builder.object["signer"] = result.signer_certificate.subject_str if result.signer_certificate else None
        stamped = any(c.name == "signature.timestamp" and c.result == "passed" for c in builder.checks)
        assess_certificate(
            builder,
            "signer",
            result.signer_cert_der,
            trust=trust,
            at=signing_time,
            now=now,
            required_key_usage=SIGNING_KEY_USAGE,
            extra_intermediates=result.certificates,
            time_proven=stamped,
        )
        _signer_issuer(builder, result.signer_cert_der, identifier)
        check_licence_authorisation(builder, trust, identifier, roles=("signer",))
    if identifier is None:
        builder.skipped("licence.status", "the file names no licence, so no status was checked")
    elif status_lookup is None:
        builder.skipped("licence.status", "no licence records are available to this verifier")
        builder.warnings.append(f"the status of licence {identifier} was not checked")
    elif scope is not None and not any(c.name == "signer.path" and c.result == "passed" for c in builder.checks):
        # the file does not chain to the anchor vouching for its issuer: whatever that issuer's
        # list says is about some other file, and must not be shown as this one's status
        builder.skipped(
            "licence.status",
            f"not consulted: the signature does not chain to the anchor that vouches for the issuer of {identifier}",
        )
    else:
        index = _status_index(files.get(_STATUS_ENTRY), identifier)
        try:
            status = status_lookup(identifier) if index is None else status_lookup(identifier, status_index=index)
        except Exception as exc:
            log.warning("licence status lookup failed: %s", exc)
            builder.indeterminate(
                "licence.status",
                TRY_LATER,
                f"the status of licence {identifier} could not be read ({type(exc).__name__})",
            )
            return
        if scope is not None and status is not None and status.status == "active":
            status = _expired_by_dates(status, files.get(_METADATA), now)
        add_status_check(builder, status, identifier=identifier)


def _expired_by_dates(status: LicenceStatus, meta: bytes | None, now: datetime) -> LicenceStatus:
    """A status list says nothing of expiry (it has no bit for it): the sealed metadata's last
    valid day (``ZZYXQJZRQ``, China time) does."""
    try:
        end = date.fromisoformat(json.loads((meta or b"").decode("utf-8"))["ZZYXQJZRQ"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return status  # 长期 (no end), or no readable metadata: the metadata checks say so
    if not past_in_china(end, now):
        return status
    return dataclasses.replace(status, status="expired", valid_until=end)


def verify_licence_pdf(
    data: bytes,
    *,
    trust: TrustContext = NO_TRUST,
    now: datetime | None = None,
    tst_verifier: TSTVerifier | None = None,
    status_lookup: StatusLookup | None = None,
    scope: TrustScope | None = None,
) -> VerificationReport:
    """Verify a licence PDF (see the module docstring); kind ``pdf``.

    :param tst_verifier: checks the signature time-stamp (:func:`trustsvc.verify.make_tst_verifier`);
        absent, the time-stamp is skipped and the signingTime is used.
    :param status_lookup: the licence's status by identifier; absent, the status is not checked.
    :param scope: chooses ``trust`` and ``tst_verifier`` by the licence the file names.
    """
    now_ = aware(now) if now is not None else datetime.now(UTC)
    builder = ReportBuilder("pdf")
    try:
        _verify(builder, data, trust, now_, tst_verifier, status_lookup, scope)
    except _Unreadable as exc:
        builder.fail("pdf.format", FORMAT_FAILURE, f"not a readable signed PDF: {exc}")
    except Exception as exc:
        log.exception("unexpected error while verifying a PDF")
        builder.fail("internal_error", FORMAT_FAILURE, f"the PDF could not be processed ({type(exc).__name__})")
    return builder.build()
