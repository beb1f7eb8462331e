"""Offline verification of a service code: only cached trust material and cached status lists,
no call home (a service hall with the network down, DESIGN §4; the EU DCC verifier model).

On top of :func:`~trustsvc.codes.verify.verify_code_common`:

* the trust material's freshness goes into ``status_now.trust``; past its ``next_update`` the
  verdict is INDETERMINATE / TRUST_LIST_STALE (fail closed);
* the licence's status comes from its issuer's signed status list (checked with
  :func:`trustsvc.status_lists.verify_status_list` against the cached anchors), reported in
  ``status_now.status_list`` (sequence, issued_at, next_update, stale). No list, a stale list
  or an untrusted one: INDETERMINATE, never PASSED. Revoked (or superseded): FAILED / REVOKED;
  suspended: INDETERMINATE / TRY_LATER;
* a dynamic code's single use can only be enforced online: a warning.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ca.results import REVOKED, TRUST_LIST_STALE, TRY_LATER, Indication
from hsm.errors import TrustSvcError

from ..licences.identifier import parse_identifier
from ..report import ReportBuilder, VerificationReport
from .format import DYNAMIC, DecodedCode
from .material import CodeTrust
from .verify import verify_code_common

__all__ = ["verify_code_offline"]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _status_from_list(builder: ReportBuilder, code: DecodedCode, material: CodeTrust, now: dt.datetime) -> None:
    name = "licence.status"
    try:
        issuer = parse_identifier(code.claims.sub).issuer_code
    except TrustSvcError:
        builder.indeterminate(name, TRY_LATER, "the code's licence identifier names no issuer; status unknown")
        return
    checked = material.verified_status_list(issuer, now)
    if checked is None:
        builder.status_now["status_list"] = {"issuer": issuer, "sequence": None, "stale": None}
        builder.indeterminate(name, TRY_LATER, f"no status list of issuer {issuer} is cached "
                                               f"({material.source}); the licence status is unknown")
        return
    lst = checked.status_list
    builder.status_now["status_list"] = {
        "issuer": issuer,
        "sequence": lst.sequence if lst else None,
        "issued_at": _iso(lst.issued_at) if lst else None,
        "next_update": _iso(lst.next_update) if lst else None,
        "stale": checked.stale,
        "indication": checked.report.indication.value,
    }
    if lst is None or checked.report.indication is Indication.FAILED:
        builder.indeterminate(name, TRY_LATER, f"the cached status list of {issuer} cannot be used: "
                                               f"{checked.report.message}")
        return
    if checked.stale:
        builder.indeterminate(name, TRUST_LIST_STALE, f"the cached status list of {issuer} is stale (next update "
                                                      f"{_iso(lst.next_update)}); refresh it")
        return
    if not checked.report.passed:
        builder.indeterminate(name, checked.report.sub_indication or TRY_LATER,
                              f"the cached status list of {issuer} is not trusted: {checked.report.message}")
        return
    index = code.claims.status_index
    if index is None:
        builder.indeterminate(name, TRY_LATER, "the code carries no status index; status unknown offline")
        return
    try:
        status = lst.status_of(index)
    except TrustSvcError as exc:
        builder.indeterminate(name, TRY_LATER, f"status list sequence {lst.sequence}: {exc.message}")
        return
    where = f"status list of {issuer}, sequence {lst.sequence}, issued {_iso(lst.issued_at)}"
    builder.status_now["licence"] = {"identifier": code.claims.sub, "status": status, "source": "status list"}
    if status == "revoked":
        builder.fail(name, REVOKED, f"licence {code.claims.sub} is revoked or superseded ({where})")
    elif status == "suspended":
        builder.indeterminate(name, TRY_LATER, f"licence {code.claims.sub} is suspended ({where})")
    else:
        builder.passed(name, f"licence {code.claims.sub} is not revoked or suspended ({where})")


def verify_code_offline(text: Any, *, material: CodeTrust, now: dt.datetime | None = None) -> VerificationReport:
    """Verify a ``TS1:`` code with ``material`` alone (see the module docstring).
    Never raises for bad input: garbage is a FAILED / FORMAT_FAILURE report."""
    now = now or dt.datetime.now(dt.timezone.utc)
    builder, code = verify_code_common(text, material=material, now=now)
    builder.status_now["trust"] = material.freshness(now)
    if material.stale(now):
        assert material.next_update is not None
        builder.indeterminate("code.trust_material", TRUST_LIST_STALE,
                              f"the cached trust material ({material.source}) is stale since "
                              f"{_iso(material.next_update)}; refresh it")
    else:
        builder.passed("code.trust_material", f"trust material from {material.source}"
                       + (f", fresh until {_iso(material.next_update)}" if material.next_update else ""))
    if code is not None:
        _status_from_list(builder, code, material, now)
        if code.claims.typ == DYNAMIC:
            builder.warn("code.single_use", "offline: a dynamic code's single use is enforced only online")
    return builder.build()
