"""Service codes (服务码): signed static and dynamic QR codes for licences (DESIGN §4,
docs/service-code.md). ``format`` is the wire format, ``service`` issues codes, ``verify`` holds
the checks every verification makes, ``online`` and ``offline`` the two ways to verify, and
``render`` the QR pictures."""

from __future__ import annotations

from .format import ALG_SM2_SM3, PREFIX, CodeClaims, CodeFormatError, DecodedCode, decode_code, kid_for, sign_code

__all__ = [
    "ALG_SM2_SM3",
    "PREFIX",
    "CodeClaims",
    "CodeFormatError",
    "DecodedCode",
    "decode_code",
    "kid_for",
    "sign_code",
]
