"""asn1crypto classes for the SES structures of GM/T 0031-2014 ("v1"), GB/T 38540-2020 ("v4")
and GM/T 0031-2025 ("v5"), as the standards define them.

These classes are what trustsvc *emits* (``make.py``) and what documents the formats. Reading
goes through :mod:`trustsvc.formats.seals.parse`, which walks the DER itself because real seals bend
the ASN.1 (UTCTime vs GeneralizedTime, OCTET vs BIT STRING, implicit or missing ``[0]`` tags,
non-certificate certList entries; docs/architecture.md) and every quirk must become a warning
rather than an exception. The untagged ``SES_CertList`` CHOICE has two SEQUENCE OF
alternatives that share one tag, so asn1crypto can *build* it but not tell the two apart when
*loading*: the parser decides by ``certListType`` and the element shape instead.

Tagging: ``timeStamp`` and ``TBS_Sign.extDatas`` are emitted as EXPLICIT ``[0]`` (as ofdrw
does); the parser also accepts implicit ``[0]`` and untagged forms.
"""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import core

__all__ = [
    # OIDs
    "OID_SM2",
    "OID_SM2_SIGN",
    "OID_SM3",
    "OID_SM3_NONSTANDARD",
    "OID_SM3_WITH_SM2",
    "OID_SHA1_WITH_SM2",
    "OID_SHA256_WITH_SM2",
    "OID_ECDSA_WITH_SHA256",
    "OID_SHA256",
    "OID_SHA1",
    "OID_MD5",
    "OID_GM_SIGNED_DATA",
    "OID_PKCS7_SIGNED_DATA",
    # shared
    "SESHeader",
    "ExtData",
    "ExtensionDatas",
    "SESPictureInfo",
    "CertInfoList",
    "CertDigestObj",
    "CertDigestList",
    "SESCertList",
    "der_sequence",
    # v1
    "SESPropertyInfoV1",
    "SESSealInfoV1",
    "SESSignInfoV1",
    "SESealV1",
    "SealSignInputV1",
    "TBSSignV1",
    "SESSignatureV1",
    # v4 / v5
    "SESPropertyInfoV4",
    "SESSealInfoV4",
    "SESealV4",
    "SESealV5",
    "TBSSignV4",
    "SESSignatureV4",
    "TBSSignV5",
    "SESSignatureV5",
]

# -- OIDs (GB/T 38540, GM/T 0006; never ofdrw's OIDs.java constants) ---------------------------
OID_SM2 = "1.2.156.10197.1.301"
OID_SM2_SIGN = "1.2.156.10197.1.301.1"
"""SM2-1 (the signature scheme). Some producers put it where SM3withSM2 belongs."""
OID_SM3 = "1.2.156.10197.1.401"
OID_SM3_NONSTANDARD = "1.2.156.10197.1.401.2"
"""Seen as an OFD CheckMethod (dms360); not a registered SM3 OID."""
OID_SM3_WITH_SM2 = "1.2.156.10197.1.501"
OID_SHA1_WITH_SM2 = "1.2.156.10197.1.502"
OID_SHA256_WITH_SM2 = "1.2.156.10197.1.503"
OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_SHA1 = "1.3.14.3.2.26"
OID_MD5 = "1.2.840.113549.2.5"
OID_GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
"""GB/T 35275 (GM/T 0010) signedData content type."""
OID_PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"


# -- definite lengths ending in 0x80 -------------------------------------------------------
# asn1crypto (1.5.1) takes any header whose last octet is 0x80 for BER's indefinite length and
# then re-encodes the value from its parsed children (dump(force=True)). But a definite
# long-form length ends in 0x80 too whenever its low byte is 0x80: ``30 83 01 3b 80`` is a
# SEQUENCE of 80,768 bytes. A seal of such a length, loaded to go into a TBS_Sign (or a TBS_Sign
# of such a length going into its SES_Signature), was then re-parsed in full; the untagged
# SES_CertList CHOICE cannot be told apart when loading (certificates were read as
# CertDigestObj: "method should have been constructed, but primitive was found"), and a seal
# re-encoded at all would no longer be the bytes its maker signed. A value parsed with an
# indefinite length keeps its end-of-contents octets (``00 00``) as its trailer; one without a
# trailer is definite, so its encoding is kept as it was received.
def _keeps_encoding(value: core.Asn1Value, force: bool) -> bool:
    header = value._header
    return not force and header is not None and header[-1:] == b"\x80" and not value._trailer


