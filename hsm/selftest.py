"""Known-answer self-test run at start-up, before anything is served.

Why: an SM2 provider that computes Z with the wrong (e.g. OpenSSL's empty) ID, or a verifier
that accepts anything, produces signatures and verdicts that look fine locally and are wrong
for everybody else. The only defence that works on every deployment is to check the provider
against published values each time the process starts:

* SM3 on the two GB/T 32905 examples ("abc", "abcd" x 16);
* the GB/T 32918.5 Annex A example on the recommended curve (d, P, ID, M, ZA, e, r, s):
  our Z and e equal the published ones, the provider derives P from d, verifies the published
  (r, s) both over M and over e, and rejects it under another ID and over another message;
* a fresh key signs a fresh random message, and the signature verifies, with the default and
  a custom ID, and does not verify under the wrong ID;
* ECDSA P-256 sign/verify through pyca/cryptography (the path for international peers).

:func:`run_self_test` records every check and never raises for a failed one;
:func:`require_self_test` raises :class:`SelfTestError` naming each failure.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from .algorithms import DEFAULT_SM2_ID, sm3
from .encoding import encode_signature, parse_spki, sm2_pkcs8_from_scalar, sm2_spki
from .errors import InvalidSignature, SelfTestError
from .keys import sm2_e, sm2_z
from .provider import SM2Provider, default_provider_name, get_provider

__all__ = [
    "SelfTestCheck",
    "SelfTestResult",
    "run_self_test",
    "require_self_test",
    "GBT32918_EXAMPLE",
]


@dataclass(frozen=True)
class _Example:
    d: int
    point: bytes
    sm2_id: bytes
    message: bytes
    za: bytes
    e: bytes
    r: int
    s: int


GBT32918_EXAMPLE = _Example(
    d=0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8,
    point=bytes.fromhex(
        "04"
        "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
        "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
    ),
    sm2_id=b"1234567812345678",
    message=b"message digest",
    za=bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"),
    e=bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"),
    r=0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3,
    s=0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA,
)
"""GB/T 32918.5-2016 Annex A / GM/T 0003.5-2012 example (docs/architecture.md, "Formats and standards")."""

_SM3_VECTORS = (
    ("sm3_abc", b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    ("sm3_abcd_x16", b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
)
_OTHER_ID = b"ALICE123@YAHOO.COM"


@dataclass(frozen=True)
class SelfTestCheck:
    """One named check and what it found."""

    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class SelfTestResult:
    """Outcome of one self-test run; ``/healthz`` shows :meth:`as_dict`."""

    passed: bool
    provider: str
    provider_version: str
    checks: tuple[SelfTestCheck, ...]
    duration_ms: float

    @property
    def failed(self) -> tuple[SelfTestCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "provider": self.provider,
            "provider_version": self.provider_version,
            "checks": [c.as_dict() for c in self.checks],
            "duration_ms": round(self.duration_ms, 3),
        }


class _CheckFailed(Exception):
    """A check's expectation was not met (as opposed to the check crashing)."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _CheckFailed(message)


def _expect_reject(fn: Callable[[], object], what: str) -> None:
    """``fn`` must raise InvalidSignature; accepting is a failure."""
    try:
        fn()
    except InvalidSignature:
        return
    raise _CheckFailed(f"{what} was accepted")


def _sm3_check(message: bytes, expected_hex: str) -> Callable[[SM2Provider], str]:
    def check(_: SM2Provider) -> str:
        got = sm3(message).hex()
        _expect(got == expected_hex, f"SM3 gave {got}, expected {expected_hex}")
        return "matches GB/T 32905 example"

    return check


def _z_check(_: SM2Provider) -> str:
    ex = GBT32918_EXAMPLE
    got = sm2_z(ex.point, ex.sm2_id)
    _expect(got == ex.za, f"Z = {got.hex()}, expected {ex.za.hex()}")
    return "Z_A matches GB/T 32918.5 Annex A"


def _e_check(_: SM2Provider) -> str:
    ex = GBT32918_EXAMPLE
    got = sm2_e(ex.point, ex.message, ex.sm2_id)
    _expect(got == ex.e, f"e = {got.hex()}, expected {ex.e.hex()}")
    return "e = SM3(Z_A || M) matches GB/T 32918.5 Annex A"


def _keypair_check(provider: SM2Provider) -> str:
    ex = GBT32918_EXAMPLE
    key = provider.load_private(sm2_pkcs8_from_scalar(ex.d))
    got = parse_spki(key.spki()).point
    _expect(got == ex.point, "public key derived from the example d is not the published P")
    return "provider derives the published P from d"


def _verify_published_check(provider: SM2Provider) -> str:
    ex = GBT32918_EXAMPLE
    pub = provider.load_public(sm2_spki(ex.point))
    sig = encode_signature(ex.r, ex.s)
    try:
        pub.verify(ex.message, sig, DEFAULT_SM2_ID)
    except InvalidSignature as exc:
        raise _CheckFailed("published (r, s) does not verify with the default ID") from exc
    try:
        pub.verify_digest(ex.e, sig)
    except InvalidSignature as exc:
        raise _CheckFailed("published (r, s) does not verify over the published e") from exc
    return "published (r, s) verifies over M with the default ID and over e"


