"""``VerificationReport``: what every verification returns (README, "Verification reports and policy"), never a bare bool.

A :class:`ReportBuilder` collects checks as a verifier makes them; the verdict follows from
them: any failed check that carries a sub-indication makes the report FAILED (the first one
names the reason), otherwise any unresolved trust question makes it INDETERMINATE, otherwise
PASSED. Validity is judged at the signing time; ``status_now`` says what holds today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ca.results import Check, CheckResult, Indication
from trustsvc.times import iso_utc

__all__ = ["VerificationReport", "ReportBuilder", "ReportPart", "worst"]

_RANK = {Indication.PASSED: 0, Indication.INDETERMINATE: 1, Indication.FAILED: 2}


@dataclass(frozen=True)
class VerificationReport:
    indication: Indication
    sub_indication: str | None
    message: str
    """One sentence saying why (the first failure, or what could not be decided)."""
    object: Mapping[str, Any]
    """What was verified: ``{"kind": "ses_signature" | "ses_seal" | "ofd" | "cms" | …, …}``."""
    signing_time: dt.datetime | None = None
    checks: tuple[Check, ...] = ()
    trust_path: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    status_now: Mapping[str, Any] = field(default_factory=dict)
    """What holds at verification time (e.g. certificate expired since, revoked since)."""

    @property
    def passed(self) -> bool:
        return self.indication is Indication.PASSED

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract shared by CLI, API and tests."""
        return {
            "indication": self.indication.value,
            "sub_indication": self.sub_indication,
            "message": self.message,
            "object": dict(self.object),
            "signing_time": iso_utc(self.signing_time),
            "checks": [c.as_dict() for c in self.checks],
            "trust_path": [dict(t) for t in self.trust_path],
            "warnings": list(self.warnings),
            "status_now": dict(self.status_now),
        }

    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if c.failed]


def worst(indications: Iterable[Indication]) -> Indication:
    """The least favourable of several verdicts (PASSED < INDETERMINATE < FAILED)."""
    return max(indications, key=_RANK.__getitem__, default=Indication.PASSED)


@dataclass(frozen=True)
class ReportPart:
    """What a builder recorded, to be replayed into other reports: an assessment that depends
    only on its inputs (a code signer's path at a signing time) is made once and reused."""

    checks: tuple[Check, ...]
    trust_path: tuple[Mapping[str, Any], ...]
    warnings: tuple[str, ...]
    status_now: Mapping[str, Any]
    failure: tuple[str, str] | None
    indeterminate: tuple[str, str] | None


class ReportBuilder:
    """Accumulates checks for one verification and derives the verdict."""

    def __init__(self, kind: str, **object_fields: Any) -> None:
        self.object: dict[str, Any] = {"kind": kind, **object_fields}
        self.checks: list[Check] = []
        self.warnings: list[str] = []
        self.trust_path: list[Mapping[str, Any]] = []
        self.signing_time: dt.datetime | None = None
        self.status_now: dict[str, Any] = {}
        self._failure: tuple[str, str] | None = None
        self._indeterminate: tuple[str, str] | None = None

    def check(self, name: str, result: CheckResult, detail: str) -> Check:
        c = Check(name, result, detail)
        self.checks.append(c)
        return c

    def passed(self, name: str, detail: str) -> None:
        self.check(name, "passed", detail)

    def add(self, check: Check) -> None:
        """Record a check made elsewhere, as is: a passed check whose wording is fixed is built
        once (checks are frozen) instead of once per verification. Not for a failed check: the
        verdict follows from :meth:`fail` and :meth:`indeterminate`."""
        if check.result == "failed":
            raise ValueError("a failed check is recorded with fail() or indeterminate(), which set the verdict")
        self.checks.append(check)

    def skipped(self, name: str, detail: str) -> None:
        self.check(name, "skipped", detail)

    def warn(self, name: str, detail: str) -> None:
        self.check(name, "warning", detail)
        self.warnings.append(detail)

    def fail(self, name: str, sub_indication: str, detail: str) -> None:
        """A check failed: the report is FAILED (the first failure names the reason)."""
        self.check(name, "failed", detail)
        if self._failure is None:
            self._failure = (sub_indication, detail)

    def indeterminate(self, name: str, sub_indication: str, detail: str, *, result: CheckResult = "failed") -> None:
        """Something could not be decided (no anchor, no status): INDETERMINATE unless FAILED."""
        self.check(name, result, detail)
        if self._indeterminate is None:
            self._indeterminate = (sub_indication, detail)

    def extend(self, checks: Iterable[Check], prefix: str = "") -> None:
        for c in checks:
            self.checks.append(Check(prefix + c.name, c.result, c.detail) if prefix else c)

    @property
    def has_failed(self) -> bool:
        return self._failure is not None

    def part(self) -> ReportPart:
        """Everything recorded so far, frozen (see :class:`ReportPart`)."""
        return ReportPart(
            checks=tuple(self.checks),
            trust_path=tuple(MappingProxyType(dict(t)) for t in self.trust_path),  # read-only: replayed as is
            warnings=tuple(self.warnings),
            status_now=dict(self.status_now),
            failure=self._failure,
            indeterminate=self._indeterminate,
        )

    def add_part(self, part: ReportPart) -> None:
        """Record ``part`` here as if its checks had been made here, in order."""
        self.checks.extend(part.checks)
        self.trust_path.extend(part.trust_path)  # read-only entries (see part), shared by every replay
        self.warnings.extend(part.warnings)
        for k, v in part.status_now.items():
            self.status_now[k] = dict(v) if isinstance(v, dict) else v
        if self._failure is None:
            self._failure = part.failure
        if self._indeterminate is None:
            self._indeterminate = part.indeterminate

    def build(self) -> VerificationReport:
        if self._failure is not None:
            indication, (sub, message) = Indication.FAILED, self._failure
        elif self._indeterminate is not None:
            indication, (sub, message) = Indication.INDETERMINATE, self._indeterminate
        else:
            indication, sub, message = Indication.PASSED, None, "all checks passed"
        return VerificationReport(
            indication=indication,
            sub_indication=sub,
            message=message,
            object=dict(self.object),
            signing_time=self.signing_time,
            checks=tuple(self.checks),
            trust_path=tuple(self.trust_path),
            warnings=tuple(self.warnings),
            status_now=dict(self.status_now),
        )
