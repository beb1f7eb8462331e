"""Reading certificates: one eager, immutable view of what trustsvc needs from an X.509 cert.

asn1crypto parses lazily, so a malformed field would otherwise surface as some ``ValueError``
deep inside a verifier. :func:`parse_certificate` touches every field trustsvc uses up front
and turns any failure into :class:`CertificateError`; nothing else escapes, whatever the input
bytes (the tests fuzz this). Results are cached per DER, since verifiers meet the same CA
certificates over and over.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import cms, keys, x509

import hsm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import as_utc_datetime, is_pem, unarmor_all, utc
from ._signature import verify_signed
from .errors import CertificateError
from .names import format_name, name_key

__all__ = [
    "ParsedCertificate",
    "parse_certificate",
    "load_certificates",
    "verify_certificate_signature",
    "subject_key_identifier",
]

_PEM_CERT_TYPES = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_PKCS7_PEM_TYPES = frozenset({"PKCS7", "CMS"})
_SIGNED_DATA_TYPES = frozenset({"signed_data", "gm_signed_data"})


@dataclass(frozen=True, eq=False)
class ParsedCertificate:
    """A certificate, parsed and checked for well-formedness (not for trust).

    Equality and hashing are by DER. ``eku`` holds both the dotted OID and, when asn1crypto
    knows one, the name of each extended key usage, so ``"1.3.6.1.5.5.7.3.36" in c.eku`` and
    ``"document_signing" in c.eku`` both work.
    """

    der: bytes
    tbs_der: bytes
    signature: bytes
    signature_algorithm_oid: str
    """Outer ``signatureAlgorithm``."""
    tbs_signature_algorithm_oid: str
    """``tbsCertificate.signature``; must equal the outer one to verify."""
    signature_algorithm_der: bytes
    tbs_signature_algorithm_der: bytes
    signature_parameters_der: bytes
    """DER of the outer algorithm's parameters (``b""`` when absent)."""
    spki: bytes
    """SubjectPublicKeyInfo DER, verbatim."""
    public_key_algorithm_oid: str
    public_key_point: bytes
    """The subjectPublicKey BIT STRING contents (an uncompressed EC point for SM2 / P-256)."""
    version: int
    serial: int
    subject: x509.Name = field(repr=False)
    issuer: x509.Name = field(repr=False)
    subject_str: str
    issuer_str: str
    subject_key: str = field(repr=False)
    """Normalised subject for comparisons (RFC 5280 §7.1)."""
    issuer_key: str = field(repr=False)
    not_before: datetime
    not_after: datetime
    key_usage: frozenset[str]
    """asn1crypto names, e.g. ``digital_signature``; empty when the extension is absent."""
    eku: frozenset[str]
    is_ca: bool
    path_len: int | None
    ski: bytes | None
    aki: bytes | None
    crl_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    ca_issuers_urls: tuple[str, ...]
    ocsp_no_check: bool
    extensions: frozenset[str]
    """Names (or dotted OIDs) of every extension present."""
    critical_extensions: frozenset[str]
    sha256: str
    """Hex SHA-256 of the DER (the fingerprint peers pin)."""
    sm3: str
    """Hex SM3 of the DER."""
    asn1: x509.Certificate = field(repr=False)
    """The asn1crypto object, for callers that need a field not lifted here.

    .. warning:: shared through the parse cache: read it, never modify it (nor ``subject`` /
       ``issuer``); copy with ``type(x).load(x.dump())`` first."""

    @property
    def is_self_issued(self) -> bool:
        """Subject and issuer names match (RFC 5280). Says nothing about who signed it."""
        return self.subject_key == self.issuer_key

    @property
    def has_key_usage(self) -> bool:
        return "key_usage" in self.extensions

    @property
    def has_eku(self) -> bool:
        return "extended_key_usage" in self.extensions

    @property
    def pem(self) -> str:
        body = base64.encodebytes(self.der).decode("ascii").replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"

    def valid_at(self, at: datetime) -> bool:
        """``not_before <= at <= not_after`` (inclusive, RFC 5280 §4.1.2.5)."""
        return self.not_before <= utc(at) <= self.not_after

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParsedCertificate) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)

    def __repr__(self) -> str:
        return f"<ParsedCertificate {self.subject_str!r} serial={self.serial:x} sha256={self.sha256[:16]}>"


def subject_key_identifier(spki: bytes) -> bytes:
    """trustsvc's SKI: the leftmost 160 bits of SM3 over the subjectPublicKey BIT STRING value.

    RFC 7093 §2 method 1 with SM3 in place of SHA-256. Hashing the point (not the whole SPKI)
    gives one identifier for both SM2 SPKI forms of the same key.
    """
    try:
        info = keys.PublicKeyInfo.load(spki, strict=True)
        point = info["public_key"].contents[1:]  # drop the unused-bits octet
    except Exception as exc:
        raise CertificateError("public key is not a SubjectPublicKeyInfo") from exc
    return hsm.sm3(point)[:20]


