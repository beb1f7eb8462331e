"""Presentations and holder codes: two new ``typ`` values of the ``TS1:`` service code.

Same envelope as every service code (``TS1:`` + Base45(zlib(COSE_Sign1)), signed by the
region's code signer), so scanners, the QR rendering and the kid lookup stay one thing; the
payload's ``typ`` says which it is. A verifier that knows only static and dynamic codes refuses
both (FORMAT_FAILURE), which is the safe answer for what it cannot judge.

**Presentation** (``typ: "presentation"``), what one holder chose to show, once::

    {1: iss (region), 3: aud (the verifier, optional), 4: exp, 6: iat, 7: cti (16-byte nonce),
     "typ": "presentation", "pur": purpose,
     "docs": [{"mso": 18([...]) (the licence version's MSO, as its department signed it),
               "f": [[name, salt (16 bytes), value], ...]}, ...]}

Only the disclosed fields travel, each with its salt; the verifier recomputes
``SM3(salt ‖ CBOR([name, value]))[:16]`` and finds it among the MSO's digests. The others stay
digests.

**Holder code** (``typ: "holder"``), 一人一码 / 一企一码: who (masked) and what they hold::

    {1: iss, 4: exp, 6: iat, 7: cti (16-byte handle, redeemed online),
     "typ": "holder", "h": {"k": "person" | "enterprise", "n": masked name, "hid": masked id},
     "ls": [{"t": type code, "n": type name, "s": status}, ...]}

It carries no licence fields: a verifier redeems it online (``POST /api/v1/holder-codes/redeem``)
for what the holder consented to.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import base45
import cbor2

from hsm import Signer

from ..codes.format import DECODE_ERRORS, MAX_CODE_CHARS, NONCE_LENGTH, PREFIX, CodeFormatError, cbor_item, inflate_code
from .cose import Sign1, parse_sign1, sign1
from .mso import SALT_LENGTH, DecodedMso, FieldValue, decode_mso

__all__ = [
    "PRESENTATION",
    "HOLDER",
    "HOLDER_KINDS",
    "MAX_LICENCES",
    "Disclosure",
    "PresentedLicence",
    "PresentationClaims",
    "HolderLicence",
    "HolderCodeClaims",
    "DecodedEnvelope",
    "encode_presentation",
    "encode_holder_code",
    "sign_envelope",
    "decode_envelope",
    "envelope_type",
]

PRESENTATION = "presentation"
HOLDER = "holder"
HOLDER_KINDS = ("person", "enterprise")
MAX_LICENCES = 10
MAX_FIELDS_SHOWN = 64
_ISS, _AUD, _EXP, _IAT, _CTI = 1, 3, 4, 6, 7
_REGION = re.compile(r"^[1-8][0-9]{5}$")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")


@dataclass(frozen=True)
class Disclosure:
    name: str
    salt: bytes
    value: FieldValue


@dataclass(frozen=True)
class PresentedLicence:
    mso: DecodedMso
    disclosures: tuple[Disclosure, ...]


@dataclass(frozen=True)
class PresentationClaims:
    iss: str
    iat: int
    exp: int
    nonce: bytes
    purpose: str
    verifier: str | None
    licences: tuple[PresentedLicence, ...]


@dataclass(frozen=True)
class HolderLicence:
    type_code: str
    type_name: str
    status: str


@dataclass(frozen=True)
class HolderCodeClaims:
    iss: str
    iat: int
    exp: int
    handle: bytes
    kind: str
    """``person`` (a 公民身份号码 holder) or ``enterprise`` (a USCC holder)."""
    name: str
    """Masked."""
    holder_id: str
    """Masked."""
    licences: tuple[HolderLicence, ...]


@dataclass(frozen=True)
class DecodedEnvelope:
    text: str
    cose: bytes
    sign1: Sign1
    typ: str
    claims: PresentationClaims | HolderCodeClaims


# -- encoding -----------------------------------------------------------------------------------


def encode_presentation(
    *,
    iss: str,
    iat: int,
    exp: int,
    nonce: bytes,
    purpose: str,
    verifier: str | None,
    licences: Sequence[tuple[bytes, Sequence[Disclosure]]],
) -> bytes:
    """The presentation payload; ``licences`` pairs each MSO (its encoded bytes, as kept) with
    the disclosures chosen for it."""
    docs = [
        {"mso": cbor_item(mso, "the MSO"), "f": [[d.name, d.salt, d.value] for d in shown]} for mso, shown in licences
    ]
    body: dict[Any, Any] = {
        _ISS: iss,
        _EXP: exp,
        _IAT: iat,
        _CTI: nonce,
        "typ": PRESENTATION,
        "pur": purpose,
        "docs": docs,
    }
    if verifier is not None:
        body[_AUD] = verifier
    return cbor2.dumps(body, canonical=True)


def encode_holder_code(claims: HolderCodeClaims) -> bytes:
    body = {
        _ISS: claims.iss,
        _EXP: claims.exp,
        _IAT: claims.iat,
        _CTI: claims.handle,
        "typ": HOLDER,
        "h": {"k": claims.kind, "n": claims.name, "hid": claims.holder_id},
        "ls": [{"t": x.type_code, "n": x.type_name, "s": x.status} for x in claims.licences],
    }
    return cbor2.dumps(body, canonical=True)


def sign_envelope(payload: bytes, *, signer: Signer, cert_der: bytes) -> str:
    """Sign with the region's code-signer key and return the ``TS1:`` text."""
    cose = cbor2.dumps(sign1(payload, signer=signer, cert_der=cert_der).item(), canonical=True)
    return PREFIX + base45.b45encode(zlib.compress(cose, 9)).decode("ascii")


# -- decoding -----------------------------------------------------------------------------------


