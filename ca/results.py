"""The result vocabulary every trustsvc verification speaks (ETSI EN 319 102-1 style).

A verdict is an :class:`Indication` plus, unless it PASSED, one sub-indication string saying
why; every individual test made along the way is a :class:`Check`. The domain's
``VerificationReport`` reuses these, so the JSON shape (``{"name", "result", "detail"}``) is a
contract shared by CLI, API and tests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SignatureChecks",
    "Indication",
    "SubIndication",
    "Check",
    "CheckResult",
    "PASSED_CHECK",
    "FAILED_CHECK",
    "SKIPPED_CHECK",
    "WARNING_CHECK",
    "FORMAT_FAILURE",
    "HASH_FAILURE",
    "SIG_CRYPTO_FAILURE",
    "REVOKED",
    "EXPIRED",
    "NOT_YET_VALID",
    "SIG_CONSTRAINTS_FAILURE",
    "CHAIN_CONSTRAINTS_FAILURE",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE",
    "CRYPTO_CONSTRAINTS_FAILURE",
    "NO_SIGNING_CERTIFICATE_FOUND",
    "NO_CERTIFICATE_CHAIN_FOUND",
    "REVOKED_NO_POE",
    "OUT_OF_BOUNDS_NO_POE",
    "TRY_LATER",
    "SIGNED_DATA_NOT_FOUND",
    "TRUST_LIST_STALE",
]


class Indication(str, enum.Enum):
    """The overall verdict."""

    PASSED = "PASSED"
    INDETERMINATE = "INDETERMINATE"
    """Could not decide (e.g. no trust anchor reached); never to be read as "invalid"."""
    FAILED = "FAILED"


class SubIndication(enum.StrEnum):
    """Why a verdict is not PASSED: ETSI EN 319 102-1 §5.1.3 names, plus trustsvc's
    TRUST_LIST_STALE. String-valued, so reports and their JSON carry the plain name."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    TRUST_LIST_STALE = "TRUST_LIST_STALE"
    """The trust list in hand is past its next-update: fail closed."""


# The same members by their bare names, as verifiers import them.
FORMAT_FAILURE = SubIndication.FORMAT_FAILURE
HASH_FAILURE = SubIndication.HASH_FAILURE
SIG_CRYPTO_FAILURE = SubIndication.SIG_CRYPTO_FAILURE
REVOKED = SubIndication.REVOKED
EXPIRED = SubIndication.EXPIRED
NOT_YET_VALID = SubIndication.NOT_YET_VALID
SIG_CONSTRAINTS_FAILURE = SubIndication.SIG_CONSTRAINTS_FAILURE
CHAIN_CONSTRAINTS_FAILURE = SubIndication.CHAIN_CONSTRAINTS_FAILURE
CERTIFICATE_CHAIN_GENERAL_FAILURE = SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
CRYPTO_CONSTRAINTS_FAILURE = SubIndication.CRYPTO_CONSTRAINTS_FAILURE
NO_SIGNING_CERTIFICATE_FOUND = SubIndication.NO_SIGNING_CERTIFICATE_FOUND
NO_CERTIFICATE_CHAIN_FOUND = SubIndication.NO_CERTIFICATE_CHAIN_FOUND
REVOKED_NO_POE = SubIndication.REVOKED_NO_POE
OUT_OF_BOUNDS_NO_POE = SubIndication.OUT_OF_BOUNDS_NO_POE
TRY_LATER = SubIndication.TRY_LATER
SIGNED_DATA_NOT_FOUND = SubIndication.SIGNED_DATA_NOT_FOUND
TRUST_LIST_STALE = SubIndication.TRUST_LIST_STALE


CheckResult = Literal["passed", "failed", "skipped", "warning"]
PASSED_CHECK: CheckResult = "passed"
FAILED_CHECK: CheckResult = "failed"
SKIPPED_CHECK: CheckResult = "skipped"
WARNING_CHECK: CheckResult = "warning"
_CHECK_RESULTS = frozenset({PASSED_CHECK, FAILED_CHECK, SKIPPED_CHECK, WARNING_CHECK})


@dataclass(frozen=True)
class Check:
    """One test made during a verification, kept so a report can show its reasoning."""

    name: str
    """Stable dotted identifier, e.g. ``path[1].signature``."""
    result: CheckResult
    detail: str
    """Human-readable; names the object checked."""

    def __post_init__(self) -> None:
        if self.result not in _CHECK_RESULTS:
            raise ValueError(f"check result must be one of {sorted(_CHECK_RESULTS)}, not {self.result!r}")

    @property
    def failed(self) -> bool:
        return self.result == FAILED_CHECK

    def as_dict(self) -> dict[str, str]:
        """The JSON shape of the report contract (README, "Verification reports and policy")."""
        return {"name": self.name, "result": self.result, "detail": self.detail}


class SignatureChecks:
    """Mixin for frozen results that carry ``checks`` from verifying a CMS signature (CMS and
    time-stamp verifications): valid means the signature check passed and nothing failed."""

    checks: tuple[Check, ...]

    @property
    def valid(self) -> bool:
        signature_ok = any(c.name == "cms.signature" and c.result == PASSED_CHECK for c in self.checks)
        return signature_ok and not any(c.failed for c in self.checks)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f"{c.name}: {c.detail}" for c in self.checks if c.result == WARNING_CHECK)

    def check(self, name: str) -> Check | None:
        """The check called ``name``, if it was made."""
        return next((c for c in self.checks if c.name == name), None)
