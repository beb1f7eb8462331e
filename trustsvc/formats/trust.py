"""Trust context for verifications, and the one way verifiers judge a certificate.

A :class:`TrustContext` says what the verifier trusts (anchors), what may help build paths
(intermediates, e.g. from a trust list or supplied by the caller), where revocation comes
from, and what to say about each anchor in a report's trust path (region, source).

:func:`assess_certificate` judges a certificate *at the time that matters* (the signing time,
or a seal's creation time) and says separately what holds *now*:

* a path to an anchor that fails cryptographically, breaks a constraint (key usage, basic
  constraints, path length), or was expired or revoked at that time: FAILED with ca's
  sub-indication;
* no path to any anchor: INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND, never FAILED. The
  certificate's *own* statements are still judged, because they need no trust: a certificate
  that had expired (or was not yet valid) at that time, or whose key usage forbids the use,
  FAILS even when its issuer is unknown (ofdrw_SESV4SignDoc.ofd is exactly that case);
* expired or revoked only *after* that time: a warning, recorded in ``status_now``.

Revocation after the signing time follows one of the :class:`RevocationRule` rules, named in
the report (check ``<prefix>.revocation_rule`` and ``status_now[prefix]["revocation_rule"]``):
after a key compromise the signer's own claimed time proves nothing (whoever holds the key can
write any time), so only a time-stamp (proof of existence) before the revocation keeps a
signature valid.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ca.certs import ParsedCertificate, load_certificates, parse_certificate
from ca.errors import CertificateError
from ca.results import (
    CERTIFICATE_CHAIN_GENERAL_FAILURE,
    CHAIN_CONSTRAINTS_FAILURE,
    EXPIRED,
    FORMAT_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND,
    NOT_YET_VALID,
    REVOKED_NO_POE,
    Indication,
)
from ca.revocation import RevocationChecker
from ca.validate import PathValidationResult, validate_path
from hsm.errors import TrustSvcError
from trustsvc.formats.report import ReportBuilder
from trustsvc.times import iso_utc

__all__ = ["TrustContext", "NO_TRUST", "assess_certificate", "aware", "RevocationRule", "COMPROMISE_REASONS"]

_ROLES = {
    "signer": "signer certificate",
    "seal.maker": "seal maker certificate",
    "maker": "seal maker certificate",
}


class RevocationRule(str, enum.Enum):
    """How a revocation bears on a signature made at a given time."""

    SIGNED_AFTER_REVOCATION = "signed_after_revocation"
    """Signed at or after the revocation time: FAILED / REVOKED."""
    SIGNED_BEFORE_REVOCATION = "signed_before_revocation"
    """Revoked later for a reason other than a compromise (superseded, cessation…): PASSED, warned."""
    POE_BEFORE_COMPROMISE = "poe_before_compromise"
    """Revoked later for a key compromise, and a time-stamp proves the signature existed before:
    PASSED, warned."""
    NO_POE_BEFORE_COMPROMISE = "no_poe_before_compromise"
    """Revoked later for a key compromise, but only the signer's claimed time says it came
    before: INDETERMINATE / REVOKED_NO_POE."""


COMPROMISE_REASONS = frozenset({"key_compromise", "ca_compromise", "aa_compromise"})
"""CRL reasons after which a time claimed by the key holder proves nothing."""


def aware(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class TrustContext:
    """What a verification may rely on. Immutable, so one context can serve many requests."""

    anchors: tuple[bytes, ...] = ()
    """Trusted certificates (DER)."""
    intermediates: tuple[bytes, ...] = ()
    """Untrusted helpers for path building; also candidate signer certificates for OFD
    signatures that carry none (a bare SM2 signature value)."""
    revocation: RevocationChecker | None = None
    anchor_info: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per anchor (keyed by the hex SHA-256 of its DER): what the trust path should say,
    e.g. ``{"region": "320000", "source": "local"}``."""
    authorisations: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    """Per anchor (hex SHA-256): issuer USCC → the licence type codes the trust list vouching
    for that anchor lets it sign (:mod:`trustsvc.federation.authorisation`). Empty: not checked."""
    seal_status: Any = None
    """Where seals' published status histories come from (:class:`trustsvc.formats.seal_status.SealStatusBook`);
    None: seal status is not checked."""

    @classmethod
    def from_pem(
        cls,
        anchors: Iterable[bytes] = (),
        intermediates: Iterable[bytes] = (),
        **kwargs: Any,
    ) -> TrustContext:
        """Build a context from PEM or DER blobs (each may hold several certificates).

        :raises CertificateError: a blob holds no readable certificate.
        """
        return cls(
            anchors=tuple(c.der for blob in anchors for c in load_certificates(blob)),
            intermediates=tuple(c.der for blob in intermediates for c in load_certificates(blob)),
            **kwargs,
        )


NO_TRUST = TrustContext()
"""Trust nothing: every chain is INDETERMINATE; the default of every verifier."""


