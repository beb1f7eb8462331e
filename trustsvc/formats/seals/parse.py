"""Tolerant parsing of SES seals and signatures, by shape, keeping the bytes that were signed.

Version detection follows the *shape* (as ofdrw's ``VersionParser`` does), never the
header integer alone: an ``SESeal`` of 2 elements is GM/T 0031-2014 (v1), of 4 elements
GB/T 38540 (v4, or v5 when ``header.version`` is 5), of 5 elements GM/T 0031-2025 (v5); an
``SES_Signature`` of 2 elements is v1, of 4–5 elements v4/v5 by the embedded seal.

Every vendor quirk (docs/architecture.md, "Formats and standards") is accepted and reported as a warning on the result: raw
r‖s or non-canonical signatures, OCTET STRING for BIT STRING in ``timeInfo``/``dataHash``,
GeneralizedTime vs UTCTime, ASCII time text inside a v1 ``timeInfo``, ``certList`` entries
that are not certificates (or not OCTET STRINGs), duplicate certificates, ``ExtData`` with an
explicit ``critical FALSE``, ``ExtensionDatas`` wrapped in an OCTET STRING or a tag,
implicit or untagged ``[0]`` fields, and a trailing-zero-stripped signature BIT STRING.
Anything else that does not fit raises :class:`SESFormatError` (the only exception this
module raises), naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from . import _der
from ._der import Node
from .asn1 import der_sequence
from .errors import SESFormatError
from .model import (
    CertDigest,
    CertList,
    ExtDataEntry,
    ParsedSeal,
    ParsedSESSignature,
    SealHeader,
    SealPicture,
    SESVersion,
    TimeInfo,
)
from .sigvalue import normalise_signature
from .timetext import parse_time_text

__all__ = ["parse_seal", "parse_ses_signature", "identify", "SESFormatError"]

_SEAL_INFO = ("header", "esID", "property", "picture", "extDatas")
_PROPERTY_V1 = ("type", "name", "certList", "createDate", "validStart", "validEnd")
_PROPERTY_V4 = ("type", "name", "certListType", "certList", "createDate", "validStart", "validEnd")
_TBS_V1 = ("version", "eseal", "timeInfo", "dataHash", "propertyInfo", "cert", "signatureAlgorithm")
_TBS_V4 = ("version", "eseal", "timeInfo", "dataHash", "propertyInfo", "extDatas")


class _Notes:
    """Collects warnings; each is stated once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)


def _text(node: Node, notes: _Notes, expected: int) -> str:
    value = node.string()
    if node.tag != expected:
        names = {_der.IA5_STRING: "IA5String", _der.UTF8_STRING: "UTF8String", _der.PRINTABLE_STRING: "PrintableString"}
        notes.add(f"{node.field} is {node.kind}, not {names.get(expected, expected)}")
    return value


def _time(node: Node, notes: _Notes, expected: int) -> datetime:
    value = node.time()
    if node.tag != expected:
        want = "UTCTime (GM/T 0031-2014)" if expected == _der.UTC_TIME else "GeneralizedTime (GB/T 38540)"
        notes.add(f"{node.field} is {node.kind}, not {want}")
    return value


# -- SES_SealInfo -----------------------------------------------------------------------------
def _header(node: Node, notes: _Notes) -> SealHeader:
    kids = node.sequence(("id", "version", "vid"))
    if len(kids) != 3:
        raise node.fail(f"SES_Header has {len(kids)} elements, expected 3")
    header = SealHeader(
        _text(kids[0], notes, _der.IA5_STRING), kids[1].integer(), _text(kids[2], notes, _der.IA5_STRING)
    )
    if header.id != "ES":
        notes.add(f"{kids[0].field} is {header.id!r}, not 'ES'")
    return header


def _is_certificate(data: bytes) -> bool:
    """Shaped like an X.509 certificate (SEQUENCE {tbs SEQUENCE, algorithm SEQUENCE, BIT STRING}).

    Only the shape: whether trustsvc can *use* the certificate is for the verifier to say.
    """
    try:
        kids = _der.read(data, "certificate").sequence()
    except SESFormatError:
        return False
    return (
        len(kids) == 3
        and kids[0].is_universal(_der.SEQUENCE)
        and kids[1].is_universal(_der.SEQUENCE)
        and kids[2].is_universal(_der.BIT_STRING)
    )


