"""SM2 certificate path validation, link by link, judged at a given time.

OpenSSL 3.0 applies the SM2 distinguishing ID to the target certificate only, so every
multi-level SM2 chain fails there at depth 1; this module builds and checks the path itself.

Building: from the leaf, an issuer candidate is any known certificate (intermediates and
anchors) whose subject equals the issuer name (RFC 5280 §7.1 comparison) and, when both sides
carry key identifiers, whose SKI equals the AKI. Every candidate is tried (up to ``max_depth``
certificates and a bounded number of paths); a path ends at the first trust anchor. Subject ==
issuer does not make a certificate self-signed: only a self-signature that verifies does
(Tongsuo's ``sm2-cert.pem`` has its root's name and is signed by the root).

Checking, for every certificate of the chosen path (``path[0]`` is the leaf):

* ``signature`` under the next certificate's key; an SM2 signature that verifies only with
  OpenSSL 3's empty ID passes with a ``sm2_id_empty`` warning check beside it;
* ``validity`` at ``at`` (EXPIRED / NOT_YET_VALID);
* for each issuer: ``basic_constraints`` (cA), ``key_usage`` (keyCertSign when the extension
  is present; RFC 5280 reads an absent keyUsage as unrestricted), ``path_length``;
* ``critical_extensions`` trustsvc does not process;
* ``revocation`` by the given :class:`~ca.revocation.RevocationChecker` (revoked at or before
  ``at`` fails; a later revocation does not);
* the leaf's ``key_usage`` (any of ``required_key_usage``) and ``extended_key_usage``
  (``required_eku`` listed explicitly; an absent EKU extension does not satisfy a requirement).

Trust anchors (RFC 5280 §6.1): the anchor is trusted by configuration, so neither its own
signature nor its keyUsage is a path constraint, whether it is a self-signed root or any other
certificate configured as an anchor (an intermediate, a cross-certificate). A self-issued anchor's
self-signature is still checked and shown: a broken one is a ``warning``, never a failure; an
anchor issued elsewhere has its ``signature`` check ``skipped``. The same holds when the anchor is
itself the certificate validated. :func:`_anchor_signature_check` and the anchor case of
:func:`_issuer_checks` are the only places this rule lives.

Every check made is recorded. All checks run even after a failure, so a report shows every
problem; the sub-indication is the most serious one (signature, then revocation, then
constraints, then time). No anchor reached is INDETERMINATE, never FAILED.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509

from hsm import InvalidSignature, TrustSvcError

from ._encoding import utc
from ._signature import SM2_ID_EMPTY
from .certs import ParsedCertificate, parse_certificate, verify_certificate_signature
from .errors import CertificateError, SignatureAlgorithmError
from .results import (
    CHAIN_CONSTRAINTS_FAILURE,
    EXPIRED,
    FAILED_CHECK,
    NO_CERTIFICATE_CHAIN_FOUND,
    NOT_YET_VALID,
    PASSED_CHECK,
    REVOKED,
    SIG_CRYPTO_FAILURE,
    SKIPPED_CHECK,
    TRY_LATER,
    WARNING_CHECK,
    Check,
    Indication,
)
from .revocation import RevocationChecker, RevocationStatus

__all__ = ["PathValidationResult", "validate_path", "SIGNING_KEY_USAGE", "SM2_ID_EMPTY"]

SIGNING_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})
"""The usual ``required_key_usage`` for document signatures and seals (any of the two)."""

_HANDLED_CRITICAL = frozenset(
    {
        "basic_constraints",
        "key_usage",
        "extended_key_usage",
        "key_identifier",
        "authority_key_identifier",
        "subject_alt_name",
        "issuer_alt_name",
    }
)
# Most serious first; decides the sub-indication when several checks fail.
_SEVERITY = (SIG_CRYPTO_FAILURE, REVOKED, CHAIN_CONSTRAINTS_FAILURE, EXPIRED, NOT_YET_VALID, TRY_LATER)
_INDETERMINATE_SUBS = frozenset({TRY_LATER})
_MAX_PATHS = 16
_MAX_STEPS = 2000
# Warning checks a report lists among its warnings (see PathValidationResult.warnings).
_REPORTED_WARNING_CHECKS = (f".{SM2_ID_EMPTY}", ".signature")


@dataclass(frozen=True)
class PathValidationResult:
    """The verdict on one certificate path."""

    indication: Indication
    sub_indication: str | None
    message: str
    path: tuple[ParsedCertificate, ...]
    """Leaf first, anchor last (for INDETERMINATE: the longest partial path built)."""
    checks: tuple[Check, ...]
    anchor: ParsedCertificate | None
    at: datetime
    """The time the path was judged at."""

    @property
    def passed(self) -> bool:
        return self.indication is Indication.PASSED

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.result == FAILED_CHECK)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Caveats on signatures that did not change the verdict, for a report's warning list:
        a signature valid only with the empty SM2 ID (detail starts ``sm2_id_empty:``) and a
        trust anchor whose own signature is broken."""
        return tuple(
            c.detail for c in self.checks if c.result == WARNING_CHECK and c.name.endswith(_REPORTED_WARNING_CHECKS)
        )

    def check(self, name: str) -> Check | None:
        """The check called ``name`` (e.g. ``path[0].signature``), if it was made."""
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, object]:
        return {
            "indication": self.indication.value,
            "sub_indication": self.sub_indication,
            "message": self.message,
            "at": self.at.isoformat(),
            "path": [{"subject": c.subject_str, "sha256": c.sha256} for c in self.path],
            "anchor": None if self.anchor is None else self.anchor.sha256,
            "checks": [c.as_dict() for c in self.checks],
        }


