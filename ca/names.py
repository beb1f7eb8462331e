"""Distinguished names: build them from a spec, print them, compare them the RFC 5280 way.

Chinese government names must survive a round trip unchanged, so every attribute is a
UTF8String except countryName (PrintableString, as X.520 requires).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import parser, x509

from . import oids  # noqa: F401  (registration before any asn1crypto use)

__all__ = ["SubjectSpec", "build_name", "format_name", "name_key"]

_SHORT_LABELS = {
    "country_name": "C",
    "state_or_province_name": "ST",
    "locality_name": "L",
    "organization_name": "O",
    "organizational_unit_name": "OU",
    "common_name": "CN",
    "email_address": "emailAddress",
    "organization_identifier": "organizationIdentifier",
    "serial_number": "serialNumber",
    "street_address": "street",
    "domain_component": "DC",
    "title": "title",
    "given_name": "GN",
    "surname": "SN",
}
_ESCAPE = {c: "\\" + c for c in '\\,+"<>;='}


@dataclass(frozen=True)
class SubjectSpec:
    """What a certificate's subject says. Empty strings are treated as absent."""

    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str = "CN"
    province: str | None = None
    locality: str | None = None
    organization_identifier: str | None = None
    """e.g. the 18-character unified social credit code (统一社会信用代码) of a department."""

    def __post_init__(self) -> None:
        if not self.common_name or not self.common_name.strip():
            raise ValueError("a subject needs a common name")
        if self.country and (len(self.country) != 2 or not self.country.isascii() or not self.country.isalpha()):
            raise ValueError(f"country must be a 2-letter ISO 3166 code, not {self.country!r}")

    def to_name(self) -> x509.Name:
        """The subject as an asn1crypto :class:`~asn1crypto.x509.Name`."""
        return build_name(self)


def build_name(spec: SubjectSpec) -> x509.Name:
    """Build the DN (order C, ST, L, O, OU, CN, organizationIdentifier) with UTF8String values."""
    values = {
        "country_name": spec.country,
        "state_or_province_name": spec.province,
        "locality_name": spec.locality,
        "organization_name": spec.organization,
        "organizational_unit_name": spec.organizational_unit,
        "common_name": spec.common_name,
        "organization_identifier": spec.organization_identifier,
    }
    return x509.Name.build({k: v for k, v in values.items() if v}, use_printable=False)


def _format_value(value: object) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes):
        return "#" + value.hex()
    else:
        text = str(value)
    return "".join(_ESCAPE.get(c, c) for c in text)


_TEXT_TAGS = {12: "utf-8", 19: "ascii", 20: "latin-1", 22: "ascii", 26: "ascii", 30: "utf-16-be", 28: "utf-32-be"}


def _raw_attribute_value(atv: x509.NameTypeAndValue) -> object:
    """The value of an attribute whose encoding disagrees with its type's ASN.1 (e.g. an
    x500UniqueIdentifier written as UTF8String by some CAs): text if it is a string type,
    else the raw contents. Read with asn1crypto's TLV parser, never re-encoded."""
    try:
        body = atv.contents
        oid = parser.parse(body)
        rest = body[len(oid[3]) + len(oid[4]) :]
        cls, _method, tag, _header, contents, _trailer = parser.parse(rest)
    except (ValueError, TypeError):
        return b""
    if cls == 0 and tag in _TEXT_TAGS:
        return contents.decode(_TEXT_TAGS[tag], errors="replace")
    return contents


# Names repeat (every certificate of a region names the same few issuers; every CMS object of
# one signer carries the same issuer name) and asn1crypto prepares each value in pure Python
# (RFC 4518 string preparation, about 0.1 ms a name), so both functions below remember their
# answer by the name's encoded contents (the same whether or not the name is tagged, as in a
# GeneralName). Bounded: past the limit the memory starts again.
_NAMES_REMEMBERED = 8192
_keys: dict[bytes, str] = {}
_texts: dict[bytes, str] = {}


def _remember(memory: dict[bytes, str], contents: bytes, value: str) -> str:
    if len(memory) >= _NAMES_REMEMBERED:
        memory.clear()
    memory[contents] = value
    return value


def format_name(name: x509.Name) -> str:
    """One-line text in DER order, e.g. ``C=CN, O=江苏省市场监督管理局, CN=签章``.

    Unknown attribute types print as their dotted OID; non-string values as ``#hex``.
    """
    contents = name.contents
    text = _texts.get(contents)
    return text if text is not None else _remember(_texts, contents, _format_name(name))


def _format_name(name: x509.Name) -> str:
    parts: list[str] = []
    for rdn in name.chosen:
        items = []
        for atv in rdn:
            label = _SHORT_LABELS.get(atv["type"].native, atv["type"].native)
            try:
                value = atv["value"].native
            except Exception:
                value = _raw_attribute_value(atv)
            items.append(f"{label}={_format_value(value)}")
        parts.append("+".join(items))
    return ", ".join(parts)


def name_key(name: x509.Name) -> str:
    """A string equal for names that RFC 5280 §7.1 calls equal (case, spaces, string type).

    Falls back to the exact DER when the name holds values that string preparation refuses.
    """
    contents = name.contents
    key = _keys.get(contents)
    return key if key is not None else _remember(_keys, contents, _name_key(name))


def _name_key(name: x509.Name) -> str:
    try:
        return "n:" + name.hashable
    except Exception:
        return "d:" + name.dump().hex()