def _cert_entries(node: Node, notes: _Notes) -> tuple[bytes, ...]:
    entries: list[bytes] = []
    for i, kid in enumerate(node.children()):
        if kid.is_universal(_der.OCTET_STRING) and not kid.constructed:
            value = kid.octets()
        else:
            value = kid.contents
            notes.add(f"{kid.field} is {kid.kind}, not OCTET STRING")
        if not _is_certificate(value):
            notes.add(f"{kid.field} (certList entry {i}) is not a certificate")
        if value in entries:
            notes.add(f"{kid.field} repeats an earlier certList entry")
        entries.append(value)
    if not entries:
        notes.add(f"{node.field} is empty: nobody may apply this seal")
    return tuple(entries)


def _digest_entries(node: Node, notes: _Notes) -> tuple[CertDigest, ...]:
    entries: list[CertDigest] = []
    for kid in node.children():
        parts = kid.sequence(("type", "value"))
        if len(parts) != 2:
            raise kid.fail(f"CertDigestObj has {len(parts)} elements, expected 2")
        entry = CertDigest(_text(parts[0], notes, _der.PRINTABLE_STRING), parts[1].octets())
        if entry in entries:
            notes.add(f"{kid.field} repeats an earlier certDigestList entry")
        entries.append(entry)
    if not entries:
        notes.add(f"{node.field} is empty: nobody may apply this seal")
    return tuple(entries)


def _looks_like_digest_list(node: Node) -> bool:
    kids = node.children()
    return bool(kids) and all(k.is_universal(_der.SEQUENCE) for k in kids)


def _property(node: Node, notes: _Notes, shaped_v1: bool) -> tuple[int, str, CertList, datetime, datetime, datetime]:
    probe = node.sequence()
    if len(probe) == 6:
        kids = node.sequence(_PROPERTY_V1)
        if not shaped_v1:
            notes.add(f"{node.field} has the 6-element GM/T 0031-2014 shape in a GB/T 38540 seal")
        list_type, list_node, dates = 1, kids[2], kids[3:]
    elif len(probe) == 7:
        kids = node.sequence(_PROPERTY_V4)
        if shaped_v1:
            notes.add(f"{node.field} has the 7-element GB/T 38540 shape in a GM/T 0031-2014 seal")
        list_type, list_node, dates = kids[2].integer(), kids[3], kids[4:]
    else:
        raise node.fail(f"SES_ESPropertyInfo has {len(probe)} elements, expected 6 (2014) or 7 (GB/T 38540)")
    seal_type = kids[0].integer()
    name = _text(kids[1], notes, _der.UTF8_STRING)
    if not list_node.is_universal(_der.SEQUENCE):
        raise list_node.fail(f"expected SEQUENCE OF, found {list_node.kind}")
    if len(probe) == 7 and _looks_like_digest_list(list_node):
        if list_type != 2:
            notes.add(f"{list_node.field} holds certificate digests but certListType is {list_type}")
        cert_list = CertList(2, digests=_digest_entries(list_node, notes))
    else:
        if list_type != 1:
            notes.add(f"{list_node.field} holds certificates but certListType is {list_type}")
        cert_list = CertList(1, certs=_cert_entries(list_node, notes))
    expected = _der.UTC_TIME if shaped_v1 else _der.GENERALIZED_TIME
    create, start, end = (_time(d, notes, expected) for d in dates)
    return seal_type, name, cert_list, create, start, end


def _picture(node: Node, notes: _Notes) -> SealPicture:
    kids = node.sequence(("type", "data", "width", "height"))
    if len(kids) != 4:
        raise node.fail(f"SES_ESPictrueInfo has {len(kids)} elements, expected 4")
    return SealPicture(_text(kids[0], notes, _der.IA5_STRING), kids[1].octets(), kids[2].integer(), kids[3].integer())


def _ext_datas(node: Node, notes: _Notes) -> tuple[ExtDataEntry, ...]:
    """``ExtensionDatas``: SEQUENCE OF ExtData, also found wrapped in an OCTET STRING or a tag."""
    if node.is_universal(_der.OCTET_STRING):
        notes.add(f"{node.field} is wrapped in an OCTET STRING")
        node = _der.read(node.octets(), node.field)
    if node.cls == _der.CONTEXT:
        kids = node.children()
        if (
            len(kids) == 1
            and kids[0].is_universal(_der.SEQUENCE)
            and all(k.is_universal(_der.SEQUENCE) for k in kids[0].children())
        ):
            if node.tag != 0:
                notes.add(f"{node.field} is tagged [{node.tag}]")
            node = kids[0]  # explicit tagging
        else:
            notes.add(f"{node.field} uses implicit [{node.tag}] tagging")
            return tuple(_ext_data(k, notes) for k in kids)
    if not node.is_universal(_der.SEQUENCE):
        raise node.fail(f"ExtensionDatas expected, found {node.kind}")
    return tuple(_ext_data(k, notes) for k in node.children())


