"""Verifying the signatures inside an OFD document (GB/T 33190-2016 §18, GB/T 35275).

The package is opened defensively (:class:`OFDPackage`): size, member-count, total-size and
compression-ratio limits before anything is decompressed; member names that are absolute,
climb with ``..``, carry a drive letter or a NUL, or repeat, make the package unreadable.
XML with a DTD is refused (OFD never uses one, and entities are how XML bombs work).

For each ``<Signature>`` of each document's Signatures.xml (the path comes from
``OFD.xml`` → ``DocBody/Signatures``; every path is resolved against the XML file that names
it, or from the package root when absolute):

1. ``signature_xml``: Signature.xml is read and parsed (namespace-agnostic; ``Provider`` as
   attributes or child elements; an extra empty ``<SignedValue/>`` is ignored).
2. ``references``: every ``Reference`` digest is recomputed with ``CheckMethod`` (SM3 by
   name or OID 1.2.156.10197.1.401; the non-standard …401.2 as SM3 with a warning;
   SHA256, SHA1 and MD5, the last two with a warning). Each part whose digest differs, or
   that is missing, is named: FAILED / HASH_FAILURE.
3. ``seal_file``: for ``Type="Seal"`` with a ``Seal/BaseLoc``, Seal.esl must equal, byte for
   byte, the seal embedded in ``TBS_Sign`` (readers draw the appearance from Seal.esl).
4. The SignedValue found at the path Signature.xml gives (DianJu names it SignValue.dat):
   ``Type="Seal"`` (the default) is an SES signature verified by
   :func:`trustsvc.formats.seals.verify.verify_ses_signature` with ``original`` = the exact bytes
   of Signature.xml; ``Type="Sign"`` is GB/T 35275 SignedData, verified by the
   ``cms_verifier`` the caller passes (absent: INDETERMINATE, TRY_LATER), or a bare DER SM2
   signature over Signature.xml (ofdrw DigitalSign), which carries no certificate: the
   ``signer_cert`` argument or a certificate in ``TrustContext.intermediates`` whose key
   verifies it is used; without one the result is INDETERMINATE, NO_SIGNING_CERTIFICATE_FOUND.

The document's verdict is the worst of its signatures'. Files that no signature covers are
reported as warnings (``package.coverage``).

**Signatures.xml and later signatures.** Adding a signature rewrites Signatures.xml, so
ofdrw's "ContinueSign" mode (and every producer seen) leaves Signatures.xml out of the
references: it is therefore not flagged as uncovered. A signature that *did* protect it
(ofdrw's complete-protection / lock mode) declared the document final; if Signatures.xml no
longer matches — because a signature was added or removed afterwards — that signature
FAILS with HASH_FAILURE naming Signatures.xml, whatever the later signature says (ofdrw
itself refuses to sign such a document, GB/T 33190 §18). Each later signature is
judged on its own references.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import hsm
from ca.certs import parse_certificate
from ca.errors import CertificateError
from ca.results import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    NO_SIGNING_CERTIFICATE_FOUND,
    SIG_CRYPTO_FAILURE,
    TRY_LATER,
    Check,
    Indication,
)
from ca.validate import SIGNING_KEY_USAGE
from hsm.errors import TrustSvcError
from trustsvc.formats.report import ReportBuilder, VerificationReport
from trustsvc.formats.seals import _der
from trustsvc.formats.seals.asn1 import OID_GM_SIGNED_DATA, OID_PKCS7_SIGNED_DATA, OID_SM3_WITH_SM2
from trustsvc.formats.seals.errors import SESFormatError
from trustsvc.formats.seals.parse import parse_ses_signature
from trustsvc.formats.seals.sigvalue import normalise_signature
from trustsvc.formats.seals.timetext import parse_time_text
from trustsvc.formats.seals.verify import TSTVerifier, verify_ses_signature, verify_signature_value
from trustsvc.formats.trust import NO_TRUST, TrustContext, assess_certificate, aware

__all__ = [
    "verify_ofd",
    "CMSVerifier",
    "OFDPackage",
    "OFDFormatError",
    "PackageLimits",
    "DEFAULT_LIMITS",
    "resolve_path",
]

log = logging.getLogger(__name__)

CMSVerifier = Callable[[bytes, bytes], tuple[Sequence[Check], bytes | None, datetime | None]]
"""``cms_verifier(signed_value, content) -> (checks, signer_cert_der, signing_time)`` for
GB/T 35275 SignedData over ``content`` (detached, attached, or attached SM3(content)). A
failed check means the signature does not verify; a failed check whose name mentions
``digest`` is reported as HASH_FAILURE."""

_MAX_SIGNATURES = 256


class OFDFormatError(TrustSvcError, ValueError):
    """The package or one of its XML parts cannot be read safely."""

    code = "ofd_format"
    http_status = 422


@dataclass(frozen=True)
class PackageLimits:
    """Bounds on what an OFD package may make the verifier decompress and hold."""

    max_package_bytes: int = 256 * 1024 * 1024
    max_members: int = 10_000
    max_member_bytes: int = 128 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 200
    """Largest uncompressed/compressed ratio for members over 1 MiB (zip bombs)."""
    max_xml_bytes: int = 16 * 1024 * 1024


DEFAULT_LIMITS = PackageLimits()


# -- paths ------------------------------------------------------------------------------------
def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise OFDFormatError(f"path {path!r} climbs out of the package")
            parts.pop()
        else:
            parts.append(part)
    if not parts:
        raise OFDFormatError(f"path {path!r} names no file")
    return "/" + "/".join(parts)


def resolve_path(base_file: str, ref: str) -> str:
    """``ref`` as an absolute package path: absolute from the root, else relative to the
    directory of ``base_file`` (the XML file that names it)."""
    ref = (ref or "").strip()
    if not ref:
        raise OFDFormatError(f"empty path in {base_file}")
    if "\x00" in ref:
        raise OFDFormatError(f"path in {base_file} contains NUL")
    if ref.startswith("/"):
        return _normalise(ref)
    directory = base_file.rsplit("/", 1)[0]
    return _normalise(f"{directory}/{ref}")


# -- the package ------------------------------------------------------------------------------
class OFDPackage:
    """An OFD zip opened with limits; members addressed by absolute path (``/OFD.xml``)."""

    def __init__(self, data: bytes, limits: PackageLimits | None = None) -> None:
        limits = limits or DEFAULT_LIMITS
        if len(data) > limits.max_package_bytes:
            raise OFDFormatError(f"package of {len(data)} bytes exceeds {limits.max_package_bytes}")
        self.limits = limits
        self._cache: dict[str, bytes] = {}
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(bytes(data)))
            infos = self._zip.infolist()
        except Exception as exc:
            raise OFDFormatError(f"not a readable zip package ({type(exc).__name__}: {exc})") from exc
        if len(infos) > limits.max_members:
            raise OFDFormatError(f"package has {len(infos)} members, more than {limits.max_members}")
        self._members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if name.endswith("/"):
                continue
            if name.startswith(("/", "\\")) or "\\" in name or "\x00" in name or (len(name) > 1 and name[1] == ":"):
                raise OFDFormatError(f"unsafe member name {name!r}")
            if ".." in name.split("/"):
                raise OFDFormatError(f"member name {name!r} climbs out of the package")
            path = _normalise(name)
            if path in self._members:
                raise OFDFormatError(f"member {path} appears twice")
            if info.flag_bits & 0x1:
                raise OFDFormatError(f"member {path} is encrypted")
            if info.file_size > limits.max_member_bytes:
                raise OFDFormatError(f"member {path} is {info.file_size} bytes, more than {limits.max_member_bytes}")
            if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise OFDFormatError(f"member {path} expands {info.file_size // max(info.compress_size, 1)}-fold")
            total += info.file_size
            if total > limits.max_total_bytes:
                raise OFDFormatError(f"package expands to more than {limits.max_total_bytes} bytes")
            self._members[path] = info

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(self._members)

    def has(self, path: str) -> bool:
        return path in self._members

    def read(self, path: str) -> bytes:
        """The bytes of member ``path``.

        :raises OFDFormatError: missing, damaged (CRC, compression) or not the declared size.
        """
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        info = self._members.get(path)
        if info is None:
            raise OFDFormatError(f"{path} is not in the package")
        try:
            with self._zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except Exception as exc:
            raise OFDFormatError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from exc
        if len(data) != info.file_size:
            raise OFDFormatError(f"{path} is {len(data)} bytes, not the declared {info.file_size}")
        self._cache[path] = data
        return data


# -- XML --------------------------------------------------------------------------------------
def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child(element: ElementTree.Element, name: str) -> ElementTree.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: ElementTree.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _parse_xml(data: bytes, path: str, limits: PackageLimits) -> ElementTree.Element:
    if len(data) > limits.max_xml_bytes:
        raise OFDFormatError(f"{path} is larger than {limits.max_xml_bytes} bytes")
    probe = data
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            probe = data.decode("utf-16").encode("utf-8")
        except UnicodeError as exc:
            raise OFDFormatError(f"{path} is not valid UTF-16 XML") from exc
    lowered = probe.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise OFDFormatError(f"{path} declares a DTD or entities, which OFD never uses")
    try:
        return ElementTree.fromstring(data)
    except (ElementTree.ParseError, ValueError, UnicodeError) as exc:
        raise OFDFormatError(f"{path} is not well-formed XML ({exc})") from exc


@dataclass(frozen=True)
class _SignatureEntry:
    id: str
    type: str
    base_loc: str
    """As written in Signatures.xml."""
    path: str
    """Resolved absolute path of Signature.xml."""
    relative: str | None
    signatures_xml: str


@dataclass(frozen=True)
class _Description:
    """What Signature.xml says (only the fields verification uses)."""

    provider: dict[str, str]
    signature_method: str | None
    signature_datetime: str | None
    check_method: str | None
    references: tuple[tuple[str, str], ...]
    seal_loc: str | None
    signed_value_loc: str | None
    notes: tuple[str, ...] = field(default=())


def _describe(root: ElementTree.Element) -> _Description:
    if _local(root.tag) != "Signature":
        raise OFDFormatError(f"root element is {_local(root.tag)!r}, not Signature")
    notes: list[str] = []
    info = _child(root, "SignedInfo")
    if info is None:
        raise OFDFormatError("Signature.xml has no SignedInfo")
    provider: dict[str, str] = {}
    provider_el = _child(info, "Provider")
    if provider_el is not None:
        for key in ("ProviderName", "Version", "Company", "ProtocolVer"):
            value = provider_el.get(key) or _text(_child(provider_el, key))
            if value:
                provider[key] = value
    refs_el = _child(info, "References")
    references: list[tuple[str, str]] = []
    check_method = None
    if refs_el is not None:
        check_method = refs_el.get("CheckMethod")
        for ref in _children(refs_el, "Reference"):
            references.append((ref.get("FileRef") or "", _text(_child(ref, "CheckValue"))))
    seal_el = _child(info, "Seal")
    seal_loc = _text(_child(seal_el, "BaseLoc")) if seal_el is not None else None
    values = [_text(el) for el in _children(root, "SignedValue")]
    non_empty = [v for v in values if v]
    if len(non_empty) < len(values):
        notes.append("an empty <SignedValue/> element was ignored")
    if len(set(non_empty)) > 1:
        notes.append(f"several SignedValue paths {non_empty}; the first is used")
    return _Description(
        provider=provider,
        signature_method=_text(_child(info, "SignatureMethod")) or None,
        signature_datetime=_text(_child(info, "SignatureDateTime")) or None,
        check_method=check_method,
        references=tuple(references),
        seal_loc=seal_loc or None,
        signed_value_loc=non_empty[0] if non_empty else None,
        notes=tuple(notes),
    )


# -- digests ----------------------------------------------------------------------------------
def _digest_method(check_method: str | None) -> tuple[str, Callable[[bytes], bytes], str | None] | None:
    """(label, digest function, warning) for a CheckMethod; ``None`` when unknown."""
    if check_method is None or not check_method.strip():
        return (
            "MD5",
            lambda d: hashlib.md5(d, usedforsecurity=False).digest(),
            "no CheckMethod: the OFD default MD5 applies (weak)",
        )
    value = check_method.strip()
    key = value.upper().replace("-", "")
    if key in ("SM3", "1.2.156.10197.1.401"):
        return "SM3", hsm.sm3, None
    if key == "1.2.156.10197.1.401.2":
        return "SM3", hsm.sm3, f"non-standard CheckMethod OID {value} read as SM3 (1.2.156.10197.1.401)"
    if key in ("SHA256", "2.16.840.1.101.3.4.2.1"):
        return "SHA-256", lambda d: hashlib.sha256(d).digest(), None
    if key in ("SHA1", "1.3.14.3.2.26"):
        return "SHA-1", lambda d: hashlib.sha1(d, usedforsecurity=False).digest(), "CheckMethod SHA-1 is weak"
    if key in ("MD5", "1.2.840.113549.2.5"):
        return "MD5", lambda d: hashlib.md5(d, usedforsecurity=False).digest(), "CheckMethod MD5 is weak"
    return None


# -- one signature --------------------------------------------------------------------------
@dataclass
class _Context:
    package: OFDPackage
    trust: TrustContext
    now: datetime
    tst_verifier: TSTVerifier | None
    cms_verifier: CMSVerifier | None
    signer_cert: bytes | None
    signatures_paths: set[str]


def _resolve(builder: ReportBuilder, ctx: _Context, base: str, ref: str, what: str) -> str:
    """Resolve ``ref`` from ``base``; a relative path that only exists from the root is
    accepted with a warning (producers that write root-relative paths without the slash)."""
    path = resolve_path(base, ref)
    if not ctx.package.has(path) and not ref.strip().startswith("/"):
        from_root = resolve_path("/", ref)
        if ctx.package.has(from_root):
            builder.warn("paths", f"{what} {ref!r} in {base} resolved from the package root ({from_root})")
            return from_root
    return path


def _check_references(builder: ReportBuilder, ctx: _Context, entry: _SignatureEntry, desc: _Description) -> set[str]:
    covered: set[str] = set()
    method = _digest_method(desc.check_method)
    if method is None:
        builder.fail("references", FORMAT_FAILURE, f"unknown CheckMethod {desc.check_method!r}")
        return covered
    label, digest, warning = method
    if warning:
        builder.warn("references.method", warning)
    if not desc.references:
        builder.warn("references", "the signature protects no package file (no Reference)")
        return covered
    bad: list[str] = []
    for file_ref, check_value in desc.references:
        name = f"references[{file_ref}]"
        try:
            path = _resolve(builder, ctx, entry.path, file_ref, "FileRef")
        except OFDFormatError as exc:
            builder.fail(name, FORMAT_FAILURE, f"unusable FileRef: {exc.message}")
            bad.append(file_ref)
            continue
        covered.add(path)
        try:
            expected = base64.b64decode(check_value, validate=True)
        except (binascii.Error, ValueError):
            builder.fail(name, FORMAT_FAILURE, f"CheckValue of {path} is not base64")
            bad.append(path)
            continue
        try:
            data = ctx.package.read(path)
        except OFDFormatError as exc:
            builder.fail(name, HASH_FAILURE, f"{path} is protected by the signature but cannot be read: {exc.message}")
            bad.append(path)
            continue
        if digest(data) == expected:
            builder.passed(name, f"{label} of {path} matches")
            continue
        detail = f"{label} of {path} differs from its CheckValue: the part was changed after signing"
        if path in ctx.signatures_paths:
            detail += " (this signature locked the signature list; a signature was added or removed afterwards)"
        builder.fail(name, HASH_FAILURE, detail)
        bad.append(path)
    total = len(desc.references)
    if bad:
        builder.fail("references", HASH_FAILURE, f"{len(bad)} of {total} protected parts fail: {', '.join(bad)}")
    else:
        builder.passed("references", f"all {total} protected parts match ({label})")
    return covered


def _claimed_time(builder: ReportBuilder, desc: _Description) -> datetime | None:
    if not desc.signature_datetime:
        return None
    parsed = parse_time_text(desc.signature_datetime)
    if parsed is None:
        builder.warn("signature_datetime", f"SignatureDateTime {desc.signature_datetime!r} is not a recognised time")
        return None
    if parsed.zone_assumed:
        builder.warn(
            "signature_datetime", f"SignatureDateTime {desc.signature_datetime!r} has no zone; read as UTC+08:00"
        )
    return parsed.value


def _merge(builder: ReportBuilder, report: VerificationReport, name: str, prefix: str) -> None:
    builder.extend(report.checks, prefix)
    builder.warnings.extend(report.warnings)
    builder.trust_path.extend(report.trust_path)
    builder.status_now.update(report.status_now)
    builder.signing_time = report.signing_time
    builder.object.update({k: v for k, v in report.object.items() if k != "kind"})
    if report.indication is Indication.FAILED:
        builder.fail(name, report.sub_indication or FORMAT_FAILURE, report.message)
    elif report.indication is Indication.INDETERMINATE:
        builder.indeterminate(name, report.sub_indication or TRY_LATER, report.message, result="warning")
    else:
        builder.passed(name, report.message)


def _verify_seal_type(
    builder: ReportBuilder, ctx: _Context, entry: _SignatureEntry, desc: _Description, value: bytes, sig_xml: bytes
) -> set[str]:
    own: set[str] = set()
    report = verify_ses_signature(value, original=sig_xml, trust=ctx.trust, now=ctx.now, tst_verifier=ctx.tst_verifier)
    try:
        parsed = parse_ses_signature(value)
    except SESFormatError:
        parsed = None
    if desc.seal_loc:
        try:
            seal_path = _resolve(builder, ctx, entry.path, desc.seal_loc, "Seal BaseLoc")
            own.add(seal_path)
            seal_file = ctx.package.read(seal_path)
        except OFDFormatError as exc:
            builder.fail("seal_file", FORMAT_FAILURE, f"Seal/BaseLoc: {exc.message}")
        else:
            if parsed is None:
                builder.skipped("seal_file", "the SES signature is unreadable, so Seal.esl was not compared")
            elif seal_file == parsed.seal_der:
                builder.passed("seal_file", f"{seal_path} equals the seal signed inside TBS_Sign")
            else:
                builder.fail(
                    "seal_file",
                    HASH_FAILURE,
                    f"{seal_path} differs from the seal signed inside TBS_Sign: the displayed seal is not the signed one",
                )
    if parsed is not None and parsed.property_info.strip() != entry.path:
        builder.warn(
            "property_info", f"propertyInfo {parsed.property_info!r} does not name this Signature.xml ({entry.path})"
        )
    _merge(builder, report, "ses", "ses.")
    return own


def _signed_value_kind(value: bytes) -> str | None:
    """``cms`` for a ContentInfo(signedData), ``raw`` for a bare signature value, else None."""
    try:
        kids = _der.read(value, "SignedValue").sequence()
        if kids and kids[0].is_universal(_der.OID):
            return "cms" if kids[0].oid() in (OID_GM_SIGNED_DATA, OID_PKCS7_SIGNED_DATA) else None
    except SESFormatError:
        pass
    return "raw" if normalise_signature(value).der is not None else None


def _verify_sign_type(builder: ReportBuilder, ctx: _Context, desc: _Description, value: bytes, sig_xml: bytes) -> None:
    claimed = _claimed_time(builder, desc)
    kind = _signed_value_kind(value)
    if kind == "cms":
        builder.object["signed_value_format"] = "GB/T 35275 SignedData"
        if ctx.cms_verifier is None:
            builder.indeterminate(
                "sign.cms",
                TRY_LATER,
                "SignedValue is GB/T 35275 SignedData; no CMS verifier is available, so it could not be verified",
                result="skipped",
            )
            return
        try:
            checks, cert_der, cms_time = ctx.cms_verifier(value, sig_xml)
        except TrustSvcError as exc:
            builder.fail("sign.cms", FORMAT_FAILURE, f"SignedData unreadable: {exc.message}")
            return
        checks = tuple(checks)
        builder.extend(checks, "sign.cms.")
        failed = [c for c in checks if c.failed]
        if failed:
            sub = HASH_FAILURE if any("digest" in c.name.lower() for c in failed) else SIG_CRYPTO_FAILURE
            builder.fail("sign.cms", sub, f"GB/T 35275 SignedData does not verify: {failed[0].detail}")
        else:
            builder.passed("sign.cms", "GB/T 35275 SignedData verifies over Signature.xml")
        at = aware(cms_time) if cms_time is not None else claimed or ctx.now
        builder.signing_time = at
        if cert_der:
            assess_certificate(
                builder, "signer", cert_der, trust=ctx.trust, at=at, now=ctx.now, required_key_usage=SIGNING_KEY_USAGE
            )
        else:
            builder.indeterminate(
                "signer", NO_SIGNING_CERTIFICATE_FOUND, "the SignedData names no usable signer certificate"
            )
        return
    if kind == "raw":
        builder.object["signed_value_format"] = "bare SM2 signature"
        _verify_bare_signature(builder, ctx, desc, value, sig_xml, claimed)
        return
    builder.fail(
        "sign.format", FORMAT_FAILURE, "SignedValue is neither GB/T 35275 SignedData nor an SM2 signature value"
    )


def _verify_bare_signature(
    builder: ReportBuilder, ctx: _Context, desc: _Description, value: bytes, sig_xml: bytes, claimed: datetime | None
) -> None:
    """ofdrw's DigitalSign: a signature over Signature.xml and no certificate in the package."""
    normalised = normalise_signature(value)
    for warning in normalised.warnings:
        builder.warn("sign.value", warning)
    algorithm = desc.signature_method or OID_SM3_WITH_SM2
    explicit = [ctx.signer_cert] if ctx.signer_cert else []
    candidates = explicit + [c for c in ctx.trust.intermediates if c not in explicit]
    found = None
    for der in candidates:
        try:
            cert = parse_certificate(der)
            hsm.verify(cert.spki, sig_xml, normalised.der or b"")
        except (CertificateError, hsm.InvalidSignature, TrustSvcError):
            continue
        found = cert
        break
    if found is None:
        if ctx.signer_cert:
            try:
                cert = parse_certificate(ctx.signer_cert)
            except CertificateError as exc:
                builder.fail(
                    "sign.value", FORMAT_FAILURE, f"the supplied signer certificate is unreadable: {exc.message}"
                )
                return
            verify_signature_value(
                builder,
                "sign.value",
                "signature over Signature.xml",
                cert,
                algorithm,
                sig_xml,
                normalised.der,
                normalised.problem,
            )
            return
        detail = (
            f"none of the {len(candidates)} supplied certificates verifies it"
            if candidates
            else "the package carries no certificate; supply the signer certificate"
        )
        builder.indeterminate(
            "sign.value", NO_SIGNING_CERTIFICATE_FOUND, f"bare signature over Signature.xml: {detail}", result="skipped"
        )
        return
    verify_signature_value(
        builder,
        "sign.value",
        "signature over Signature.xml",
        found,
        algorithm,
        sig_xml,
        normalised.der,
        normalised.problem,
    )
    builder.object["signer"] = found.subject_str
    at = claimed or ctx.now
    if claimed is None:
        builder.warn("signature_datetime", "no SignatureDateTime; the signer certificate is judged now")
    builder.signing_time = at
    assess_certificate(
        builder, "signer", found.der, trust=ctx.trust, at=at, now=ctx.now, required_key_usage=SIGNING_KEY_USAGE
    )


