"""Building a CMS SignedData with SM2 (:func:`sign_cms`).

Building (:func:`sign_cms`): SM3 digest (SHA-256 for P-256 keys); signed attributes
contentType, messageDigest, signingTime and signingCertificateV2 (RFC 5035 ESSCertIDv2 naming
its hash algorithm, SM3 - a SHA-256 ID is the DEFAULT and so, in DER, left out); the signature
covers the DER ``SET OF`` the attributes; ``sid`` is issuerAndSerialNumber. The
signatureAlgorithm written is SM2-with-SM3 ``1.2.156.10197.1.501``: that is what GB/T 35275 and
GM/T 0015 use for certificates and what OpenSSL, GmSSL, iText-SM2 and ofdrw emit. GM/T 0010's
own ``sm2-1`` ``1.2.156.10197.1.301.1`` (CFCA SADK, YNCA) and the bare SM2 OID are accepted on
verification. Content types use PKCS#7 OIDs (``1.2.840.113549.1.7.x``) unless ``gm_oids`` asks
for GM/T 0010's (``1.2.156.10197.6.1.4.2.x``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar

from asn1crypto import algos, cms, core, tsp, x509

import hsm
from hsm import KeyAlgorithm

from .. import oids  # noqa: F401  (registration before any asn1crypto use)
from .._encoding import strip_micro, utc
from .._signature import same_public_key
from ..certs import ParsedCertificate, parse_certificate
from ..errors import CAError
from ..oids import SMOID
from .signed_data import _DATA_TYPES, _DOTTED, CT_DATA, CT_SIGNED_DATA, HASH_OIDS, CMSError, hash_data
from .verify import verify_cms

# ------------------------------------------------------------------------------------------
# building


def _content_type_oid(content_type: str, gm_oids: bool) -> str:
    if content_type == "data":
        return SMOID.GM_DATA if gm_oids else CT_DATA
    if isinstance(content_type, str) and _DOTTED.match(content_type):
        return content_type
    try:
        return cms.ContentType(content_type).dotted
    except Exception as exc:
        raise CMSError(f"unknown content type {content_type!r}; give a dotted OID", code="bad_content_type") from exc


def _econtent_value(version: str, ct_oid: str, content: bytes) -> core.Asn1Value:
    """eContent as asn1crypto wants it: a v1 SignedData reads its content info as PKCS#7
    ContentInfo (``data`` is its OCTET STRING; other types an ANY, which does not add the
    ``[0]`` tag itself), v3 as CMS EncapsulatedContentInfo (a ParsableOctetString). Either way
    the bytes are encoded as ``[0] EXPLICIT OCTET STRING``."""
    if version != "v1":
        return core.ParsableOctetString(content)
    if cms.ContentType(ct_oid).native in cms.ContentInfo._oid_specs:
        return core.OctetString(content)
    return core.OctetString(content, explicit=0)


_V = TypeVar("_V", bound=core.Asn1Value)


def _frozen(value: _V) -> _V:
    """``value`` re-loaded from its own DER. asn1crypto keeps a freshly built structure
    "mutated" and re-encodes all of it each time a parent asks for its bytes; under the SET OF
    sorting of signed attributes that compounded to 5 ms for one signingCertificateV2."""
    return type(value).load(value.dump())


def _issuer_name(cert: ParsedCertificate) -> x509.Name:
    return x509.Name.load(cert.issuer.dump())  # a copy: the parsed certificate is shared


def sign_cms(
    content: bytes,
    *,
    signer: hsm.Signer,
    signer_cert: bytes | ParsedCertificate,
    extra_certs: Iterable[bytes | ParsedCertificate] = (),
    detached: bool = True,
    signed_attributes: bool = True,
    gm_oids: bool = False,
    content_type: str = "data",
    signing_time: datetime | None = None,
    include_certificates: bool = True,
) -> bytes:
    """Sign ``content``; return the ContentInfo DER of a SignedData.

    :param content_type: ``"data"`` (PKCS#7 or GM data per ``gm_oids``), a dotted OID (e.g. a
        JSON trust-list type) or an asn1crypto content-type name such as ``"tst_info"``.
    :param signed_attributes: False signs the content itself (CFCA SADK shape); only allowed
        for data content (RFC 5652 §5.3).
    :param signing_time: default now (UTC, whole seconds).
    :param include_certificates: False leaves ``certificates`` out (RFC 3161 certReq false).
    :raises CAError: bad inputs, a signer that does not hold the certificate's key, or a
        signature that does not verify afterwards (code ``signer_fault``).
    """
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise CMSError("content must be bytes")
    content = bytes(content)
    cert = parse_certificate(signer_cert)
    if not same_public_key(cert.spki, signer.public_key):
        raise CAError(f"the signer {signer.key_ref} does not hold the key of {cert.subject_str!r}", code="key_mismatch")
    ct_oid = _content_type_oid(content_type, gm_oids)
    if not signed_attributes and ct_oid not in _DATA_TYPES:
        raise CMSError(
            "content other than data needs signed attributes (RFC 5652 §5.3)", code="signed_attributes_required"
        )
    extras = [parse_certificate(c) for c in extra_certs]
    digest = "sm3" if signer.algorithm is KeyAlgorithm.SM2 else "sha256"
    digest_alg = algos.DigestAlgorithm({"algorithm": HASH_OIDS[digest]})
    try:
        when = strip_micro(utc(signing_time) if signing_time is not None else datetime.now(UTC))
    except (TypeError, ValueError) as exc:
        raise CMSError(f"signing_time: {exc}") from exc

    signed_attrs: cms.CMSAttributes | None = None
    if signed_attributes:
        time_value = cms.Time(name="utc_time" if 1950 <= when.year < 2050 else "generalized_time", value=when)
        ess = _frozen(
            tsp.ESSCertIDv2(
                {
                    "hash_algorithm": {"algorithm": HASH_OIDS[digest]},
                    "cert_hash": hash_data(digest, cert.der),
                    "issuer_serial": {
                        "issuer": [x509.GeneralName(name="directory_name", value=_issuer_name(cert))],
                        "serial_number": cert.serial,
                    },
                }
            )
        )
        attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": [cms.ContentType(ct_oid)]},
                {"type": "message_digest", "values": [hash_data(digest, content)]},
                {"type": "signing_time", "values": [time_value]},
                {"type": "signing_certificate_v2", "values": [_frozen(tsp.SigningCertificateV2({"certs": [ess]}))]},
            ]
        )
        attrs_der = attrs.dump()  # DER: asn1crypto sorts the SET OF
        signature = signer.sign(attrs_der)
        signed_attrs = cms.CMSAttributes.load(attrs_der)
    else:
        signature = signer.sign(content)

    signer_info: dict[str, object] = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": _issuer_name(cert), "serial_number": cert.serial},
        ),
        "digest_algorithm": digest_alg,
        "signature_algorithm": {"algorithm": signer.signature_algorithm_oid},
        "signature": signature,
    }
    if signed_attrs is not None:
        signer_info["signed_attrs"] = signed_attrs
    # RFC 5652 §5.1: v1 for data; v3 for other eContentTypes. GM/T 0010 always says 1.
    version = "v1" if (ct_oid in _DATA_TYPES or gm_oids) else "v3"
    encap: dict[str, object] = {"content_type": cms.ContentType(ct_oid)}
    if not detached:
        encap["content"] = _econtent_value(version, ct_oid, content)
    signed: dict[str, object] = {
        "version": version,
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": HASH_OIDS[digest]})],
        "encap_content_info": encap,
        "signer_infos": [signer_info],
    }
    if include_certificates:
        ders = [cert.der] + [c.der for c in extras if c.der != cert.der]
        signed["certificates"] = [
            cms.CertificateChoices(name="certificate", value=x509.Certificate.load(d)) for d in ders
        ]
    outer = SMOID.GM_SIGNED_DATA if gm_oids else CT_SIGNED_DATA
    der = cms.ContentInfo({"content_type": cms.ContentType(outer), "content": cms.SignedData(signed)}).dump()

    check = verify_cms(
        der, detached_content=content if detached else None, certificates=[] if include_certificates else [cert.der]
    )
    if not check.valid:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in check.checks if c.failed)
        raise CAError(f"the new SignedData does not verify ({failed})", code="signer_fault")
    return der
