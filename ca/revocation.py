"""The revocation-source interface path validation asks: "was this certificate revoked by then?"

CRLs (:class:`ca.crl.CRLRevocationChecker`) implement it now; OCSP and the domain's own
revocation store can implement it later without path validation changing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .certs import ParsedCertificate

__all__ = ["RevocationStatus", "RevocationChecker", "StatusValue"]

StatusValue = Literal["good", "revoked", "unknown"]
_STATUSES = frozenset({"good", "revoked", "unknown"})


@dataclass(frozen=True)
class RevocationStatus:
    """What one revocation source says about one certificate."""

    status: StatusValue
    revoked_at: datetime | None = None
    """When it was revoked (set iff ``status == "revoked"``)."""
    reason: str | None = None
    """CRLReason name (``key_compromise`` ...), when given."""
    source: str = ""
    """Which CRL / responder said so, for the report."""

    def __post_init__(self) -> None:
        if self.status not in _STATUSES:
            raise ValueError(f"status must be one of {sorted(_STATUSES)}, not {self.status!r}")
        if (self.status == "revoked") != (self.revoked_at is not None):
            raise ValueError("revoked_at is required for, and only for, a revoked status")

    def revoked_by(self, at: datetime) -> bool:
        """Revoked at or before ``at``: a revocation dated later does not affect ``at``."""
        return self.status == "revoked" and self.revoked_at is not None and self.revoked_at <= at


@runtime_checkable
class RevocationChecker(Protocol):
    """A source of revocation status."""

    def check(self, cert: ParsedCertificate, issuer: ParsedCertificate, at: datetime) -> RevocationStatus:
        """Status of ``cert`` (issued by ``issuer``) as known for time ``at``; never raises for
        missing information, answers ``unknown`` instead."""
        ...