def _reject_published_check(provider: SM2Provider) -> str:
    ex = GBT32918_EXAMPLE
    pub = provider.load_public(sm2_spki(ex.point))
    sig = encode_signature(ex.r, ex.s)
    _expect_reject(lambda: pub.verify(ex.message, sig, _OTHER_ID), "published (r, s) under another ID")
    _expect_reject(lambda: pub.verify(b"message digesT", sig, DEFAULT_SM2_ID), "published (r, s) over another message")
    _expect_reject(lambda: pub.verify_digest(sm3(ex.message), sig), "published (r, s) over SM3(M) without Z")
    return "published (r, s) rejected under another ID, another message and without Z"


def _known_key_sign_check(provider: SM2Provider) -> str:
    ex = GBT32918_EXAMPLE
    key = provider.load_private(sm2_pkcs8_from_scalar(ex.d))
    pub = provider.load_public(sm2_spki(ex.point))
    message = secrets.token_bytes(32)
    sig = key.sign(message, DEFAULT_SM2_ID)
    pub.verify(message, sig, DEFAULT_SM2_ID)
    _expect_reject(lambda: pub.verify(message, sig, _OTHER_ID), "signature by the example key under another ID")
    return "example key signs a fresh message; it verifies under P"


def _fresh_sign_check(provider: SM2Provider) -> str:
    key = provider.generate()
    pub = provider.load_public(key.spki())
    point = parse_spki(key.spki()).point
    message = secrets.token_bytes(48)
    for sm2_id in (DEFAULT_SM2_ID, b"trustsvc self-test"):
        sig = key.sign(message, sm2_id)
        pub.verify(message, sig, sm2_id)
        pub.verify_digest(sm2_e(point, message, sm2_id), sig)
        other = _OTHER_ID if sm2_id == DEFAULT_SM2_ID else DEFAULT_SM2_ID
        # each lambda runs at once, inside this iteration
        _expect_reject(lambda: pub.verify(message, sig, other), "fresh signature under the wrong ID")  # noqa: B023
        _expect_reject(lambda: pub.verify(message + b"\x00", sig, sm2_id), "fresh signature over another message")  # noqa: B023
    digest_sig = key.sign_digest(sm2_e(point, message, DEFAULT_SM2_ID))
    pub.verify(message, digest_sig, DEFAULT_SM2_ID)
    return "fresh key: sign/verify with default and custom ID, sign_digest, wrong ID rejected"


def _ecdsa_check(_: SM2Provider) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    message = secrets.token_bytes(48)
    sig = key.sign(message, ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(sig, message, ec.ECDSA(hashes.SHA256()))
    _expect_reject(
        lambda: key.public_key().verify(sig, message + b"\x00", ec.ECDSA(hashes.SHA256())),
        "ECDSA signature over another message",
    )
    return "ECDSA P-256 sign/verify (pyca/cryptography)"


_CHECKS: tuple[tuple[str, Callable[[SM2Provider], str]], ...] = (
    *((name, _sm3_check(msg, hexd)) for name, msg, hexd in _SM3_VECTORS),
    ("sm2_z_gbt32918", _z_check),
    ("sm2_e_gbt32918", _e_check),
    ("sm2_keypair_gbt32918", _keypair_check),
    ("sm2_verify_gbt32918", _verify_published_check),
    ("sm2_reject_gbt32918", _reject_published_check),
    ("sm2_sign_known_key", _known_key_sign_check),
    ("sm2_sign_verify_fresh", _fresh_sign_check),
    ("ecdsa_p256_sign_verify", _ecdsa_check),
)


def run_self_test(provider_name: str | None = None) -> SelfTestResult:
    """Run every check against ``provider_name`` (default: the process-wide provider).

    Never raises because a check failed or crashed: each outcome is recorded. A provider that
    cannot be loaded is itself a failed check (``provider_available``).
    """
    started = time.perf_counter()
    name = provider_name or default_provider_name()
    checks: list[SelfTestCheck] = []
    version = ""
    try:
        provider = get_provider(name)
        version = provider.version
        checks.append(SelfTestCheck("provider_available", True, f"{name}: {version}"))
    except Exception as exc:
        checks.append(SelfTestCheck("provider_available", False, f"{type(exc).__name__}: {exc}"))
        provider = None
    if provider is not None:
        for check_name, fn in _CHECKS:
            try:
                detail = fn(provider)
                checks.append(SelfTestCheck(check_name, True, detail))
            except _CheckFailed as exc:
                checks.append(SelfTestCheck(check_name, False, str(exc)))
            except Exception as exc:
                checks.append(SelfTestCheck(check_name, False, f"{type(exc).__name__}: {exc}"))
    return SelfTestResult(
        passed=bool(checks) and all(c.passed for c in checks),
        provider=name,
        provider_version=version,
        checks=tuple(checks),
        duration_ms=(time.perf_counter() - started) * 1000.0,
    )


def require_self_test(provider_name: str | None = None) -> SelfTestResult:
    """:func:`run_self_test`, raising when anything failed.

    :raises SelfTestError: listing each failed check and why; nothing may be served.
    """
    result = run_self_test(provider_name)
    if not result.passed:
        listing = "; ".join(f"{c.name}: {c.detail}" for c in result.failed)
        raise SelfTestError(f"SM2 self-test failed for provider {result.provider!r}: {listing}")
    return result
