"""GB/T 36904 licence identifiers (电子证照标识; docs/architecture.md, "Formats and standards")::

    1.2.156.3005.2.<证照类型代码>.<颁发机构代码>.<流水号>.<版本号>.<校验位>

The check character is ISO/IEC 7064 MOD 37,36 (hybrid) over ``type‖issuer‖serial‖version``
(dots removed), alphabet ``0-9A-Z``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import InvalidInputError

__all__ = ["ROOT", "ALPHABET", "LicenceIdentifier", "check_char", "parse_identifier"]

ROOT = "1.2.156.3005.2"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PART = re.compile(r"^[0-9A-Z]{1,64}$")
_VERSION = re.compile(r"^[0-9]{3}$")
MAX_LENGTH = 256


def check_char(payload: str) -> str:
    """The MOD 37,36 hybrid check character of ``payload`` (characters of 0-9A-Z)."""
    c = 36
    for ch in payload:
        v = ALPHABET.find(ch)
        if v < 0 or not ch:
            raise InvalidInputError(f"character {ch!r} is outside 0-9A-Z", code="invalid_identifier")
        c = (c + v) % 36
        if c == 0:
            c = 36
        c = (2 * c) % 37
    return ALPHABET[(37 - c) % 36]


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer_code: str
    serial: str
    version: int
    """1..999, written as 3 digits."""

    def __post_init__(self) -> None:
        for name in ("type_code", "issuer_code", "serial"):
            if not _PART.match(getattr(self, name)):
                raise InvalidInputError(
                    f"identifier {name} must be 1..64 characters of 0-9A-Z", code="invalid_identifier", field=name
                )
        if isinstance(self.version, bool) or not isinstance(self.version, int) or not 1 <= self.version <= 999:
            raise InvalidInputError("identifier version must be 1..999", code="invalid_identifier", field="version")

    @property
    def version_text(self) -> str:
        return f"{self.version:03d}"

    @functools.cached_property
    def check(self) -> str:
        return check_char(self.type_code + self.issuer_code + self.serial + self.version_text)

    @functools.cached_property
    def text(self) -> str:
        return ".".join((ROOT, self.type_code, self.issuer_code, self.serial, self.version_text, self.check))

    def __str__(self) -> str:
        return self.text


def parse_identifier(text: str) -> LicenceIdentifier:
    """Parse and check an identifier (upper-casing it first).

    :raises InvalidInputError: code ``invalid_identifier`` (shape) or ``identifier_check_failed``.
    """
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise InvalidInputError("not a GB/T 36904 licence identifier", code="invalid_identifier")
    return _parse_identifier(text)


@functools.lru_cache(maxsize=8192)
def _parse_identifier(text: str) -> LicenceIdentifier:
    """Cached: every verification of a code or file parses its identifier several times
    (the result is immutable; refusals raise and are not cached)."""
    text = text.strip().upper()
    if not text.startswith(ROOT + "."):
        raise InvalidInputError(f"a licence identifier starts with {ROOT}", code="invalid_identifier")
    parts = text[len(ROOT) + 1 :].split(".")
    if len(parts) != 5:
        raise InvalidInputError(
            "a licence identifier has 5 parts after the root: type.issuer.serial.version.check",
            code="invalid_identifier",
        )
    type_code, issuer, serial, version, check = parts
    if not _VERSION.match(version) or version == "000":
        raise InvalidInputError("the identifier version is 3 digits, 001..999", code="invalid_identifier")
    if len(check) != 1 or check not in ALPHABET:
        raise InvalidInputError("the identifier check is one character of 0-9A-Z", code="invalid_identifier")
    ident = LicenceIdentifier(type_code, issuer, serial, int(version))
    if ident.check != check:
        raise InvalidInputError("the identifier check character does not match", code="identifier_check_failed")
    return ident