def _verify_signature(
    ctx: _Context, entry: _SignatureEntry, known_ids: set[str]
) -> tuple[VerificationReport, set[str]]:
    builder = ReportBuilder("ofd_signature", id=entry.id, type=entry.type, base_loc=entry.base_loc, path=entry.path)
    covered: set[str] = {entry.path}
    try:
        sig_xml = ctx.package.read(entry.path)
        desc = _describe(_parse_xml(sig_xml, entry.path, ctx.package.limits))
    except OFDFormatError as exc:
        builder.fail("signature_xml", FORMAT_FAILURE, f"Signature.xml unusable: {exc.message}")
        return builder.build(), covered
    builder.passed("signature_xml", f"{entry.path} read ({len(sig_xml)} bytes)")
    for note in desc.notes:
        builder.warn("signature_xml", note)
    builder.object.update(
        provider=desc.provider,
        signature_method=desc.signature_method,
        signature_datetime=desc.signature_datetime,
        check_method=desc.check_method,
        references=len(desc.references),
        signed_value=desc.signed_value_loc,
    )
    if entry.relative is not None:
        if entry.relative in known_ids:
            builder.passed("relative", f"based on signature {entry.relative}, which is verified as well")
        else:
            builder.fail(
                "relative", FORMAT_FAILURE, f"Relative names signature {entry.relative!r}, which is not in the list"
            )
    covered |= _check_references(builder, ctx, entry, desc)
    if desc.signed_value_loc is None:
        builder.fail("signed_value", FORMAT_FAILURE, "Signature.xml names no SignedValue")
        return builder.build(), covered
    try:
        value_path = _resolve(builder, ctx, entry.path, desc.signed_value_loc, "SignedValue")
        covered.add(value_path)
        value = ctx.package.read(value_path)
    except OFDFormatError as exc:
        builder.fail("signed_value", FORMAT_FAILURE, f"SignedValue: {exc.message}")
        return builder.build(), covered
    builder.passed("signed_value", f"{value_path} read ({len(value)} bytes)")
    if entry.type == "Seal":
        covered |= _verify_seal_type(builder, ctx, entry, desc, value, sig_xml)
    elif entry.type == "Sign":
        _verify_sign_type(builder, ctx, desc, value, sig_xml)
    else:
        builder.fail("type", FORMAT_FAILURE, f"unknown signature Type {entry.type!r} (Seal or Sign)")
    return builder.build(), covered


