"""The service-code wire format (DESIGN §4, docs/service-code.md)::

    TS1: + Base45( zlib( COSE_Sign1 ) )

The EU DCC ``HC1:`` pipeline with SM2 in place of ES256. COSE_Sign1 (RFC 9052 §4.2, CBOR tag
18) carries a protected header ``{1: alg, 4: kid}``, an empty unprotected header, the claims
(a CBOR map) as payload, and the signature: SM2-with-SM3 (default ID) over the RFC 9052
``Sig_structure`` ``["Signature1", protected, h'', payload]``, as raw ``r‖s`` (64 bytes).

Why a format of its own rather than an opaque server token (苏服码, 随申码): a signed payload
verifies offline against a cached trust list, as the DCC does; the dynamic variant adds the
online single use. Everything here is pure (no database, no clock); decoding anything at all
either returns a :class:`DecodedCode` or raises :class:`CodeFormatError`, never another error.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import base45
import cbor2

from hsm import DEFAULT_SM2_ID, KeyAlgorithm, Signer, sm3
from hsm.encoding import signature_to_raw

from ..errors import InvalidInputError
from .b45 import b45decode

__all__ = [
    "PREFIX",
    "ALG_SM2_SM3",
    "ALG_ES256",
    "CODE_ALGORITHMS",
    "COSE_SIGN1_TAG",
    "KID_LENGTH",
    "STATIC",
    "DYNAMIC",
    "MAX_CODE_CHARS",
    "NONCE_LENGTH",
    "CodeFormatError",
    "CodeClaims",
    "DecodedCode",
    "kid_for",
    "sig_structure",
    "encode_claims",
    "sign_code",
    "decode_code",
    "DECODE_ERRORS",
    "HDR_ALG",
    "HDR_CRIT",
    "HDR_KID",
    "MAX_INFLATED",
    "cbor_item",
    "inflate_code",
]

PREFIX = "TS1:"
ALG_SM2_SM3 = -65537
"""COSE ``alg`` for SM2 signature with SM3 (GB/T 32918.2, default ID ``1234567812345678``),
raw ``r‖s``. IANA has no SM2 value; -65537 is the first integer of the private-use range
(less than -65536, RFC 9052 §11.1)."""
ALG_ES256 = -7
"""COSE ``alg`` ES256 (RFC 9053 §2.1: ECDSA P-256 with SHA-256, raw ``r‖s``), for a code signer
whose key is P-256 because its PKCS#11 token has no SM2."""
CODE_ALGORITHMS: dict[int, KeyAlgorithm] = {ALG_SM2_SM3: KeyAlgorithm.SM2, ALG_ES256: KeyAlgorithm.ECDSA_P256}
"""The COSE algorithms a code may carry, each bound to the one key type that may verify it."""
COSE_SIGN1_TAG = 18
KID_LENGTH = 8
STATIC = "static"
DYNAMIC = "dynamic"
MAX_CODE_CHARS = 4296
"""A version-40 QR code holds at most 4296 alphanumeric characters; longer is not a code."""
MAX_INFLATED = 16 * 1024
NONCE_LENGTH = 16

# CWT claim keys (RFC 8392 §4) and our text keys for the rest.
_ISS, _SUB, _EXP, _IAT, _CTI = 1, 2, 4, 6, 7
_TYP, _STATUS_INDEX, _DISPLAY = "typ", "si", "d"
HDR_ALG, HDR_CRIT, HDR_KID = 1, 2, 4
"""COSE header labels (RFC 9052 §3.1): alg, crit, kid; the holder's COSE messages use them too."""
_DISPLAY_KEYS = ("n", "h", "hid", "o")
_REGION = re.compile(r"^[1-8][0-9]{5}$")


class CodeFormatError(InvalidInputError):
    """The text is not a well-formed ``TS1:`` service code."""

    code = "invalid_code"


def kid_for(cert_der: bytes) -> bytes:
    """The key identifier: the first 8 bytes of SM3 over the code-signer certificate's DER."""
    return sm3(cert_der)[:KID_LENGTH]