@dataclass
class _Evaluation:
    checks: list[Check]
    failures: list[tuple[str, str]]  # (sub-indication, message)

    def add(self, name: str, result: str, detail: str, sub: str | None = None) -> None:
        self.checks.append(Check(name, result, detail))  # type: ignore[arg-type]
        if result == FAILED_CHECK and sub is not None:
            self.failures.append((sub, detail))

    @property
    def has_signature_failure(self) -> bool:
        return any(sub == SIG_CRYPTO_FAILURE for sub, _ in self.failures)


def _verify_link(cert: ParsedCertificate, key_holder: ParsedCertificate) -> tuple[str | None, str | None]:
    """``(problem, warning)``: why the signature of ``cert`` under ``key_holder`` fails, if it
    does, and the warning code a valid one carries (``sm2_id_empty``)."""
    who = "itself" if key_holder is cert else repr(key_holder.subject_str)
    try:
        warning = verify_certificate_signature(cert, key_holder.spki)
    except SignatureAlgorithmError as exc:
        return f"{cert.subject_str!r}: signature by {who} refused: {exc.message}", None
    except InvalidSignature:
        return f"{cert.subject_str!r}: signature by {who} does not verify", None
    return None, warning


def _add_signature_warning(ev: _Evaluation, label: str, cert: ParsedCertificate, warning: str | None) -> None:
    if warning == SM2_ID_EMPTY:
        ev.add(
            f"{label}.{SM2_ID_EMPTY}",
            WARNING_CHECK,
            f"{SM2_ID_EMPTY}: {cert.subject_str!r} is signed with the empty SM2 ID (OpenSSL 3's default), "
            "not 1234567812345678 as GM/T 0015 requires; the signature is valid",
        )


def _signature_check(ev: _Evaluation, label: str, cert: ParsedCertificate, key_holder: ParsedCertificate) -> None:
    problem, warning = _verify_link(cert, key_holder)
    if problem is not None:
        ev.add(f"{label}.signature", FAILED_CHECK, problem, SIG_CRYPTO_FAILURE)
        return
    ev.add(
        f"{label}.signature", PASSED_CHECK, f"{cert.subject_str!r}: signature by {key_holder.subject_str!r} verifies"
    )
    _add_signature_warning(ev, label, cert, warning)