class _Sequence(core.Sequence):
    def dump(self, force: bool = False) -> bytes:
        if _keeps_encoding(self, force):
            contents = self.contents  # re-encodes changed children, and then drops the header
            if self._header is not None:
                return bytes(self._header + contents)
        return bytes(super().dump(force))


class _SequenceOf(core.SequenceOf):
    def dump(self, force: bool = False) -> bytes:
        if _keeps_encoding(self, force):
            contents = self.contents
            if self._header is not None:
                return bytes(self._header + contents)
        return bytes(super().dump(force))


# -- shared by all versions -----------------------------------------------------------------
class SESHeader(_Sequence):
    """``SES_Header ::= SEQUENCE { id IA5String ("ES"), version INTEGER, vid IA5String }``."""

    _fields = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class ExtData(_Sequence):
    """``ExtData ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }``."""

    _fields = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(_SequenceOf):
    _child_spec = ExtData


class SESPictureInfo(_Sequence):
    """``SES_ESPictrueInfo`` (sic): type ("PNG", "GIF", ...), data, width and height in mm."""

    _fields = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class CertInfoList(_SequenceOf):
    """``SEQUENCE OF Cert`` where ``Cert ::= OCTET STRING`` (a DER certificate)."""

    _child_spec = core.OctetString


class CertDigestObj(_Sequence):
    """``CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }``."""

    _fields = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(_SequenceOf):
    _child_spec = CertDigestObj


class SESCertList(core.Choice):
    """Untagged CHOICE discriminated by ``certListType`` (1 = certs, 2 = digests). Build only."""

    _alternatives = [
        ("certs", CertInfoList),
        ("cert_digest_list", CertDigestList),
    ]


def der_sequence(elements: Iterable[bytes]) -> bytes:
    """DER ``SEQUENCE`` whose contents are ``elements``, each kept byte for byte.

    Used to rebuild the GM/T 0031-2014 seal signing input ``SEQUENCE { sealInfo, cert,
    signatureAlgorithm }`` from the *received* component encodings: asn1crypto writes the
    header and never re-encodes the contents (``core.Any`` cannot hold context-tagged
    elements, so a SEQUENCE OF ANY would not do).
    """
    return core.Sequence(contents=b"".join(bytes(e) for e in elements)).dump()


# -- GM/T 0031-2014 ("v1") ------------------------------------------------------------------
class SESPropertyInfoV1(_Sequence):
    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertInfoList),
        ("create_date", core.UTCTime),
        ("valid_start", core.UTCTime),
        ("valid_end", core.UTCTime),
    ]


class SESSealInfoV1(_Sequence):
    _fields = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESPropertyInfoV1),
        ("picture", SESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESSignInfoV1(_Sequence):
    _fields = [
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.OctetBitString),
    ]


class SESealV1(_Sequence):
    _fields = [
        ("eseal_info", SESSealInfoV1),
        ("sign_info", SESSignInfoV1),
    ]


class SealSignInputV1(_Sequence):
    """What the 2014 maker signs: ``SEQUENCE { SES_SealInfo, cert OCTET STRING, algorithm OID }``."""

    _fields = [
        ("seal_info", SESSealInfoV1),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class TBSSignV1(_Sequence):
    _fields = [
        ("version", core.Integer),
        ("eseal", SESealV1),
        ("time_info", core.OctetBitString),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(_Sequence):
    _fields = [
        ("to_sign", TBSSignV1),
        ("signature", core.OctetBitString),
    ]


# -- GB/T 38540-2020 ("v4") and GM/T 0031-2025 ("v5") ---------------------------------------
class SESPropertyInfoV4(_Sequence):
    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", SESCertList),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class SESSealInfoV4(_Sequence):
    _fields = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESPropertyInfoV4),
        ("picture", SESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESealV4(_Sequence):
    _fields = [
        ("eseal_info", SESSealInfoV4),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class SESealV5(_Sequence):
    """v4 plus ``timeStamp [0] BIT STRING OPTIONAL`` (a TST over ``signedValue``)."""

    _fields = [
        ("eseal_info", SESSealInfoV4),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class TBSSignV4(_Sequence):
    _fields = [
        ("version", core.Integer),
        ("eseal", SESealV4),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignatureV4(_Sequence):
    _fields = [
        ("to_sign", TBSSignV4),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class TBSSignV5(_Sequence):
    _fields = [
        ("version", core.Integer),
        ("eseal", SESealV5),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignatureV5(_Sequence):
    _fields = [
        ("to_sign", TBSSignV5),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]