def _general_name_uris(general_names: x509.GeneralNames) -> list[str]:
    return [gn.native for gn in general_names if gn.name == "uniform_resource_identifier"]


def _parse_extensions(tbs: x509.TbsCertificate) -> dict[str, object]:
    """Lift the extensions trustsvc interprets; raise ``ValueError`` on a malformed one."""
    out: dict[str, object] = {
        "key_usage": frozenset(),
        "eku": frozenset(),
        "is_ca": False,
        "path_len": None,
        "ski": None,
        "aki": None,
        "crl_urls": (),
        "ocsp_urls": (),
        "ca_issuers_urls": (),
        "ocsp_no_check": False,
    }
    names: set[str] = set()
    critical: set[str] = set()
    for ext in tbs["extensions"]:
        oid = ext["extn_id"].dotted
        name = ext["extn_id"].native
        if oid in names or name in names:
            raise ValueError(f"duplicate extension {name}")
        names.add(name)
        if ext["critical"].native:
            critical.add(name)
        if name == "key_usage":
            out["key_usage"] = frozenset(ext["extn_value"].parsed.native)
        elif name == "extended_key_usage":
            usages: set[str] = set()
            for purpose in ext["extn_value"].parsed:
                usages.add(purpose.dotted)
                usages.add(purpose.native)
            out["eku"] = frozenset(usages)
        elif name == "basic_constraints":
            bc = ext["extn_value"].parsed.native
            out["is_ca"] = bool(bc["ca"])
            out["path_len"] = bc["path_len_constraint"]
        elif name == "key_identifier":
            out["ski"] = ext["extn_value"].parsed.native
        elif name == "authority_key_identifier":
            out["aki"] = ext["extn_value"].parsed["key_identifier"].native
        elif name == "crl_distribution_points":
            urls: list[str] = []
            for dp in ext["extn_value"].parsed:
                point = dp["distribution_point"]
                if point.name == "full_name":
                    urls.extend(_general_name_uris(point.chosen))
            out["crl_urls"] = tuple(urls)
        elif name == "authority_information_access":
            ocsp: list[str] = []
            issuers: list[str] = []
            for desc in ext["extn_value"].parsed:
                location = desc["access_location"]
                if location.name != "uniform_resource_identifier":
                    continue
                method = desc["access_method"].native
                if method == "ocsp":
                    ocsp.append(location.native)
                elif method == "ca_issuers":
                    issuers.append(location.native)
            out["ocsp_urls"], out["ca_issuers_urls"] = tuple(ocsp), tuple(issuers)
        elif name == "ocsp_no_check":
            out["ocsp_no_check"] = True
    path_len = out["path_len"]
    if path_len is not None and (not isinstance(path_len, int) or path_len < 0):
        raise ValueError("negative pathLenConstraint")
    out["extensions"] = frozenset(names)
    out["critical_extensions"] = frozenset(critical)
    return out


@functools.lru_cache(maxsize=1024)
def _parse_der(der: bytes) -> ParsedCertificate:
    try:
        cert = x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        outer_alg = cert["signature_algorithm"]
        inner_alg = tbs["signature"]
        spki = tbs["subject_public_key_info"]
        validity = tbs["validity"]
        subject, issuer = tbs["subject"], tbs["issuer"]
        serial = tbs["serial_number"].native
        if not isinstance(serial, int):
            raise ValueError("serial number is not an integer")
        signature = cert["signature_value"].native
        if not isinstance(signature, bytes):
            raise ValueError("signature is not a byte string")
        point = spki["public_key"].contents
        if not point:
            raise ValueError("empty subjectPublicKey")
        spki["algorithm"]["algorithm"].native  # noqa: B018 - forces the parse
        subject_str, issuer_str = format_name(subject), format_name(issuer)
        extensions = _parse_extensions(tbs)
        parsed = ParsedCertificate(
            der=der,
            tbs_der=tbs.dump(),
            signature=signature,
            signature_algorithm_oid=outer_alg["algorithm"].dotted,
            tbs_signature_algorithm_oid=inner_alg["algorithm"].dotted,
            signature_algorithm_der=outer_alg.dump(),
            tbs_signature_algorithm_der=inner_alg.dump(),
            signature_parameters_der=outer_alg["parameters"].dump(),
            spki=spki.dump(),
            public_key_algorithm_oid=spki["algorithm"]["algorithm"].dotted,
            public_key_point=point[1:],
            version={"v1": 1, "v2": 2, "v3": 3}[tbs["version"].native],
            serial=serial,
            subject=subject,
            issuer=issuer,
            subject_str=subject_str,
            issuer_str=issuer_str,
            subject_key=name_key(subject),
            issuer_key=name_key(issuer),
            not_before=as_utc_datetime(validity["not_before"].native, "notBefore"),
            not_after=as_utc_datetime(validity["not_after"].native, "notAfter"),
            sha256=hashlib.sha256(der).hexdigest(),
            sm3=hsm.sm3(der).hex(),
            asn1=cert,
            **extensions,  # type: ignore[arg-type]
        )
    except CertificateError:
        raise
    except Exception as exc:
        raise CertificateError(f"not a well-formed X.509 certificate: {_reason(exc)}") from exc
    return parsed


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _single_der(data: bytes) -> bytes:
    if not is_pem(data):
        return bytes(data)
    try:
        blocks = unarmor_all(data)
    except Exception as exc:
        raise CertificateError(f"broken PEM armour: {_reason(exc)}") from exc
    certs = [der for kind, der in blocks if kind in _PEM_CERT_TYPES]
    if len(certs) != 1 or len(blocks) != 1:
        raise CertificateError(
            f"expected exactly one CERTIFICATE PEM block, found {[kind for kind, _ in blocks]}; "
            "use load_certificates() for bundles"
        )
    return certs[0]