# -- the document ---------------------------------------------------------------------------
def _signature_lists(package: OFDPackage) -> list[str]:
    root = _parse_xml(package.read("/OFD.xml"), "/OFD.xml", package.limits)
    if _local(root.tag) != "OFD":
        raise OFDFormatError(f"OFD.xml root element is {_local(root.tag)!r}, not OFD")
    bodies = _children(root, "DocBody")
    if not bodies:
        raise OFDFormatError("OFD.xml has no DocBody")
    lists = []
    for body in bodies:
        ref = _text(_child(body, "Signatures"))
        if ref:
            lists.append(resolve_path("/OFD.xml", ref))
    return lists


def _entries(package: OFDPackage, list_path: str) -> list[_SignatureEntry]:
    root = _parse_xml(package.read(list_path), list_path, package.limits)
    if _local(root.tag) != "Signatures":
        raise OFDFormatError(f"{list_path} root element is {_local(root.tag)!r}, not Signatures")
    entries = []
    for i, el in enumerate(_children(root, "Signature")):
        base_loc = (el.get("BaseLoc") or "").strip()
        if not base_loc:
            raise OFDFormatError(f"signature #{i} in {list_path} has no BaseLoc")
        path = resolve_path(list_path, base_loc)
        if not package.has(path) and not base_loc.startswith("/") and package.has(resolve_path("/", base_loc)):
            path = resolve_path("/", base_loc)
        entries.append(
            _SignatureEntry(
                id=el.get("ID") or f"#{i}",
                type=(el.get("Type") or "Seal").strip(),
                base_loc=base_loc,
                path=path,
                relative=el.get("Relative"),
                signatures_xml=list_path,
            )
        )
    return entries