def _role(prefix: str) -> str:
    return _ROLES.get(prefix, f"{prefix} certificate")


def _parsed_anchors(builder: ReportBuilder, prefix: str, trust: TrustContext) -> list[ParsedCertificate]:
    parsed = []
    for i, der in enumerate(trust.anchors):
        try:
            parsed.append(parse_certificate(der))
        except CertificateError as exc:
            builder.warn(f"{prefix}.anchors", f"trust anchor #{i} is unreadable and was ignored: {exc.message}")
    return parsed


def _own_statements(
    builder: ReportBuilder,
    prefix: str,
    cert: ParsedCertificate,
    at: datetime,
    required_key_usage: frozenset[str] | None,
    required_eku: str | None,
) -> None:
    """What the certificate says about itself, judged without any trust in its issuer."""
    role, name = _role(prefix), repr(cert.subject_str)
    span = f"{iso_utc(cert.not_before)} .. {iso_utc(cert.not_after)}"
    if at < cert.not_before:
        builder.fail(f"{prefix}.validity", NOT_YET_VALID, f"{role} {name} was not yet valid at {iso_utc(at)} ({span})")
    elif at > cert.not_after:
        builder.fail(f"{prefix}.validity", EXPIRED, f"{role} {name} had expired at {iso_utc(at)} ({span})")
    else:
        builder.passed(f"{prefix}.validity", f"{role} {name} valid at {iso_utc(at)} ({span})")
    if required_key_usage:
        wanted = ", ".join(sorted(required_key_usage))
        if cert.has_key_usage and not (cert.key_usage & required_key_usage):
            builder.fail(
                f"{prefix}.key_usage",
                CHAIN_CONSTRAINTS_FAILURE,
                f"{role} {name} keyUsage {sorted(cert.key_usage)} has none of {wanted}",
            )
        elif not cert.has_key_usage:
            builder.fail(
                f"{prefix}.key_usage", CHAIN_CONSTRAINTS_FAILURE, f"{role} {name} has no keyUsage; need one of {wanted}"
            )
        else:
            builder.passed(f"{prefix}.key_usage", f"{role} {name} keyUsage includes one of {wanted}")
    if required_eku:
        if required_eku in cert.eku:
            builder.passed(f"{prefix}.extended_key_usage", f"{role} {name} has extended key usage {required_eku}")
        else:
            builder.fail(
                f"{prefix}.extended_key_usage",
                CHAIN_CONSTRAINTS_FAILURE,
                f"{role} {name} lacks extended key usage {required_eku}",
            )


def _trust_path(builder: ReportBuilder, prefix: str, result: PathValidationResult, trust: TrustContext) -> None:
    for depth, cert in enumerate(result.path):
        entry: dict[str, Any] = {
            "role": prefix,
            "depth": depth,
            "subject": cert.subject_str,
            "issuer": cert.issuer_str,
            "serial": format(cert.serial, "x"),
            "sha256": cert.sha256,
            "not_before": iso_utc(cert.not_before),
            "not_after": iso_utc(cert.not_after),
            "trust_anchor": result.anchor is not None and cert.der == result.anchor.der,
        }
        if entry["trust_anchor"]:
            entry.update(trust.anchor_info.get(cert.sha256, {}))
        builder.trust_path.append(entry)


def _status_now(
    builder: ReportBuilder,
    prefix: str,
    cert: ParsedCertificate,
    result: PathValidationResult,
    trust: TrustContext,
    at: datetime,
    now: datetime,
) -> None:
    role, name = _role(prefix), repr(cert.subject_str)
    status: dict[str, Any] = {
        "subject": cert.subject_str,
        "sha256": cert.sha256,
        "not_after": iso_utc(cert.not_after),
        "expired": now > cert.not_after,
        "not_yet_valid": now < cert.not_before,
        "revoked": None,
        "revoked_at": None,
    }
    if trust.revocation is not None and len(result.path) > 1:
        try:
            answer = trust.revocation.check(cert, result.path[1], now)
        except TrustSvcError as exc:
            status["revocation_error"] = exc.message
        else:
            status["revoked"] = answer.revoked_by(now)
            status["revoked_at"] = iso_utc(answer.revoked_at)
            if answer.revoked_by(now) and answer.revoked_at is not None and answer.revoked_at > at:
                builder.warn(
                    f"{prefix}.status_now",
                    f"{role} {name} was revoked at {iso_utc(answer.revoked_at)}, after {iso_utc(at)}: valid then, revoked now",
                )
    if status["expired"] and cert.valid_at(at):
        builder.warn(
            f"{prefix}.status_now",
            f"{role} {name} has expired since {iso_utc(cert.not_after)}; it was valid at {iso_utc(at)}",
        )
    builder.status_now[prefix] = status


