"""The pieces of a service-code verification that do not depend on where trust comes from:
the code's minimal fields, its region against the signer's anchor, and its lifetime. The region
verifier (:func:`trustsvc.verifier.verify_code`) finds the signer in the code's namespace,
checks the signature and the signer's path, and adds licence status and single use.

Rules (DESIGN §4, issue 5):

* anything that is not a well-formed code: FAILED / FORMAT_FAILURE (never an exception);
* a kid that names no known code-signer certificate: INDETERMINATE / NO_SIGNING_CERTIFICATE_FOUND;
* a signature that verifies under none of the certificates with that kid: FAILED /
  SIG_CRYPTO_FAILURE;
* the signer's certificate is judged at the code's ``iat`` (its signing time); expiry since is
  reported in ``status_now``;
* past ``exp``: FAILED / EXPIRED, naming the expiry time; an ``iat`` in the future beyond the
  allowed clock skew: FAILED / NOT_YET_VALID.

Only minimal fields are returned (``object``): the code's type, licence identifier, issuing
region and department, the signed display fields, and its times.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ca.results import EXPIRED, NOT_YET_VALID, SIG_CONSTRAINTS_FAILURE, Check
from hsm import KeyAlgorithm
from hsm.errors import TrustSvcError
from trustsvc.times import iso_utc, iso_utc_epoch

from ..formats.report import ReportBuilder
from ..licences.identifier import parse_identifier
from .format import DecodedCode

__all__ = [
    "CLOCK_SKEW",
    "ALREADY_USED",
    "code_time",
    "ALG_NAMES",
    "SIGNING_USAGE",
    "minimal_object",
    "check_issuer_region",
    "check_lifetime",
]

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far in the future a code's ``iat`` may lie (the signer's clock versus ours)."""
ALREADY_USED = "ALREADY_USED"
"""Sub-indication: a dynamic code was already used online (replay, e.g. a screenshot)."""
_SIGNING_USAGE = frozenset({"digital_signature"})


def code_time(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _minimal_object(code: DecodedCode) -> dict[str, Any]:
    c = code.claims
    obj: dict[str, Any] = {
        "code_type": c.typ,
        "licence": c.sub,
        "issuer_region": c.iss,
        "issued_at": iso_utc_epoch(c.iat),
        "expires_at": iso_utc_epoch(c.exp) if c.exp is not None else None,
        "display": dict(c.display),
        "kid": code.kid.hex(),
    }
    try:
        ident = parse_identifier(c.sub)
    except TrustSvcError:
        return obj
    obj.update({"licence_type": ident.type_code, "issuer": ident.issuer_code, "licence_version": ident.version})
    return obj


_ALG_NAMES = {KeyAlgorithm.SM2: "SM2-with-SM3", KeyAlgorithm.ECDSA_P256: "ES256 (ECDSA P-256, SHA-256)"}


def _region(builder: ReportBuilder, code: DecodedCode) -> None:
    regions = {str(t["region"]) for t in builder.trust_path if t.get("trust_anchor") and t.get("region")}
    if not regions:
        builder.skipped("code.issuer_region", "the anchor reached names no region; iss not compared")
    elif code.claims.iss in regions:
        builder.passed("code.issuer_region", f"iss {code.claims.iss} is the region of the signer's anchor")
    else:
        builder.fail(
            "code.issuer_region",
            SIG_CONSTRAINTS_FAILURE,
            f"iss {code.claims.iss} is not the region ({', '.join(sorted(regions))}) that certified the code signer",
        )


_STATIC_LIFETIME = Check("code.lifetime", "passed", "a static code without an expiry: it lives as long as its licence")


def _lifetime(
    builder: ReportBuilder, code: DecodedCode, now: dt.datetime, issued_at: dt.datetime | None = None
) -> None:
    """:param issued_at: ``code_time(iat)`` when the caller has it already."""
    c = code.claims
    iat = issued_at if issued_at is not None else code_time(c.iat)
    if iat > now + CLOCK_SKEW:
        builder.fail("code.not_before", NOT_YET_VALID, f"the code was issued in the future ({iso_utc(iat)})")
    if c.exp is None:
        builder.add(_STATIC_LIFETIME)
        return
    exp = code_time(c.exp)
    if now >= exp:
        builder.fail("code.lifetime", EXPIRED, f"the code expired at {iso_utc(exp)} (过期)")
    else:
        builder.passed("code.lifetime", f"the code is valid until {iso_utc_epoch(c.exp)}")


# The names the region verifier (trustsvc.verifier) uses.
ALG_NAMES = _ALG_NAMES
SIGNING_USAGE = _SIGNING_USAGE
minimal_object = _minimal_object
check_issuer_region = _region
check_lifetime = _lifetime