def verify_ofd(
    data: bytes,
    *,
    trust: TrustContext = NO_TRUST,
    now: datetime | None = None,
    tst_verifier: TSTVerifier | None = None,
    cms_verifier: CMSVerifier | None = None,
    signer_cert: bytes | None = None,
    limits: PackageLimits = DEFAULT_LIMITS,
) -> VerificationReport:
    """Verify every signature in an OFD package.

    :param signer_cert: the signer certificate for bare (certificate-less) ``Type="Sign"``
        signature values; certificates in ``trust.intermediates`` are tried as well.
    :param cms_verifier: verifies GB/T 35275 SignedData (``Type="Sign"``); absent, such
        signatures are INDETERMINATE.
    :returns: kind ``ofd``; ``object["signatures"]`` holds each signature's report (as a
        dict); the indication is the worst of them.
    """
    now_ = aware(now) if now is not None else datetime.now(UTC)
    builder = ReportBuilder("ofd")
    try:
        _verify_package(builder, data, trust, now_, tst_verifier, cms_verifier, signer_cert, limits)
    except OFDFormatError as exc:
        builder.fail("package", FORMAT_FAILURE, f"not a readable OFD package: {exc.message}")
    except Exception as exc:
        log.exception("unexpected error while verifying an OFD package")
        builder.fail(
            "internal_error", FORMAT_FAILURE, f"the package could not be processed ({type(exc).__name__}: {exc})"
        )
    return builder.build()