def _ext_data(node: Node, notes: _Notes) -> ExtDataEntry:
    kids = node.sequence(("extnID", "critical", "extnValue"))
    if len(kids) == 3:
        critical = kids[1].boolean()
        if not critical:
            notes.add(f"{node.field} encodes critical FALSE explicitly (DER omits the DEFAULT)")
        oid, value = kids[0].oid(), kids[2]
    elif len(kids) == 2:
        critical, oid, value = False, kids[0].oid(), kids[1]
    else:
        raise node.fail(f"ExtData has {len(kids)} elements, expected 2 or 3")
    return ExtDataEntry(oid, critical, value.octets())


# -- SESeal -----------------------------------------------------------------------------------
def _seal(node: Node) -> ParsedSeal:
    notes = _Notes()
    kids = node.sequence(("eSealInfo", "cert", "signAlgID", "signedValue", "timeStamp"))
    shaped_v1 = len(kids) == 2
    if shaped_v1:
        kids = node.sequence(("esealInfo", "signInfo"))
    if len(kids) not in (2, 4, 5):
        raise node.fail(
            f"SESeal has {len(kids)} elements; expected 2 (GM/T 0031-2014), 4 (GB/T 38540) or 5 (GM/T 0031-2025)"
        )
    info_node = kids[0]
    info = info_node.sequence(_SEAL_INFO)
    if len(info) not in (4, 5):
        raise info_node.fail(f"SES_SealInfo has {len(info)} elements, expected 4 or 5")
    header = _header(info[0], notes)
    es_id = _text(info[1], notes, _der.IA5_STRING)
    seal_type, name, cert_list, create, start, end = _property(info[2], notes, shaped_v1)
    picture = _picture(info[3], notes)
    ext_datas = _ext_datas(info[4], notes) if len(info) == 5 else ()

    time_stamp: bytes | None = None
    version: SESVersion
    if shaped_v1:
        version = "v1"
        if header.version >= 4:
            notes.add(f"header version {header.version} in a GM/T 0031-2014-shaped (2-element) seal")
        sign_info = kids[1].sequence(("cert", "signatureAlgorithm", "signData"))
        if len(sign_info) != 3:
            raise kids[1].fail(f"SES_SignInfo has {len(sign_info)} elements, expected 3")
        cert_node, alg_node, value_node = sign_info
        # The 2014 maker signs SEQUENCE { sealInfo, cert, signatureAlgorithm }, built from the
        # components exactly as received.
        signed_bytes = der_sequence((info_node.raw, cert_node.raw, alg_node.raw))
    else:
        cert_node, alg_node, value_node = kids[1], kids[2], kids[3]
        signed_bytes = info_node.raw
        if len(kids) == 5:
            version = "v5"
            if header.version != 5:
                notes.add(f"5-element (GM/T 0031-2025) seal with header version {header.version}")
            time_stamp = _time_stamp(kids[4], notes)
        elif header.version == 5:
            version = "v5"
        else:
            version = "v4"
            if header.version != 4:
                notes.add(f"header version {header.version} in a GB/T 38540-shaped seal; read as v4")
    maker_cert = cert_node.octets()
    sign_algorithm = alg_node.oid()
    unused, octets = value_node.bit_string()
    value = normalise_signature(octets, unused)
    for w in value.warnings:
        notes.add(f"{value_node.field}: {w}")
    if create > end:
        notes.add(f"createDate {create.isoformat()} is after validEnd {end.isoformat()}")
    return ParsedSeal(
        version=version,
        header=header,
        es_id=es_id,
        seal_type=seal_type,
        name=name,
        cert_list=cert_list,
        create_date=create,
        valid_start=start,
        valid_end=end,
        picture=picture,
        ext_datas=ext_datas,
        maker_cert=maker_cert,
        sign_algorithm=sign_algorithm,
        signed_value=value.der,
        signed_value_raw=value.raw,
        signed_value_problem=value.problem,
        signed_bytes=signed_bytes,
        seal_info_der=info_node.raw,
        time_stamp=time_stamp,
        der=node.raw,
        warnings=tuple(notes.items),
    )


