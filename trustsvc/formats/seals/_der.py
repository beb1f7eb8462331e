"""A small, tolerant view of DER for the SES parser: nodes that keep their original bytes.

Built on asn1crypto's tag/length parser and its universal types; nothing here encodes. Every
failure, whatever asn1crypto raised, becomes :class:`SESFormatError` naming the field, so the
parser above needs no ``try`` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core, parser

from .errors import SESFormatError

__all__ = [
    "Node",
    "read",
    "UNIVERSAL",
    "CONTEXT",
    "BOOLEAN",
    "INTEGER",
    "BIT_STRING",
    "OCTET_STRING",
    "OID",
    "UTF8_STRING",
    "SEQUENCE",
    "PRINTABLE_STRING",
    "IA5_STRING",
    "UTC_TIME",
    "GENERALIZED_TIME",
    "STRING_TAGS",
]

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 1, 2, 3, 4, 5, 6
UTF8_STRING, SEQUENCE, SET = 12, 16, 17
PRINTABLE_STRING, T61_STRING, IA5_STRING = 19, 20, 22
UTC_TIME, GENERALIZED_TIME = 23, 24
VISIBLE_STRING, UNIVERSAL_STRING, BMP_STRING = 26, 28, 30

_STRING_CLASSES: dict[int, type[core.AbstractString]] = {
    UTF8_STRING: core.UTF8String,
    PRINTABLE_STRING: core.PrintableString,
    T61_STRING: core.TeletexString,
    IA5_STRING: core.IA5String,
    VISIBLE_STRING: core.VisibleString,
    UNIVERSAL_STRING: core.UniversalString,
    BMP_STRING: core.BMPString,
}
STRING_TAGS = frozenset(_STRING_CLASSES)

_NAMES = {
    BOOLEAN: "BOOLEAN",
    INTEGER: "INTEGER",
    BIT_STRING: "BIT STRING",
    OCTET_STRING: "OCTET STRING",
    NULL: "NULL",
    OID: "OBJECT IDENTIFIER",
    UTF8_STRING: "UTF8String",
    SEQUENCE: "SEQUENCE",
    SET: "SET",
    PRINTABLE_STRING: "PrintableString",
    T61_STRING: "TeletexString",
    IA5_STRING: "IA5String",
    UTC_TIME: "UTCTime",
    GENERALIZED_TIME: "GeneralizedTime",
    VISIBLE_STRING: "VisibleString",
    UNIVERSAL_STRING: "UniversalString",
    BMP_STRING: "BMPString",
}
_MAX_INT_OCTETS = 16


def _header(data: bytes, field: str, *, whole: bool) -> tuple[int, bool, int, int]:
    """(class, constructed, tag, total length) of the first element of ``data``."""
    try:
        cls, method, tag, header, contents, trailer = parser.parse(data, strict=whole)
    except (ValueError, TypeError, OverflowError) as exc:
        raise SESFormatError(f"not DER: {exc}", field=field) from exc
    if trailer:
        raise SESFormatError("indefinite-length (BER) encoding; DER is required", field=field)
    return cls, method == 1, tag, len(header) + len(contents)


@dataclass(frozen=True)
class Node:
    """One TLV element. ``raw`` is the complete original encoding (what signatures cover)."""

    cls: int
    constructed: bool
    tag: int
    raw: bytes
    header_len: int
    field: str
    """Dotted path for messages, e.g. ``SES_Signature.toSign.timeInfo``."""

    @property
    def contents(self) -> bytes:
        return self.raw[self.header_len :]

    @property
    def kind(self) -> str:
        if self.cls == UNIVERSAL:
            return _NAMES.get(self.tag, f"universal tag {self.tag}")
        label = {APPLICATION: "APPLICATION ", CONTEXT: "", PRIVATE: "PRIVATE "}[self.cls]
        return f"[{label}{self.tag}]{' constructed' if self.constructed else ''}"

    def is_universal(self, tag: int) -> bool:
        return self.cls == UNIVERSAL and self.tag == tag

    def is_context(self, tag: int) -> bool:
        return self.cls == CONTEXT and self.tag == tag

    def fail(self, message: str) -> SESFormatError:
        return SESFormatError(message, field=self.field)

    # -- structure -----------------------------------------------------------------------
    def children(self, name: str | None = None, names: tuple[str, ...] = ()) -> list[Node]:
        """The elements inside a constructed node, each named ``field.names[i]`` when given."""
        if not self.constructed:
            raise self.fail(f"expected a constructed element, found {self.kind}")
        contents = self.contents
        out: list[Node] = []
        pos = 0
        while pos < len(contents):
            label = names[len(out)] if len(out) < len(names) else f"[{len(out)}]"
            field = f"{self.field}.{label}"
            cls, constructed, tag, size = _header(contents[pos:], field, whole=False)
            raw = contents[pos : pos + size]
            out.append(Node(cls, constructed, tag, raw, size - _content_len(raw, field), field))
            pos += size
        return out

    def sequence(self, names: tuple[str, ...] = ()) -> list[Node]:
        if not self.is_universal(SEQUENCE):
            raise self.fail(f"expected SEQUENCE, found {self.kind}")
        return self.children(names=names)

    # -- primitives ----------------------------------------------------------------------
    def _primitive(self, tag: int) -> bytes:
        if not self.is_universal(tag):
            raise self.fail(f"expected {_NAMES[tag]}, found {self.kind}")
        if self.constructed:
            raise self.fail(f"constructed {_NAMES[tag]} is not DER")
        return self.contents

    def integer(self) -> int:
        contents = self._primitive(INTEGER)
        if not contents or len(contents) > _MAX_INT_OCTETS:
            raise self.fail(f"INTEGER of {len(contents)} octets")
        return core.Integer.load(self.raw).native

    def boolean(self) -> bool:
        contents = self._primitive(BOOLEAN)
        if len(contents) != 1:
            raise self.fail("BOOLEAN must be one octet")
        return contents != b"\x00"

    def octets(self) -> bytes:
        return self._primitive(OCTET_STRING)

    def bit_string(self) -> tuple[int, bytes]:
        """(unused bits, octets) of a BIT STRING."""
        contents = self._primitive(BIT_STRING)
        if not contents:
            raise self.fail("BIT STRING without its unused-bits octet")
        unused = contents[0]
        if unused > 7 or (unused and len(contents) == 1):
            raise self.fail(f"BIT STRING declares {unused} unused bits")
        return unused, contents[1:]

    def oid(self) -> str:
        contents = self._primitive(OID)
        if not contents or contents[-1] & 0x80:
            raise self.fail("malformed OBJECT IDENTIFIER")
        try:
            return core.ObjectIdentifier.load(self.raw).dotted
        except (ValueError, TypeError) as exc:
            raise self.fail(f"malformed OBJECT IDENTIFIER: {exc}") from exc

    def string(self) -> str:
        """Text of any universal string type (the caller warns when the type is unexpected)."""
        cls = _STRING_CLASSES.get(self.tag) if self.cls == UNIVERSAL else None
        if cls is None:
            raise self.fail(f"expected a string, found {self.kind}")
        if self.constructed:
            raise self.fail("constructed string is not DER")
        try:
            value = cls.load(self.raw).native
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise self.fail(f"{self.kind} does not decode: {exc}") from exc
        if not isinstance(value, str):
            raise self.fail(f"{self.kind} does not decode to text")
        return value

    def time(self) -> datetime:
        """An aware UTC datetime from a UTCTime or GeneralizedTime."""
        if self.cls != UNIVERSAL or self.tag not in (UTC_TIME, GENERALIZED_TIME) or self.constructed:
            raise self.fail(f"expected UTCTime or GeneralizedTime, found {self.kind}")
        spec = core.UTCTime if self.tag == UTC_TIME else core.GeneralizedTime
        try:
            value = spec.load(self.raw).native
        except (ValueError, TypeError, OverflowError, UnicodeDecodeError) as exc:
            raise self.fail(f"{self.kind} is malformed: {exc}") from exc
        if not isinstance(value, datetime):
            raise self.fail(f"{self.kind} is outside the supported range")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _content_len(raw: bytes, field: str) -> int:
    try:
        _, _, _, _header, contents, _ = parser.parse(raw, strict=True)
    except (ValueError, TypeError, OverflowError) as exc:  # pragma: no cover - parsed once already
        raise SESFormatError(f"not DER: {exc}", field=field) from exc
    return len(contents)


def read(data: bytes, field: str) -> Node:
    """Exactly one DER element filling ``data`` (trailing bytes are refused)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SESFormatError(f"expected bytes, got {type(data).__name__}", field=field)
    data = bytes(data)
    if not data:
        raise SESFormatError("empty input", field=field)
    cls, constructed, tag, size = _header(data, field, whole=True)
    if size != len(data):  # pragma: no cover - strict parsing refuses trailing data already
        raise SESFormatError(f"{len(data) - size} bytes after the structure", field=field)
    return Node(cls, constructed, tag, data, size - _content_len(data, field), field)