def _verify_package(
    builder: ReportBuilder,
    data: bytes,
    trust: TrustContext,
    now: datetime,
    tst_verifier: TSTVerifier | None,
    cms_verifier: CMSVerifier | None,
    signer_cert: bytes | None,
    limits: PackageLimits,
) -> None:
    package = OFDPackage(bytes(data), limits)
    builder.object["files"] = len(package.paths)
    builder.passed("package", f"zip package with {len(package.paths)} files")
    lists = _signature_lists(package)
    builder.object["signatures"] = []
    if not lists:
        builder.fail("signatures", FORMAT_FAILURE, "the document carries no signatures (no DocBody/Signatures)")
        return
    entries: list[_SignatureEntry] = []
    for list_path in lists:
        entries.extend(_entries(package, list_path))
    if not entries:
        builder.fail("signatures", FORMAT_FAILURE, "the signature list is empty")
        return
    if len(entries) > _MAX_SIGNATURES:
        raise OFDFormatError(f"{len(entries)} signatures, more than {_MAX_SIGNATURES}")
    ctx = _Context(package, trust, now, tst_verifier, cms_verifier, signer_cert, set(lists))
    known_ids = {e.id for e in entries}
    covered: set[str] = set(lists)
    reports = []
    for entry in entries:
        report, files = _verify_signature(ctx, entry, known_ids)
        covered |= files
        reports.append(report)
        name = f"signatures[{entry.id}]"
        summary = f"signature {entry.id} ({entry.type}, {entry.path}): {report.message}"
        if report.indication is Indication.FAILED:
            builder.fail(name, report.sub_indication or FORMAT_FAILURE, summary)
        elif report.indication is Indication.INDETERMINATE:
            builder.indeterminate(name, report.sub_indication or TRY_LATER, summary, result="warning")
        else:
            builder.passed(name, summary)
        builder.status_now[entry.id] = dict(report.status_now)
    builder.object["signatures"] = [r.as_dict() for r in reports]
    signing_times = [r.signing_time for r in reports if r.signing_time is not None]
    builder.signing_time = min(signing_times) if signing_times else None
    uncovered = sorted(package.paths - covered)
    builder.object["uncovered"] = uncovered
    if uncovered:
        for path in uncovered:
            builder.warn("package.coverage", f"{path} is not covered by any signature")
    else:
        builder.passed("package.coverage", "every file in the package is covered by a signature")