def _time_stamp(node: Node, notes: _Notes) -> bytes:
    """A ``timeStamp [0] BIT STRING``: explicit (standard), implicit or untagged."""
    if node.is_context(0) and node.constructed:
        kids = node.children()
        if len(kids) == 1:
            inner = kids[0]
            if inner.is_universal(_der.BIT_STRING):
                unused, octets = inner.bit_string()
                if unused:
                    notes.add(f"{node.field} BIT STRING declares {unused} unused bits")
                return octets
            if inner.is_universal(_der.OCTET_STRING):
                notes.add(f"{node.field} holds an OCTET STRING, not a BIT STRING")
                return inner.octets()
            if inner.is_universal(_der.SEQUENCE):
                notes.add(f"{node.field} holds the token directly, not in a BIT STRING")
                return inner.raw
        if kids and kids[0].is_universal(_der.OID):
            notes.add(f"{node.field} is an implicitly tagged token (ContentInfo)")
            return der_sequence(k.raw for k in kids)
        raise node.fail("unrecognised [0] time-stamp contents")
    if node.is_context(0):
        contents = node.contents
        notes.add(f"{node.field} uses implicit [0] tagging")
        if contents[:1] == b"\x30":
            return contents
        if not contents or contents[0] > 7:
            raise node.fail("implicit [0] BIT STRING without a valid unused-bits octet")
        return contents[1:]
    if node.is_universal(_der.BIT_STRING):
        notes.add(f"{node.field} is untagged")
        return node.bit_string()[1]
    if node.is_universal(_der.OCTET_STRING):
        notes.add(f"{node.field} is an untagged OCTET STRING")
        return node.octets()
    raise node.fail(f"time-stamp expected, found {node.kind}")


# -- TBS_Sign / SES_Signature -------------------------------------------------------------------
def _octets_of(node: Node, notes: _Notes, what: str) -> bytes:
    """BIT STRING (standard) or OCTET STRING (tolerated) contents."""
    if node.is_universal(_der.BIT_STRING):
        unused, octets = node.bit_string()
        if unused:
            notes.add(f"{node.field} {what} BIT STRING declares {unused} unused bits")
        return octets
    if node.is_universal(_der.OCTET_STRING):
        notes.add(f"{node.field} is OCTET STRING, not BIT STRING")
        return node.octets()
    raise node.fail(f"expected BIT STRING, found {node.kind}")


def _time_info(node: Node, notes: _Notes, shaped_v1: bool) -> TimeInfo:
    if node.cls == _der.UNIVERSAL and node.tag in (_der.UTC_TIME, _der.GENERALIZED_TIME):
        if shaped_v1:
            notes.add(f"{node.field} is {node.kind}, not a BIT STRING (GM/T 0031-2014)")
        elif node.tag != _der.GENERALIZED_TIME:
            notes.add(f"{node.field} is {node.kind}, not GeneralizedTime (GB/T 38540)")
        return TimeInfo(node.time(), node.raw, node.kind)
    if not (node.is_universal(_der.BIT_STRING) or node.is_universal(_der.OCTET_STRING)):
        raise node.fail(f"expected a time, found {node.kind}")
    if not shaped_v1:
        notes.add(f"{node.field} is {node.kind}, not GeneralizedTime (GB/T 38540)")
    octets = _octets_of(node, notes, "timeInfo")
    if octets[:1] in (b"\x17", b"\x18"):
        inner = _der.read(octets, f"{node.field}(inner)")
        return TimeInfo(inner.time(), node.raw, f"{node.kind} holding {inner.kind}")
    if octets[:1] == b"\x30":
        # GM/T 0031-2014 allows a time-stamp token here; its time comes from verifying it.
        return TimeInfo(None, node.raw, f"{node.kind} holding a time-stamp token", token=octets)
    try:
        text = octets.decode("ascii")
    except UnicodeDecodeError as exc:
        raise node.fail("timeInfo is neither a time, a time text nor a time-stamp token") from exc
    parsed = parse_time_text(text)
    if parsed is None:
        raise node.fail(f"timeInfo text {text[:40]!r} is not a recognised time")
    if parsed.form != "UTCTime" or not shaped_v1:
        notes.add(f"{node.field} is a {node.kind} holding the non-standard text {text!r}")
    if parsed.zone_assumed:
        notes.add(f"{node.field} text {text!r} has no time zone; read as UTC+08:00")
    return TimeInfo(parsed.value, node.raw, f"{node.kind} (text)")


def _tbs_ext_datas(node: Node, notes: _Notes) -> tuple[ExtDataEntry, ...]:
    if node.is_context(0) and node.constructed:
        return _ext_datas(node, notes)
    if node.is_universal(_der.SEQUENCE):
        notes.add(f"{node.field} is untagged (explicit [0] expected)")
        return _ext_datas(node, notes)
    raise node.fail(f"extDatas expected, found {node.kind}")