def _anchor_signature_check(ev: _Evaluation, label: str, anchor: ParsedCertificate) -> None:
    """RFC 5280 §6.1: an anchor is trusted by configuration, so its own signature never fails a
    path. A self-issued anchor's self-signature is shown (a broken one as a warning); one issued
    elsewhere cannot be checked here and is trusted as given."""
    name = repr(anchor.subject_str)
    if not anchor.is_self_issued:
        ev.add(f"{label}.signature", SKIPPED_CHECK, f"{name} is a trust anchor issued elsewhere; trusted as configured")
        return
    problem, warning = _verify_link(anchor, anchor)
    if problem is not None:
        ev.add(
            f"{label}.signature",
            WARNING_CHECK,
            f"trust anchor {problem}; trusted as configured, its own signature is not part of the path (RFC 5280 §6.1)",
        )
        return
    ev.add(f"{label}.signature", PASSED_CHECK, f"trust anchor {name}: signature by itself verifies")
    _add_signature_warning(ev, label, anchor, warning)


def _validity_check(ev: _Evaluation, label: str, cert: ParsedCertificate, at: datetime) -> None:
    span = f"{cert.not_before.isoformat()} .. {cert.not_after.isoformat()}"
    if at < cert.not_before:
        ev.add(
            f"{label}.validity",
            FAILED_CHECK,
            f"{cert.subject_str!r} not yet valid at {at.isoformat()} ({span})",
            NOT_YET_VALID,
        )
    elif at > cert.not_after:
        ev.add(f"{label}.validity", FAILED_CHECK, f"{cert.subject_str!r} expired at {at.isoformat()} ({span})", EXPIRED)
    else:
        ev.add(f"{label}.validity", PASSED_CHECK, f"{cert.subject_str!r} valid at {at.isoformat()} ({span})")


def _issuer_checks(ev: _Evaluation, label: str, path: tuple[ParsedCertificate, ...], i: int) -> None:
    cert = path[i]
    name = repr(cert.subject_str)
    if cert.is_ca:
        ev.add(f"{label}.basic_constraints", PASSED_CHECK, f"{name} is a CA")
    else:
        ev.add(
            f"{label}.basic_constraints",
            FAILED_CHECK,
            f"{name} issues certificates but is not a CA (basicConstraints)",
            CHAIN_CONSTRAINTS_FAILURE,
        )
    if not cert.has_key_usage:
        ev.add(f"{label}.key_usage", PASSED_CHECK, f"{name} has no keyUsage extension (unrestricted)")
    elif "key_cert_sign" in cert.key_usage:
        ev.add(f"{label}.key_usage", PASSED_CHECK, f"{name} has keyCertSign")
    elif i == len(path) - 1:
        # RFC 5280 §6.1: a trust anchor is trusted as configured and its certificate's
        # extensions are not path constraints. A defective anchor is worth saying, not failing.
        ev.add(
            f"{label}.key_usage",
            WARNING_CHECK,
            f"trust anchor {name} lacks keyCertSign in its keyUsage; trusted as configured (RFC 5280 §6.1)",
        )
    else:
        ev.add(
            f"{label}.key_usage",
            FAILED_CHECK,
            f"{name} issues certificates but its keyUsage lacks keyCertSign",
            CHAIN_CONSTRAINTS_FAILURE,
        )
    if cert.path_len is not None:
        below = sum(1 for c in path[1:i] if not c.is_self_issued)
        if below > cert.path_len:
            ev.add(
                f"{label}.path_length",
                FAILED_CHECK,
                f"{name} allows {cert.path_len} intermediate CA(s) below it, the path has {below}",
                CHAIN_CONSTRAINTS_FAILURE,
            )
        else:
            ev.add(
                f"{label}.path_length",
                PASSED_CHECK,
                f"{name}: {below} intermediate CA(s) below, {cert.path_len} allowed",
            )