def _revocation_rule(
    builder: ReportBuilder,
    prefix: str,
    result: PathValidationResult,
    trust: TrustContext,
    at: datetime,
    time_proven: bool,
) -> None:
    """Name the :class:`RevocationRule` that applied to each revoked certificate of the path."""
    if trust.revocation is None:
        return
    for i, cert in enumerate(result.path[:-1]):
        try:
            answer = trust.revocation.check(cert, result.path[i + 1], at)
        except TrustSvcError:
            continue
        if answer.status != "revoked" or answer.revoked_at is None:
            continue
        role = _role(prefix) if i == 0 else f"CA {cert.subject_str!r} above the {_role(prefix)}"
        when, reason = iso_utc(answer.revoked_at), answer.reason or "unspecified"
        name = f"{prefix}.revocation_rule"
        if answer.revoked_by(at):
            rule = RevocationRule.SIGNED_AFTER_REVOCATION
            builder.check(
                name,
                "failed",
                f"rule {rule.value}: the {role} was revoked at {when} ({reason}); "
                f"the signature dates from {iso_utc(at)}, after that",
            )
        elif reason not in COMPROMISE_REASONS:
            rule = RevocationRule.SIGNED_BEFORE_REVOCATION
            builder.warn(
                name,
                f"rule {rule.value}: the {role} was revoked at {when} ({reason}), after the "
                f"signature ({iso_utc(at)}); not a compromise, so the signature stays valid",
            )
        elif time_proven:
            rule = RevocationRule.POE_BEFORE_COMPROMISE
            builder.warn(
                name,
                f"rule {rule.value}: the {role} was revoked at {when} ({reason}); a time-stamp "
                f"proves the signature existed at {iso_utc(at)}, before that, so it stays valid",
            )
        else:
            rule = RevocationRule.NO_POE_BEFORE_COMPROMISE
            builder.indeterminate(
                name,
                REVOKED_NO_POE,
                f"rule {rule.value}: the {role} was revoked at {when} ({reason}); only the "
                f"signer's own claimed time {iso_utc(at)} says the signature came before, and no "
                "time-stamp proves it",
            )
        status = builder.status_now.get(prefix)
        if isinstance(status, dict) and "revocation_rule" not in status:
            status["revocation_rule"] = rule.value
        return


def assess_certificate(
    builder: ReportBuilder,
    prefix: str,
    cert_der: bytes,
    *,
    trust: TrustContext,
    at: datetime,
    now: datetime,
    required_key_usage: frozenset[str] | None,
    required_eku: str | None = None,
    extra_intermediates: Iterable[bytes] = (),
    time_proven: bool = False,
) -> None:
    """Judge ``cert_der`` at ``at`` into ``builder`` (checks named ``<prefix>.…``).

    Copies every path check and the path's warnings (``sm2_id_empty``, a broken anchor
    self-signature), adds ``<prefix>.path`` with the verdict, appends the path to
    ``builder.trust_path`` (the anchor's entry carries ``trust.anchor_info``) and records in
    ``builder.status_now[prefix]`` whether the certificate is expired or revoked *now*.
    Never raises for bad certificates: an unreadable one is a FORMAT_FAILURE check.

    :param time_proven: ``at`` comes from a verified time-stamp (proof of existence), not only
        from the signer's claim; it decides :data:`RevocationRule.POE_BEFORE_COMPROMISE`.
    """
    at, now = aware(at), aware(now)
    role = _role(prefix)
    try:
        cert = parse_certificate(cert_der)
    except CertificateError as exc:
        builder.fail(f"{prefix}.certificate", FORMAT_FAILURE, f"{role} is unreadable: {exc.message}")
        return
    anchors = _parsed_anchors(builder, prefix, trust)
    result = validate_path(
        cert,
        intermediates=(*trust.intermediates, *extra_intermediates),
        anchors=anchors,
        at=at,
        required_key_usage=required_key_usage,
        required_eku=required_eku,
        revocation=trust.revocation,
    )
    builder.extend(result.checks, f"{prefix}.")
    builder.warnings.extend(result.warnings)  # e.g. sm2_id_empty: valid, yet worth saying
    if result.indication is Indication.PASSED:
        builder.passed(f"{prefix}.path", f"{role}: {result.message}")
    elif result.indication is Indication.FAILED:
        builder.fail(
            f"{prefix}.path", result.sub_indication or CERTIFICATE_CHAIN_GENERAL_FAILURE, f"{role}: {result.message}"
        )
    else:
        if result.sub_indication == NO_CERTIFICATE_CHAIN_FOUND:
            _own_statements(builder, prefix, cert, at, required_key_usage, required_eku)
        builder.indeterminate(
            f"{prefix}.path", result.sub_indication or CERTIFICATE_CHAIN_GENERAL_FAILURE, f"{role}: {result.message}"
        )
    _trust_path(builder, prefix, result, trust)
    _status_now(builder, prefix, cert, result, trust, at, now)
    if result.anchor is not None:
        _revocation_rule(builder, prefix, result, trust, at, time_proven)