def _signature(node: Node) -> ParsedSESSignature:
    notes = _Notes()
    kids = node.sequence(("toSign", "cert", "signatureAlgID", "signature", "timeStamp"))
    if len(kids) == 2:
        shaped_v1 = True
        kids = node.sequence(("toSign", "signature"))
    elif len(kids) in (4, 5):
        shaped_v1 = False
    else:
        raise node.fail(f"SES_Signature has {len(kids)} elements; expected 2 (GM/T 0031-2014) or 4-5 (GB/T 38540)")
    tbs_node = kids[0]
    tbs = tbs_node.sequence(_TBS_V1 if shaped_v1 else _TBS_V4)
    if shaped_v1 and len(tbs) != 7:
        raise tbs_node.fail(f"GM/T 0031-2014 TBS_Sign has {len(tbs)} elements, expected 7")
    if not shaped_v1 and len(tbs) not in (5, 6):
        raise tbs_node.fail(f"GB/T 38540 TBS_Sign has {len(tbs)} elements, expected 5 or 6")
    tbs_version = tbs[0].integer()
    seal = _seal(tbs[1])
    time_info = _time_info(tbs[2], notes, shaped_v1)
    data_hash = _octets_of(tbs[3], notes, "dataHash")
    property_info = _text(tbs[4], notes, _der.IA5_STRING)
    ext_datas: tuple[ExtDataEntry, ...] = ()
    time_stamp: bytes | None = None
    if shaped_v1:
        version: SESVersion = "v1"
        if seal.version != "v1":
            notes.add(f"a GM/T 0031-2014 signature embeds a {seal.version} seal")
        signer_cert = tbs[5].octets()
        algorithm = tbs[6].oid()
        value_node = kids[1]
    else:
        version = "v5" if seal.version == "v5" else "v4"
        if seal.version == "v1":
            notes.add("a GB/T 38540 signature embeds a GM/T 0031-2014 seal")
        if len(tbs) == 6:
            ext_datas = _tbs_ext_datas(tbs[5], notes)
        signer_cert = kids[1].octets()
        algorithm = kids[2].oid()
        value_node = kids[3]
        if len(kids) == 5:
            time_stamp = _time_stamp(kids[4], notes)
    expected_version = {"v1": None, "v4": 4, "v5": 5}[version]
    if expected_version is not None and tbs_version != expected_version:
        notes.add(f"TBS_Sign.version is {tbs_version}, the seal is {seal.version}")
    unused, octets = value_node.bit_string()
    value = normalise_signature(octets, unused)
    for w in value.warnings:
        notes.add(f"{value_node.field}: {w}")
    return ParsedSESSignature(
        version=version,
        tbs_version=tbs_version,
        seal=seal,
        seal_der=tbs[1].raw,
        time_info=time_info,
        data_hash=data_hash,
        property_info=property_info,
        signer_cert=signer_cert,
        signature_algorithm=algorithm,
        signature=value.der,
        signature_raw=value.raw,
        signature_problem=value.problem,
        signed_bytes=tbs_node.raw,
        time_stamp=time_stamp,
        ext_datas=ext_datas,
        der=node.raw,
        warnings=tuple(notes.items),
    )


# -- public -----------------------------------------------------------------------------------
def parse_seal(data: bytes) -> ParsedSeal:
    """Parse an ``SESeal`` (.esl) of any supported version.

    :raises SESFormatError: the bytes are not a seal, naming the offending field.
    """
    return _seal(_der.read(data, "SESeal"))


def parse_ses_signature(data: bytes) -> ParsedSESSignature:
    """Parse an ``SES_Signature`` (OFD SignedValue.dat) of any supported version.

    :raises SESFormatError: the bytes are not an SES signature, naming the offending field.
    """
    return _signature(_der.read(data, "SES_Signature"))


def identify(data: bytes) -> Literal["seal", "signature"] | None:
    """Whether ``data`` looks like a seal or an SES signature (by shape only; not validated).

    A signature's first element is ``TBS_Sign`` whose first element is an INTEGER; a seal's
    first element is ``SES_SealInfo`` whose first element is the ``SES_Header`` SEQUENCE.
    """
    try:
        kids = _der.read(data, "input").sequence()
        first = kids[0].sequence() if kids else []
    except SESFormatError:
        return None
    if not first:
        return None
    if first[0].is_universal(_der.INTEGER):
        return "signature"
    if first[0].is_universal(_der.SEQUENCE):
        return "seal"
    return None