def _critical_check(ev: _Evaluation, label: str, cert: ParsedCertificate) -> None:
    unknown = sorted(cert.critical_extensions - _HANDLED_CRITICAL)
    if unknown:
        ev.add(
            f"{label}.critical_extensions",
            FAILED_CHECK,
            f"{cert.subject_str!r} has unprocessed critical extensions {unknown}",
            CHAIN_CONSTRAINTS_FAILURE,
        )


def _revocation_check(
    ev: _Evaluation,
    label: str,
    cert: ParsedCertificate,
    issuer: ParsedCertificate,
    at: datetime,
    revocation: RevocationChecker | None,
    required: bool,
) -> None:
    name, check = repr(cert.subject_str), f"{label}.revocation"
    if revocation is None:
        ev.add(check, SKIPPED_CHECK, f"{name}: no revocation source given")
        return
    try:
        status = revocation.check(cert, issuer, at)
    except TrustSvcError as exc:  # a source that breaks its "never raises" promise
        status = RevocationStatus("unknown", source=f"revocation source failed: {exc.message}")
    if status.status == "revoked" and status.revoked_at is not None:
        reason = f" ({status.reason})" if status.reason else ""
        when = status.revoked_at.isoformat()
        if status.revoked_by(at):
            ev.add(check, FAILED_CHECK, f"{name} revoked at {when}{reason} per {status.source}", REVOKED)
        else:
            ev.add(
                check,
                PASSED_CHECK,
                f"{name} revoked only at {when}{reason}, after {at.isoformat()}, per {status.source}",
            )
    elif status.status == "good":
        ev.add(check, PASSED_CHECK, f"{name} not revoked per {status.source}")
    else:
        detail = f"{name}: revocation status unknown ({status.source})"
        ev.add(check, FAILED_CHECK if required else WARNING_CHECK, detail, TRY_LATER)


def _leaf_checks(
    ev: _Evaluation, leaf: ParsedCertificate, required_key_usage: frozenset[str] | None, required_eku: str | None
) -> None:
    name = repr(leaf.subject_str)
    if required_key_usage:
        wanted = ", ".join(sorted(required_key_usage))
        if not leaf.has_key_usage:
            ev.add(
                "leaf.key_usage",
                FAILED_CHECK,
                f"{name} has no keyUsage extension; need one of {wanted}",
                CHAIN_CONSTRAINTS_FAILURE,
            )
        elif leaf.key_usage & required_key_usage:
            ev.add("leaf.key_usage", PASSED_CHECK, f"{name} keyUsage {sorted(leaf.key_usage)} includes one of {wanted}")
        else:
            ev.add(
                "leaf.key_usage",
                FAILED_CHECK,
                f"{name} keyUsage {sorted(leaf.key_usage)} has none of {wanted}: not usable for this purpose",
                CHAIN_CONSTRAINTS_FAILURE,
            )
    if required_eku:
        if required_eku in leaf.eku:
            ev.add("leaf.extended_key_usage", PASSED_CHECK, f"{name} has extended key usage {required_eku}")
        elif not leaf.has_eku:
            ev.add(
                "leaf.extended_key_usage",
                FAILED_CHECK,
                f"{name} has no extendedKeyUsage; need {required_eku}",
                CHAIN_CONSTRAINTS_FAILURE,
            )
        else:
            ev.add(
                "leaf.extended_key_usage",
                FAILED_CHECK,
                f"{name} extendedKeyUsage lacks {required_eku}",
                CHAIN_CONSTRAINTS_FAILURE,
            )


