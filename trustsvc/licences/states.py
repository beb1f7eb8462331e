"""The states a licence can be in, one vocabulary for the service, listings and verifiers."""

from __future__ import annotations

import enum

__all__ = ["LicenceState", "LICENCE_STATES"]


class LicenceState(enum.StrEnum):
    """A licence's status. String-valued: stored and shown as the plain word."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    """It may be reinstated: verifiers answer INDETERMINATE / TRY_LATER meanwhile."""
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    """A newer version (变更 / 延续) replaced it."""
    EXPIRED = "expired"
    """Never stored: an active licence past its last valid day (China time)."""
    UNKNOWN = "unknown"
    """A peer region's licence whose status list is missing or stale (never one of ours)."""


LICENCE_STATES = tuple(s for s in LicenceState if s is not LicenceState.UNKNOWN)
"""The states a licence of this service can be in now."""