def _text(body: Mapping[Any, Any], key: Any, name: str, max_len: int = 200) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise CodeFormatError(f"claim {name} must be a non-empty text of at most {max_len} characters")
    return value


def _uint(body: Mapping[Any, Any], key: Any, name: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**40:
        raise CodeFormatError(f"claim {name} must be a non-negative integer")
    return value


def _nonce(body: Mapping[Any, Any]) -> bytes:
    value = body.get(_CTI)
    if not isinstance(value, bytes) or len(value) != NONCE_LENGTH:
        raise CodeFormatError(f"claim cti must be {NONCE_LENGTH} bytes")
    return value


def _disclosure(item: Any) -> Disclosure:
    if not isinstance(item, list) or len(item) != 3:
        raise CodeFormatError("a disclosed field is [name, salt, value]")
    name, salt, value = item
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        raise CodeFormatError("a disclosed field's name is not a field name")
    if not isinstance(salt, bytes) or len(salt) != SALT_LENGTH:
        raise CodeFormatError(f"a disclosed field's salt is {SALT_LENGTH} bytes")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and len(value) > 4000):
        raise CodeFormatError("a disclosed field's value is a text or an integer")
    return Disclosure(name, salt, value)


def _presentation(body: Mapping[Any, Any]) -> PresentationClaims:
    docs = body.get("docs")
    if not isinstance(docs, list) or not 1 <= len(docs) <= MAX_LICENCES:
        raise CodeFormatError(f"a presentation carries 1..{MAX_LICENCES} licences")
    licences = []
    for i, doc in enumerate(docs):
        if (
            not isinstance(doc, dict)
            or set(doc) != {"mso", "f"}
            or not isinstance(doc["f"], list)
            or len(doc["f"]) > MAX_FIELDS_SHOWN
        ):
            raise CodeFormatError(f"docs[{i}] must be {{mso, f: [disclosed fields]}}")
        licences.append(PresentedLicence(decode_mso(doc["mso"]), tuple(_disclosure(x) for x in doc["f"])))
    verifier = body.get(_AUD)
    if verifier is not None and (not isinstance(verifier, str) or not verifier or len(verifier) > 200):
        raise CodeFormatError("claim aud (verifier) must be a short text")
    return PresentationClaims(
        iss=_text(body, _ISS, "iss", 6),
        iat=_uint(body, _IAT, "iat"),
        exp=_uint(body, _EXP, "exp"),
        nonce=_nonce(body),
        purpose=_text(body, "pur", "pur"),
        verifier=verifier,
        licences=tuple(licences),
    )


def _holder_code(body: Mapping[Any, Any]) -> HolderCodeClaims:
    holder = body.get("h")
    if not isinstance(holder, dict) or set(holder) != {"k", "n", "hid"} or holder["k"] not in HOLDER_KINDS:
        raise CodeFormatError("claim h must be {k: person|enterprise, n, hid}")
    items = body.get("ls")
    if not isinstance(items, list) or len(items) > 200:
        raise CodeFormatError("claim ls must list at most 200 licences")
    licences = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"t", "n", "s"}:
            raise CodeFormatError("each entry of ls is {t, n, s}")
        licences.append(
            HolderLicence(_text(item, "t", "ls.t", 64), _text(item, "n", "ls.n"), _text(item, "s", "ls.s", 16))
        )
    return HolderCodeClaims(
        iss=_text(body, _ISS, "iss", 6),
        iat=_uint(body, _IAT, "iat"),
        exp=_uint(body, _EXP, "exp"),
        handle=_nonce(body),
        kind=holder["k"],
        name=_text(holder, "n", "h.n"),
        holder_id=_text(holder, "hid", "h.hid", 64),
        licences=tuple(licences),
    )


def _open(text: Any) -> tuple[str, bytes, Sign1, dict[Any, Any]]:
    if not isinstance(text, str):
        raise CodeFormatError("a code is text")
    text = text.strip()
    if not text.startswith(PREFIX):
        raise CodeFormatError(f"a code starts with {PREFIX}")
    if len(text) > MAX_CODE_CHARS:
        raise CodeFormatError(f"a code has at most {MAX_CODE_CHARS} characters")
    try:
        compressed = base45.b45decode(text[len(PREFIX) :])
    except DECODE_ERRORS as exc:
        raise CodeFormatError("the code is not valid Base45 (RFC 9285)") from exc
    cose = inflate_code(compressed)
    message = parse_sign1(cbor_item(cose, "the COSE message"), "the code")
    body = cbor_item(message.payload, "the payload")
    if not isinstance(body, dict):
        raise CodeFormatError("the payload is not a CBOR map of claims")
    return text, cose, message, body


def envelope_type(text: Any) -> str | None:
    """``presentation`` or ``holder`` when ``text`` is a well-formed envelope of that type,
    else None (other codes and garbage): what the region verifier dispatches on."""
    try:
        body = _open(text)[3]
    except CodeFormatError:
        return None
    typ = body.get("typ")
    return typ if typ in (PRESENTATION, HOLDER) else None


def decode_envelope(text: Any) -> DecodedEnvelope:
    """Parse a presentation or holder code down to its claims. Does NOT verify.

    :raises CodeFormatError: for anything else (and nothing else).
    """
    text, cose, message, body = _open(text)
    typ = body.get("typ")
    if typ == PRESENTATION:
        claims: PresentationClaims | HolderCodeClaims = _presentation(body)
    elif typ == HOLDER:
        claims = _holder_code(body)
    else:
        raise CodeFormatError(f"claim typ must be {PRESENTATION} or {HOLDER}")
    if not _REGION.match(claims.iss):
        raise CodeFormatError("claim iss is not a GB/T 2260 region code")
    return DecodedEnvelope(text=text, cose=cose, sign1=message, typ=typ, claims=claims)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
