"""Seal status as verifiers see it: each seal's published status history, and the rule that
judges a signature by the seal's status at its signing time.

A region publishes, for each seal of each of its departments, every status change with the
time it took effect (``seals`` in its trust list; this region's own records for its own
seals). A signature made while its seal was suspended or revoked FAILS. One made before the
seal was suspended or revoked stays valid only when a time-stamp proves it existed before
(the seal was reported lost or misused: whoever holds it can claim any time); a seal merely
superseded (re-made on new certificates) judges nothing. The report names the rule.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ca.results import REVOKED, REVOKED_NO_POE

from ..times import iso_utc as _iso
from .report import ReportBuilder

__all__ = ["SealRule", "SealStatusChange", "PublishedSeal", "SealStatusBook", "check_seal_status"]

_STOPPED = frozenset({"suspended", "revoked"})


class SealRule(str, enum.Enum):
    """How a seal's status bears on a signature made at a given time."""

    STOPPED_AT_SIGNING = "seal_stopped_at_signing_time"
    """Suspended or revoked when the signature was made: FAILED / REVOKED."""
    POE_BEFORE_STOP = "poe_before_seal_stopped"
    """Suspended or revoked later, and a time-stamp proves the signature came first: PASSED, warned."""
    NO_POE_BEFORE_STOP = "no_poe_before_seal_stopped"
    """Suspended or revoked later, but only the claimed time says so: INDETERMINATE / REVOKED_NO_POE."""
    SUPERSEDED = "seal_superseded"
    """Re-made on new certificates; the old seal's signatures are judged as they were: PASSED, warned."""


@dataclass(frozen=True)
class SealStatusChange:
    status: str
    effective_at: dt.datetime
    reason: str = ""


@dataclass(frozen=True)
class PublishedSeal:
    """One seal as its region publishes it: status now and every change, oldest first."""

    esid: str
    sha256: str
    status: str
    changes: tuple[SealStatusChange, ...] = ()

    def status_at(self, at: dt.datetime) -> SealStatusChange | None:
        """The change in force at ``at`` (None: active since it was made)."""
        current = None
        for change in self.changes:
            if change.effective_at <= at:
                current = change
        return current if current is not None and current.status != "active" else None


class SealStatusBook:
    """The seals one anchor's namespace publishes, by SHA-256 of the seal (and esID)."""

    def __init__(self, seals: Iterable[PublishedSeal], source: str) -> None:
        self.source = source
        self._by_sha = {s.sha256: s for s in seals}
        self._by_esid = {s.esid: s for s in self._by_sha.values()}

    def __len__(self) -> int:
        return len(self._by_sha)

    def find(self, seal_der: bytes) -> PublishedSeal | None:
        return self._by_sha.get(hashlib.sha256(seal_der).hexdigest())

    def by_esid(self, esid: str) -> PublishedSeal | None:
        return self._by_esid.get(esid)

    @classmethod
    def from_mapping(cls, seals: Mapping[str, PublishedSeal], source: str) -> SealStatusBook:
        return cls(seals.values(), source)


def check_seal_status(
    builder: ReportBuilder,
    prefix: str,
    book: SealStatusBook,
    seal_der: bytes,
    es_id: str,
    at: dt.datetime,
    *,
    time_proven: bool,
) -> None:
    """Record ``<prefix>.status``: the seal's published status at ``at`` (see the module docstring)."""
    name = f"{prefix}.status"
    published = book.find(seal_der)
    if published is None:
        other = book.by_esid(es_id)
        if other is not None:
            builder.warn(
                name, f"{book.source} publishes seal esID {es_id} with another SHA-256: this is not the seal it made"
            )
        else:
            builder.skipped(name, f"seal esID {es_id} is not among the seals {book.source} publishes")
        return
    builder.status_now[prefix] = {**builder.status_now.get(prefix, {}), "status": published.status}
    stopped = published.status_at(at)
    later = [c for c in published.changes if c.effective_at > at and c.status in _STOPPED | {"superseded"}]
    if stopped is not None and stopped.status in _STOPPED:
        rule = SealRule.STOPPED_AT_SIGNING
        builder.fail(
            name,
            REVOKED,
            f"rule {rule.value}: seal {es_id} was {stopped.status} from "
            f"{_iso(stopped.effective_at)} ({stopped.reason or 'no reason given'}); the "
            f"signature dates from {_iso(at)}",
        )
    elif any(c.status in _STOPPED for c in later):
        change = next(c for c in later if c.status in _STOPPED)
        what = f"seal {es_id} was {change.status} from {_iso(change.effective_at)} ({change.reason or 'no reason'})"
        if time_proven:
            rule = SealRule.POE_BEFORE_STOP
            builder.warn(
                name,
                f"rule {rule.value}: {what}; a time-stamp proves the signature existed at "
                f"{_iso(at)}, before that, so it stays valid",
            )
        else:
            rule = SealRule.NO_POE_BEFORE_STOP
            builder.indeterminate(
                name,
                REVOKED_NO_POE,
                f"rule {rule.value}: {what}; only the signer's claimed time {_iso(at)} says the signature came before",
            )
    elif stopped is not None or later:
        change = stopped or later[0]
        rule = SealRule.SUPERSEDED
        builder.warn(
            name,
            f"rule {rule.value}: seal {es_id} was superseded from {_iso(change.effective_at)} "
            f"({change.reason or 're-made'}); signatures made with it are judged as they were",
        )
    else:
        builder.passed(name, f"seal {es_id} is {published.status} per {book.source}")
        return
    builder.status_now[prefix]["status_rule"] = rule.value