@dataclass(frozen=True)
class CodeClaims:
    """What a code says. Integers are seconds since the epoch (CWT NumericDate)."""

    iss: str
    """GB/T 2260 code of the issuing region (CWT ``iss``)."""
    sub: str
    """GB/T 36904 licence identifier (CWT ``sub``)."""
    typ: str
    """``static`` (printed on the licence) or ``dynamic`` (short-lived, single use online)."""
    iat: int
    exp: int | None
    """None: a static code of a licence without an end date lives as long as the licence."""
    status_index: int | None = None
    """The licence's position in its issuer's status list, for offline status checks."""
    display: Mapping[str, str] = field(default_factory=dict)
    """Minimal display fields: ``n`` licence type name, ``h`` holder name, ``hid`` holder id
    (a citizen ID masked), ``o`` issuing department."""
    nonce: bytes | None = None
    """Dynamic codes: 16 random bytes (CWT ``cti``), the handle of its single use."""

    def __post_init__(self) -> None:
        if self.typ not in (STATIC, DYNAMIC):
            raise CodeFormatError(f"typ must be {STATIC} or {DYNAMIC}", field="typ")
        if (self.typ == DYNAMIC) != (self.nonce is not None):
            raise CodeFormatError("a dynamic code has a nonce and a static one has none", field="nonce")
        if self.typ == DYNAMIC and self.exp is None:
            raise CodeFormatError("a dynamic code must expire", field="exp")


@dataclass(frozen=True)
class DecodedCode:
    """A parsed code: every layer kept, so verification and the worked example can show them."""

    text: str
    cose: bytes
    """COSE_Sign1 as inflated."""
    protected: bytes
    """The protected header bucket, exactly as signed."""
    alg: Any
    kid: bytes
    payload: bytes
    signature: bytes
    """Raw r‖s as carried."""
    claims: CodeClaims

    @property
    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """RFC 9052 §4.4 ``Sig_structure`` for COSE_Sign1: the bytes the signature covers."""
    return cbor2.dumps(["Signature1", protected, external_aad, payload], canonical=True)


def encode_claims(claims: CodeClaims) -> bytes:
    """The payload: deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding)."""
    body: dict[Any, Any] = {_ISS: claims.iss, _SUB: claims.sub, _IAT: claims.iat, _TYP: claims.typ}
    if claims.exp is not None:
        body[_EXP] = claims.exp
    if claims.nonce is not None:
        body[_CTI] = claims.nonce
    if claims.status_index is not None:
        body[_STATUS_INDEX] = claims.status_index
    display = {k: v for k, v in claims.display.items() if v}
    if display:
        body[_DISPLAY] = display
    return cbor2.dumps(body, canonical=True)


def sign_code(claims: CodeClaims, *, signer: Signer, cert_der: bytes) -> str:
    """Sign ``claims`` with the code-signer key and return the ``TS1:`` text.

    :param signer: the code signer's key (SM2; P-256 makes an ES256 code); it must match ``cert_der``.
    """
    alg = ALG_SM2_SM3 if signer.algorithm is KeyAlgorithm.SM2 else ALG_ES256
    protected = cbor2.dumps({HDR_ALG: alg, HDR_KID: kid_for(cert_der)}, canonical=True)
    payload = encode_claims(claims)
    raw = signature_to_raw(signer.sign(sig_structure(protected, payload), sm2_id=DEFAULT_SM2_ID))
    cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, raw]), canonical=True)
    return PREFIX + base45.b45encode(zlib.compress(cose, 9)).decode("ascii")


# -- decoding -----------------------------------------------------------------------------------

DECODE_ERRORS = (
    cbor2.CBORError,
    ValueError,
    TypeError,
    OverflowError,
    RecursionError,
    MemoryError,
    IndexError,
    KeyError,
    EOFError,
    UnicodeError,
    zlib.error,
)