def parse_certificate(data: bytes | ParsedCertificate) -> ParsedCertificate:
    """Parse one certificate given as DER or PEM (a :class:`ParsedCertificate` passes through).

    :raises CertificateError: for anything that is not exactly one well-formed certificate.
    """
    if isinstance(data, ParsedCertificate):
        return data
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CertificateError(f"expected certificate bytes, not {type(data).__name__}")
    return _parse_der(_single_der(bytes(data)))


def _certs_from_pkcs7(der: bytes) -> list[ParsedCertificate]:
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native not in _SIGNED_DATA_TYPES:
            raise ValueError(f"PKCS#7 content type {info['content_type'].native} carries no certificates")
        signed = info["content"]
        ders = [choice.chosen.dump() for choice in signed["certificates"] if choice.name == "certificate"]
    except Exception as exc:
        raise CertificateError(f"not a PKCS#7 certificate bundle: {_reason(exc)}") from exc
    return [_parse_der(d) for d in ders]


def load_certificates(data: bytes) -> list[ParsedCertificate]:
    """Every certificate in a PEM bundle, a PKCS#7 certs-only bundle (PEM or DER) or one DER cert.

    Order is kept as given. :raises CertificateError: when any part is unreadable or there is
    no certificate at all.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CertificateError(f"expected certificate bytes, not {type(data).__name__}")
    data = bytes(data)
    found: list[ParsedCertificate] = []
    if is_pem(data):
        try:
            blocks = unarmor_all(data)
        except Exception as exc:
            raise CertificateError(f"broken PEM armour: {_reason(exc)}") from exc
        for kind, der in blocks:
            if kind in _PEM_CERT_TYPES:
                found.append(_parse_der(der))
            elif kind in _PKCS7_PEM_TYPES:
                found.extend(_certs_from_pkcs7(der))
            else:
                raise CertificateError(f"unexpected PEM block {kind!r} in a certificate bundle")
    else:
        try:
            found.append(_parse_der(data))
        except CertificateError as cert_error:
            try:
                found.extend(_certs_from_pkcs7(data))
            except CertificateError:
                raise cert_error from None
    if not found:
        raise CertificateError("no certificate found")
    return found


def verify_certificate_signature(cert: ParsedCertificate | bytes, issuer_spki: bytes | ParsedCertificate) -> str | None:
    """Check ``cert``'s signature under ``issuer_spki`` (SM2 with the default ID, or P-256).

    :returns: ``None``, or ``"sm2_id_empty"`` (:data:`ca._signature.SM2_ID_EMPTY`) when the SM2
        signature verifies only with OpenSSL 3's empty ID: valid, but to be reported.
    :raises SignatureAlgorithmError: algorithm refused, parameters wrong, outer and TBS
        algorithms differ, or the key does not fit the algorithm (also an ``InvalidSignature``).
    :raises InvalidSignature: the signature does not verify.
    """
    cert = parse_certificate(cert)
    spki = issuer_spki.spki if isinstance(issuer_spki, ParsedCertificate) else issuer_spki
    return verify_signed(
        what=f"certificate {cert.subject_str!r}",
        tbs=cert.tbs_der,
        signature=cert.signature,
        oid=cert.signature_algorithm_oid,
        parameters_der=cert.signature_parameters_der,
        outer_der=cert.signature_algorithm_der,
        inner_der=cert.tbs_signature_algorithm_der,
        spki=spki,
    )