def _evaluate(
    path: tuple[ParsedCertificate, ...],
    at: datetime,
    required_key_usage: frozenset[str] | None,
    required_eku: str | None,
    revocation: RevocationChecker | None,
    revocation_required: bool,
) -> _Evaluation:
    ev = _Evaluation([], [])
    anchor = path[-1]
    ev.add("path.build", PASSED_CHECK, f"{len(path)}-certificate path to trust anchor {anchor.subject_str!r}")
    for i, cert in enumerate(path):
        label = f"path[{i}]"
        issuer = path[i + 1] if i + 1 < len(path) else None
        if issuer is not None:
            _signature_check(ev, label, cert, issuer)
        else:
            _anchor_signature_check(ev, label, cert)
        _validity_check(ev, label, cert, at)
        if i >= 1:
            _issuer_checks(ev, label, path, i)
        _critical_check(ev, label, cert)
        if issuer is not None:
            _revocation_check(ev, label, cert, issuer, at, revocation, revocation_required)
    _leaf_checks(ev, path[0], required_key_usage, required_eku)
    return ev


def _verdict(ev: _Evaluation, path: tuple[ParsedCertificate, ...], at: datetime) -> PathValidationResult:
    checks = tuple(ev.checks)
    if not ev.failures:
        message = f"valid at {at.isoformat()}: {len(path)}-certificate path to {path[-1].subject_str!r}"
        return PathValidationResult(Indication.PASSED, None, message, path, checks, path[-1], at)
    sub, message = min(ev.failures, key=lambda f: _SEVERITY.index(f[0]) if f[0] in _SEVERITY else len(_SEVERITY))
    if len(ev.failures) > 1:
        message += f" (and {len(ev.failures) - 1} more problem(s))"
    indication = Indication.INDETERMINATE if sub in _INDETERMINATE_SUBS else Indication.FAILED
    return PathValidationResult(indication, sub, message, path, checks, path[-1], at)


class _PathBuilder:
    """Depth-first search over issuer candidates; collects paths that end at an anchor."""

    def __init__(
        self, pool: Iterable[ParsedCertificate], anchors: dict[bytes, ParsedCertificate], max_depth: int
    ) -> None:
        self.anchors = anchors
        self.max_depth = max_depth
        self.by_subject: dict[str, list[ParsedCertificate]] = {}
        for cert in pool:
            self.by_subject.setdefault(cert.subject_key, []).append(cert)
        self.complete: list[tuple[ParsedCertificate, ...]] = []
        self.longest_partial: tuple[ParsedCertificate, ...] = ()
        self.dead_end = ""
        self.steps = 0

    def candidates(self, cert: ParsedCertificate, path: tuple[ParsedCertificate, ...]) -> list[ParsedCertificate]:
        found = []
        for cand in self.by_subject.get(cert.issuer_key, ()):
            if cand in path:
                continue
            if cert.aki is not None and cand.ski is not None and cert.aki != cand.ski:
                continue
            found.append(cand)
        # anchors first, then key-identifier matches, then the newest
        found.sort(
            key=lambda c: (c.der not in self.anchors, not (cert.aki and c.ski == cert.aki), -c.not_after.timestamp())
        )
        return found

    def walk(self, path: tuple[ParsedCertificate, ...]) -> None:
        self.steps += 1
        if len(self.complete) >= _MAX_PATHS or self.steps > _MAX_STEPS:
            return
        last = path[-1]
        if last.der in self.anchors:
            self.complete.append(path)
            return
        if len(path) >= self.max_depth:
            self._partial(path, f"no trust anchor within {self.max_depth} certificates")
            return
        candidates = self.candidates(last, path)
        if not candidates:
            if last.is_self_issued and _self_signed(last):
                reason = f"the chain ends at {last.subject_str!r}, a self-signed certificate that is not a trust anchor"
            else:
                reason = f"issuer {last.issuer_str!r} of {last.subject_str!r} not found among the given certificates"
            self._partial(path, reason)
            return
        for cand in candidates:
            self.walk(path + (cand,))

    def _partial(self, path: tuple[ParsedCertificate, ...], reason: str) -> None:
        if len(path) > len(self.longest_partial):
            self.longest_partial, self.dead_end = path, reason


