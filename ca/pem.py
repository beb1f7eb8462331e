"""Telling PEM from DER and unwrapping it: the one rule every reader in ``ca/`` and ``trustsvc/`` uses.

RFC 7468 §5.2: parsers must ignore text outside the encapsulation boundaries. ``openssl x509
-text`` writes a readable dump before ``-----BEGIN CERTIFICATE-----`` and CA bundles do the same
per block, so PEM is recognised by its first ``-----BEGIN <label>-----`` line wherever it is, not
by the first bytes. Only text may precede that line: DER has control bytes (tags, lengths) before
any string it carries, so a DER object that merely contains a PEM-looking line (a signed PEM file
as CMS content, say) stays DER. Decoding itself is asn1crypto's :func:`asn1crypto.pem.unarmor`,
started at the boundary found here.
"""

from __future__ import annotations

import re

from asn1crypto import pem as asn1_pem

__all__ = ["pem_start", "is_pem", "pem_label", "unarmor_all", "to_der"]

# RFC 7468 §3: label = [ labelchar *( ["-" / SP] labelchar ) ], labelchar = %x21-2C / %x2E-7E;
# the boundary starts a line (blanks before it tolerated, as some tools indent).
_LABEL_CHAR = rb"[\x21-\x2c\x2e-\x7e]"
_BEGIN = re.compile(rb"^[ \t]*(-----BEGIN (" + _LABEL_CHAR + rb"(?:[- ]?" + _LABEL_CHAR + rb")*)?-----)", re.MULTILINE)
# Bytes no explanatory text contains but every DER header does (tab, LF, VT, FF, CR are text).
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


def _first_boundary(data: bytes) -> re.Match[bytes] | None:
    match = _BEGIN.search(data)
    if match is None or _BINARY.search(data, 0, match.start()):
        return None
    return match


def pem_start(data: bytes) -> int | None:
    """Offset of the first ``-----BEGIN <label>-----`` when ``data`` is PEM, else ``None``."""
    match = _first_boundary(bytes(data))
    return None if match is None else match.start(1)


def is_pem(data: bytes) -> bool:
    """True when ``data`` is PEM text, explanatory text before the first block allowed."""
    return pem_start(data) is not None


def pem_label(data: bytes) -> str | None:
    """The label of the first PEM block (``CERTIFICATE``, ``PKCS7`` ...), ``None`` if not PEM."""
    match = _first_boundary(bytes(data))
    return None if match is None else (match.group(2) or b"").decode("ascii")


def unarmor_all(data: bytes) -> list[tuple[str, bytes]]:
    """Every PEM block in ``data`` as ``(label, der)``; raises ``ValueError`` on broken armour
    or when there is no block. Text before, between and after blocks is ignored."""
    start = pem_start(data)
    if start is None:
        raise ValueError("no PEM block found")
    blocks = [(kind, der) for kind, _headers, der in asn1_pem.unarmor(bytes(data)[start:], multiple=True)]
    if not blocks:
        raise ValueError("no PEM block found")
    return blocks


def to_der(data: bytes) -> bytes:
    """``data`` as DER: the first PEM block's contents when it is PEM, else ``data`` unchanged.

    :raises ValueError: PEM with broken armour.
    """
    data = bytes(data)
    if not is_pem(data):
        return data
    return unarmor_all(data)[0][1]
