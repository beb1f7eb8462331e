"""Authorisation in the trust list: an issuer may sign only the licence types its region's list
names for it (docs/trust-namespaces.md; the EU DCC's EKU-per-certificate-type idea, kept in the list instead).

A licence identifier names its type and issuer (``1.2.156.3005.2.<type>.<issuer>.…``); the
signer's certificate path reached an anchor; the list that vouches for that anchor says which
types that issuer may sign (:attr:`trustsvc.formats.trust.TrustContext.authorisations`). A type not
listed, or an issuer the list does not name, FAILS (SIG_CONSTRAINTS_FAILURE). An anchor no list
speaks for (e.g. ``--anchor``) skips the check.
"""

from __future__ import annotations

from collections.abc import Iterable

from ca.results import SIG_CONSTRAINTS_FAILURE
from hsm.errors import TrustSvcError

from ..formats.report import ReportBuilder
from ..formats.trust import TrustContext
from ..licences.identifier import parse_identifier

__all__ = ["check_licence_authorisation"]


def check_licence_authorisation(
    builder: ReportBuilder,
    trust: TrustContext,
    identifier: str | None,
    *,
    roles: Iterable[str],
    name: str = "licence.authorisation",
) -> None:
    """Record whether the issuer in ``identifier`` may sign its type, per the list behind the
    anchor that ``roles``' trust path (already in ``builder.trust_path``) reached."""
    if not trust.authorisations or identifier is None:
        return
    try:
        ident = parse_identifier(identifier)
    except TrustSvcError:
        return  # the identifier checks already report it
    wanted = set(roles)
    anchors = [t for t in builder.trust_path if t.get("trust_anchor") and t.get("role") in wanted]
    if not anchors:
        builder.skipped(name, "no trust anchor was reached, so no trust list speaks for the issuer")
        return
    anchor = anchors[-1]
    table = trust.authorisations.get(str(anchor.get("sha256")))
    if table is None:
        builder.skipped(name, "the anchor reached is not vouched for by a trust list; types not checked")
        return
    where = f"region {anchor.get('region')}'s trust list" + (
        f" (sequence {anchor['list_sequence']})" if anchor.get("list_sequence") is not None else ""
    )
    types = table.get(ident.issuer_code)
    if types is None:
        builder.fail(name, SIG_CONSTRAINTS_FAILURE, f"issuer {ident.issuer_code} is not listed in {where}")
    elif ident.type_code not in types:
        builder.fail(
            name,
            SIG_CONSTRAINTS_FAILURE,
            f"issuer {ident.issuer_code} may not sign licence type {ident.type_code}: {where} lists "
            f"{', '.join(sorted(types)) or 'no types'} for it",
        )
    else:
        builder.passed(name, f"issuer {ident.issuer_code} may sign licence type {ident.type_code} per {where}")