def _self_signed(cert: ParsedCertificate) -> bool:
    try:
        verify_certificate_signature(cert, cert.spki)
    except InvalidSignature:
        return False
    return True


def _normalise_eku(required_eku: str | None) -> str | None:
    if required_eku is None:
        return None
    if required_eku and all(part.isdigit() for part in required_eku.split(".")):
        return required_eku
    try:
        return x509.KeyPurposeId.unmap(required_eku)
    except ValueError as exc:
        raise ValueError(f"unknown extended key usage {required_eku!r}") from exc


def validate_path(
    leaf: ParsedCertificate | bytes,
    *,
    intermediates: Iterable[ParsedCertificate | bytes] = (),
    anchors: Iterable[ParsedCertificate | bytes] = (),
    at: datetime,
    required_key_usage: frozenset[str] | None = None,
    required_eku: str | None = None,
    revocation: RevocationChecker | None = None,
    revocation_required: bool = False,
    max_depth: int = 8,
) -> PathValidationResult:
    """Build a path from ``leaf`` to one of ``anchors`` and judge it at ``at``.

    :param intermediates: untrusted helpers (e.g. certificates carried in a signature);
        unreadable ones are skipped and noted as a warning check.
    :param anchors: trusted certificates; a path ends at the first one reached.
    :param at: aware datetime the path is judged at (signing time, or now).
    :param required_key_usage: leaf must have at least one of these keyUsage bits.
    :param required_eku: leaf must list this extended key usage (dotted or asn1crypto name).
    :param revocation: revocation source; ``None`` records the revocation checks as skipped.
    :param revocation_required: unknown revocation status is INDETERMINATE TRY_LATER instead
        of a warning.
    :raises CertificateError: ``leaf`` or an anchor is unreadable.
    :raises ValueError: ``at`` is naive, or ``required_eku`` is an unknown name.
    """
    at = utc(at)
    leaf = parse_certificate(leaf)
    eku = _normalise_eku(required_eku)
    anchor_map = {a.der: a for a in (parse_certificate(x) for x in anchors)}
    notes: list[Check] = []
    pool: dict[bytes, ParsedCertificate] = dict(anchor_map)
    for n, item in enumerate(intermediates):
        try:
            cert = parse_certificate(item)
        except CertificateError as exc:
            notes.append(Check(f"intermediates[{n}]", WARNING_CHECK, f"unreadable intermediate ignored: {exc.message}"))
            continue
        pool.setdefault(cert.der, cert)

    builder = _PathBuilder(pool.values(), anchor_map, max(1, max_depth))
    builder.walk((leaf,))

    if not builder.complete:
        partial = builder.longest_partial or (leaf,)
        ev = _Evaluation(list(notes), [])
        reason = builder.dead_end or "no path could be built"
        ev.add("path.build", FAILED_CHECK, f"no path to a trust anchor: {reason}")
        for i in range(len(partial) - 1):
            _signature_check(ev, f"path[{i}]", partial[i], partial[i + 1])
        message = f"no certificate chain to a trust anchor: {reason}"
        return PathValidationResult(
            Indication.INDETERMINATE, NO_CERTIFICATE_CHAIN_FOUND, message, partial, tuple(ev.checks), None, at
        )

    best: tuple[_Evaluation, tuple[ParsedCertificate, ...]] | None = None
    for path in builder.complete:
        ev = _evaluate(path, at, required_key_usage, eku, revocation, revocation_required)
        if not ev.failures:
            best = (ev, path)
            break
        if best is None or (best[0].has_signature_failure and not ev.has_signature_failure):
            best = (ev, path)
    assert best is not None
    ev, path = best
    ev.checks[:0] = notes
    return _verdict(ev, path, at)