def cbor_item(data: bytes, what: str) -> Any:
    """One CBOR item filling ``data`` exactly (trailing bytes are refused)."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except DECODE_ERRORS as exc:
        raise CodeFormatError(f"{what} is not valid CBOR") from exc
    if stream.tell() != len(data):
        raise CodeFormatError(f"{what} has {len(data) - stream.tell()} bytes after its CBOR item")
    return item


def inflate_code(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_INFLATED)
    except zlib.error as exc:
        raise CodeFormatError("the code is not a valid zlib stream") from exc
    if inflater.unconsumed_tail:
        raise CodeFormatError(f"the code inflates to more than {MAX_INFLATED} bytes")
    if not inflater.eof or inflater.unused_data:
        raise CodeFormatError("the zlib stream is truncated or followed by other data")
    return out


def _text_claim(body: Mapping[Any, Any], key: Any, name: str, max_len: int = 256) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise CodeFormatError(f"claim {name} must be a non-empty text of at most {max_len} characters")
    return value


_MAX_TIME = 7258118399
"""2199-12-31T23:59:59Z: a later iat or exp is refused (as in trust lists), so no date overflows."""


def _int_claim(
    body: Mapping[Any, Any], key: Any, name: str, *, optional: bool = False, maximum: int = 2**40 - 1
) -> int | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise CodeFormatError(f"claim {name} must be a non-negative integer of at most {maximum}")
    return value


def _claims(payload: bytes) -> CodeClaims:
    body = cbor_item(payload, "the payload")
    if not isinstance(body, dict):
        raise CodeFormatError("the payload is not a CBOR map of claims")
    iss = _text_claim(body, _ISS, "iss", 6)
    if not _REGION.match(iss):
        raise CodeFormatError("claim iss is not a GB/T 2260 region code")
    display_raw = body.get(_DISPLAY, {})
    if not isinstance(display_raw, dict):
        raise CodeFormatError("claim d (display) must map n/h/hid/o to short texts")
    for k, v in display_raw.items():
        if k not in _DISPLAY_KEYS or not isinstance(v, str) or len(v) > 200:
            raise CodeFormatError("claim d (display) must map n/h/hid/o to short texts")
    nonce = body.get(_CTI)
    if nonce is not None and (not isinstance(nonce, bytes) or len(nonce) != NONCE_LENGTH):
        raise CodeFormatError(f"claim cti (nonce) must be {NONCE_LENGTH} bytes")
    typ = body.get(_TYP)
    if typ not in (STATIC, DYNAMIC):
        raise CodeFormatError(f"claim typ must be {STATIC} or {DYNAMIC}")
    return CodeClaims(
        iss=iss,
        sub=_text_claim(body, _SUB, "sub"),
        typ=typ,
        iat=_int_claim(body, _IAT, "iat", maximum=_MAX_TIME) or 0,
        exp=_int_claim(body, _EXP, "exp", optional=True, maximum=_MAX_TIME),
        status_index=_int_claim(body, _STATUS_INDEX, "si", optional=True),
        display=dict(display_raw),
        nonce=nonce,
    )


def decode_code(text: Any) -> DecodedCode:
    """Parse a ``TS1:`` code down to its claims. Does NOT verify the signature.

    :raises CodeFormatError: for anything that is not a well-formed code (and nothing else).
    """
    if not isinstance(text, str):
        raise CodeFormatError("a service code is text")
    text = text.strip()
    if not text.startswith(PREFIX):
        raise CodeFormatError(f"a service code starts with {PREFIX}")
    if len(text) > MAX_CODE_CHARS:
        raise CodeFormatError(f"a service code has at most {MAX_CODE_CHARS} characters")
    try:
        compressed = b45decode(text[len(PREFIX) :])
    except DECODE_ERRORS as exc:
        raise CodeFormatError("the code is not valid Base45 (RFC 9285)") from exc
    cose = inflate_code(compressed)
    item = cbor_item(cose, "the COSE message")
    if not isinstance(item, cbor2.CBORTag) or item.tag != COSE_SIGN1_TAG:
        raise CodeFormatError("the code is not a tagged COSE_Sign1 (tag 18)")
    parts = item.value
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise CodeFormatError("COSE_Sign1 is an array of 4 items")
    protected, unprotected, payload, signature = parts
    if (
        not isinstance(protected, bytes)
        or not (type(unprotected) is dict or isinstance(unprotected, Mapping))
        or not isinstance(payload, bytes)
        or not isinstance(signature, bytes)
    ):
        raise CodeFormatError("COSE_Sign1 items must be bstr, map, bstr, bstr")
    if unprotected:
        raise CodeFormatError("the unprotected header must be empty: alg and kid are protected")
    alg, kid = _protected_header(protected)
    return DecodedCode(
        text=text,
        cose=cose,
        protected=protected,
        alg=alg,
        kid=kid,
        payload=payload,
        signature=signature,
        claims=_claims(payload),
    )


def _protected_header(protected: bytes) -> tuple[Any, bytes]:
    """``(alg, kid)`` of a protected header, read once per distinct header: a code signer puts
    the same bytes in every code it signs, so a verifier sees few distinct ones."""
    found = _headers.get(protected)
    if found is None:
        header = cbor_item(protected, "the protected header")
        if not isinstance(header, dict):
            raise CodeFormatError("the protected header is not a map")
        if HDR_CRIT in header:
            raise CodeFormatError("critical header parameters are not supported")
        kid = header.get(HDR_KID)
        if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
            raise CodeFormatError(f"the protected header needs a kid of {KID_LENGTH} bytes")
        alg = header.get(HDR_ALG)
        found = (alg, kid)
        if type(alg) is int:  # only headers of the form signers write are remembered
            if len(_headers) >= 256:
                _headers.clear()
            _headers[protected] = found
    return found


_headers: dict[bytes, tuple[Any, bytes]] = {}
