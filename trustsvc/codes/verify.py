"""What every service-code verification does, online or offline: parse, find the code signer
by kid, check the SM2 signature, the signer's path to an anchor and its region, and the code's
lifetime. The callers add licence status (live, or from a status list) and single use.

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

from ca.certs import parse_certificate
from ca.errors import CAError
from ca.oids import TrustSvcEKU
from ca.results import (
    CRYPTO_CONSTRAINTS_FAILURE,
    EXPIRED,
    FORMAT_FAILURE,
    NO_SIGNING_CERTIFICATE_FOUND,
    NOT_YET_VALID,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
)
from hsm import DEFAULT_SM2_ID, KeyAlgorithm, load_public_key, verify
from hsm.encoding import signature_from_raw
from hsm.errors import InvalidSignature, TrustSvcError

from ..authorisation import check_licence_authorisation
from ..licences.identifier import parse_identifier
from ..report import ReportBuilder
from ..trust import assess_certificate
from .format import CODE_ALGORITHMS, DYNAMIC, CodeFormatError, DecodedCode, decode_code
from .material import CodeTrust

__all__ = ["CLOCK_SKEW", "ALREADY_USED", "verify_code_common", "code_time", "ALG_NAMES", "SIGNING_USAGE",
           "minimal_object", "check_issuer_region", "check_lifetime"]

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far in the future a code's ``iat`` may lie (the signer's clock versus ours)."""
ALREADY_USED = "ALREADY_USED"
"""Sub-indication: a dynamic code was already used online (replay, e.g. a screenshot)."""
_SIGNING_USAGE = frozenset({"digital_signature"})


def code_time(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _minimal_object(code: DecodedCode) -> dict[str, Any]:
    c = code.claims
    obj: dict[str, Any] = {"code_type": c.typ, "licence": c.sub, "issuer_region": c.iss,
                           "issued_at": _iso(code_time(c.iat)),
                           "expires_at": _iso(code_time(c.exp)) if c.exp is not None else None,
                           "display": dict(c.display), "kid": code.kid.hex()}
    try:
        ident = parse_identifier(c.sub)
    except TrustSvcError:
        return obj
    obj.update({"licence_type": ident.type_code, "issuer": ident.issuer_code, "licence_version": ident.version})
    return obj


_ALG_NAMES = {KeyAlgorithm.SM2: "SM2-with-SM3", KeyAlgorithm.ECDSA_P256: "ES256 (ECDSA P-256, SHA-256)"}


def _signature(builder: ReportBuilder, code: DecodedCode, material: CodeTrust,
               key_algorithm: KeyAlgorithm) -> bytes | None:
    """The certificate whose key made the signature, or None (check recorded either way). Only
    certificates whose key is of ``key_algorithm`` (the one the COSE alg names) are tried, so a
    code cannot be relabelled to another algorithm."""
    candidates = material.certificates_for(code.kid)
    if not candidates:
        builder.indeterminate("code.kid", NO_SIGNING_CERTIFICATE_FOUND,
                              f"kid {code.kid.hex()} names no code-signer certificate known here "
                              f"({material.source})")
        return None
    builder.passed("code.kid", f"kid {code.kid.hex()} names {len(candidates)} code-signer certificate(s)")
    try:
        der_signature = signature_from_raw(code.signature) if len(code.signature) == 64 else None
    except (InvalidSignature, TrustSvcError, ValueError):
        der_signature = None
    if der_signature is None:
        builder.fail("code.signature", SIG_CRYPTO_FAILURE, "the signature is not a 64-byte r‖s value")
        return None
    tbs = code.to_be_signed
    for der in candidates:
        try:
            spki = parse_certificate(der).spki
            if load_public_key(spki).algorithm is not key_algorithm:
                continue
            verify(spki, tbs, der_signature, sm2_id=DEFAULT_SM2_ID)
        except (InvalidSignature, TrustSvcError, CAError):
            continue
        builder.passed("code.signature", f"{_ALG_NAMES[key_algorithm]} signature over the COSE Sig_structure verifies")
        return der
    builder.fail("code.signature", SIG_CRYPTO_FAILURE,
                 "the signature does not verify: the code was changed or not signed by this key")
    return None


def _region(builder: ReportBuilder, code: DecodedCode) -> None:
    regions = {str(t["region"]) for t in builder.trust_path if t.get("trust_anchor") and t.get("region")}
    if not regions:
        builder.skipped("code.issuer_region", "the anchor reached names no region; iss not compared")
    elif code.claims.iss in regions:
        builder.passed("code.issuer_region", f"iss {code.claims.iss} is the region of the signer's anchor")
    else:
        builder.fail("code.issuer_region", SIG_CONSTRAINTS_FAILURE,
                     f"iss {code.claims.iss} is not the region ({', '.join(sorted(regions))}) that certified "
                     f"the code signer")


def _lifetime(builder: ReportBuilder, code: DecodedCode, now: dt.datetime) -> None:
    c = code.claims
    iat = code_time(c.iat)
    if iat > now + CLOCK_SKEW:
        builder.fail("code.not_before", NOT_YET_VALID, f"the code was issued in the future ({_iso(iat)})")
    if c.exp is None:
        builder.passed("code.lifetime", "a static code without an expiry: it lives as long as its licence")
        return
    exp = code_time(c.exp)
    if now >= exp:
        builder.fail("code.lifetime", EXPIRED, f"the code expired at {_iso(exp)} (过期)")
    else:
        builder.passed("code.lifetime", f"the code is valid until {_iso(exp)}")


def verify_code_common(text: Any, *, material: CodeTrust, now: dt.datetime) -> tuple[ReportBuilder, DecodedCode | None]:
    """Everything but licence status and single use. Returns the builder and, when the
    signature verified, the decoded code (the caller adds its status checks and builds)."""
    builder = ReportBuilder("code")
    try:
        code = decode_code(text)
    except CodeFormatError as exc:
        builder.fail("code.format", FORMAT_FAILURE, f"not a valid service code: {exc.message}")
        return builder, None
    builder.passed("code.format", "TS1: Base45 / zlib / COSE_Sign1 structure is well-formed")
    key_algorithm = CODE_ALGORITHMS.get(code.alg) if type(code.alg) is int else None
    if key_algorithm is None:
        builder.fail("code.algorithm", CRYPTO_CONSTRAINTS_FAILURE,
                     f"COSE alg {code.alg!r} is neither SM2-with-SM3 (-65537) nor ES256 (-7)")
        return builder, None
    builder.passed("code.algorithm", f"COSE alg {code.alg} ({_ALG_NAMES[key_algorithm]}, raw r‖s)")
    signer = _signature(builder, code, material, key_algorithm)
    if signer is None:
        return builder, None
    builder.object.update(_minimal_object(code))
    builder.signing_time = code_time(code.claims.iat)
    assess_certificate(builder, "code_signer", signer, trust=material.trust, at=builder.signing_time, now=now,
                       required_key_usage=_SIGNING_USAGE, required_eku=TrustSvcEKU.SERVICE_CODE_SIGNING)
    check_licence_authorisation(builder, material.trust, code.claims.sub, roles=("code_signer",))
    _region(builder, code)
    _lifetime(builder, code, now)
    if code.claims.typ == DYNAMIC and code.claims.exp is not None:
        builder.object["lifetime_seconds"] = code.claims.exp - code.claims.iat
    return builder, code


# The pieces a scoped verifier (trustsvc.verifier) shares with this one.
ALG_NAMES = _ALG_NAMES
SIGNING_USAGE = _SIGNING_USAGE
minimal_object = _minimal_object
check_issuer_region = _region
check_lifetime = _lifetime
