"""Certificate revocation lists: build (v2, per CA), read and verify, and answer revocation checks.

A CRL is only believed after its signature verifies under the issuing CA's key and its issuer
name (and AKI, when both sides have one) matches that CA; :class:`CRLRevocationChecker` does
this itself, so callers may hand it CRLs straight from the network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from asn1crypto import algos, crl, x509

import hsm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import (
    as_utc_datetime,
    single_der,
    strip_micro,
    utc,
    x509_time,
)
from ._signature import same_public_key, verify_signed
from .certs import ParsedCertificate, parse_certificate, subject_key_identifier
from .errors import CAError, CertificateError, CRLError
from .names import format_name, name_key
from .revocation import RevocationStatus

__all__ = [
    "RevokedEntry",
    "ParsedCRL",
    "build_crl",
    "parse_crl",
    "verify_crl",
    "CRLRevocationChecker",
    "CRL_REASONS",
]

CRL_REASONS = frozenset(crl.CRLReason._map.values())
"""Reason names accepted (RFC 5280 §5.3.1, asn1crypto spelling)."""
_HANDLED_CRITICAL = frozenset({"crl_number", "authority_key_identifier", "delta_crl_indicator"})
_MAX_CRL_NUMBER = 2**159


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate, as listed by its issuer's CRL."""

    serial: int
    revoked_at: datetime
    reason: str = "unspecified"

    def __post_init__(self) -> None:
        if not isinstance(self.serial, int) or isinstance(self.serial, bool):
            raise ValueError("serial must be an integer")
        if self.reason not in CRL_REASONS:
            raise ValueError(f"unknown CRL reason {self.reason!r}; one of {sorted(CRL_REASONS)}")
        object.__setattr__(self, "revoked_at", utc(self.revoked_at))


@dataclass(frozen=True, eq=False)
class ParsedCRL:
    """A CRL, parsed (and, from :func:`verify_crl`, checked against its issuer)."""

    der: bytes
    tbs_der: bytes
    signature: bytes
    signature_algorithm_oid: str
    tbs_signature_algorithm_oid: str
    signature_algorithm_der: bytes
    tbs_signature_algorithm_der: bytes
    signature_parameters_der: bytes
    issuer: x509.Name = field(repr=False)
    issuer_str: str
    issuer_key: str = field(repr=False)
    this_update: datetime
    next_update: datetime | None
    crl_number: int | None
    aki: bytes | None
    is_delta: bool
    critical_extensions: frozenset[str]
    entries: tuple[RevokedEntry, ...]
    sha256: str
    asn1: crl.CertificateList = field(repr=False)
    _by_serial: Mapping[int, RevokedEntry] = field(repr=False)

    @property
    def has_unhandled_critical_extension(self) -> bool:
        """RFC 5280 §5.2: a CRL with a critical extension we do not process must not be used."""
        return bool(self.critical_extensions - _HANDLED_CRITICAL)

    def entry_for(self, serial: int) -> RevokedEntry | None:
        return self._by_serial.get(serial)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParsedCRL) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)


def _check_issuer(issuer_cert: bytes | ParsedCertificate, signer: hsm.Signer) -> ParsedCertificate:
    try:
        issuer = parse_certificate(issuer_cert)
    except CertificateError as exc:
        raise CAError(f"issuer certificate unreadable: {exc.message}", code="bad_issuer_certificate") from exc
    if not issuer.is_ca:
        raise CAError(f"{issuer.subject_str!r} is not a CA", code="issuer_not_ca")
    if "crl_sign" not in issuer.key_usage:
        raise CAError(f"{issuer.subject_str!r} lacks the cRLSign key usage", code="issuer_cannot_sign_crls")
    if not same_public_key(issuer.spki, signer.public_key):
        raise CAError(
            f"the signer {signer.key_ref} does not hold the key of {issuer.subject_str!r}", code="issuer_key_mismatch"
        )
    return issuer


def build_crl(
    *,
    issuer_cert: bytes | ParsedCertificate,
    issuer_signer: hsm.Signer,
    revoked: Iterable[RevokedEntry],
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """Build and sign a complete v2 CRL (CRL number, AKI, a reasonCode per entry); DER.

    Entries with reason ``unspecified`` carry no reasonCode (RFC 5280 §5.3.1).

    :raises CAError: issuer not a CA / lacks cRLSign / key mismatch (codes as in
        :mod:`ca.issue`), ``bad_crl_number``, ``empty_validity``.
    """
    issuer = _check_issuer(issuer_cert, issuer_signer)
    if not isinstance(crl_number, int) or isinstance(crl_number, bool) or not 0 <= crl_number < _MAX_CRL_NUMBER:
        raise CAError("crl_number must be a non-negative integer below 2**159", code="bad_crl_number")
    start, end = strip_micro(utc(this_update)), strip_micro(utc(next_update))
    if end <= start:
        raise CAError("next_update must be after this_update", code="empty_validity")
    entries = []
    for entry in sorted(revoked, key=lambda e: e.serial):
        item: dict[str, object] = {"user_certificate": entry.serial, "revocation_date": x509_time(entry.revoked_at)}
        if entry.reason != "unspecified":
            item["crl_entry_extensions"] = [{"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason}]
        entries.append(item)
    algorithm = {"algorithm": issuer_signer.signature_algorithm_oid}
    tbs_fields: dict[str, object] = {
        "version": "v2",
        "signature": algos.SignedDigestAlgorithm(algorithm),
        "issuer": x509.Name.load(issuer.subject.dump()),
        "this_update": x509_time(start),
        "next_update": x509_time(end),
        "crl_extensions": [
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": issuer.ski or subject_key_identifier(issuer.spki)},
            },
            {"extn_id": "crl_number", "critical": False, "extn_value": crl_number},
        ],
    }
    if entries:  # RFC 5280 §5.1.2.6: absent, not empty, when nothing is revoked
        tbs_fields["revoked_certificates"] = entries
    tbs = crl.TbsCertList(tbs_fields)
    signature = issuer_signer.sign(tbs.dump())
    return crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": algos.SignedDigestAlgorithm(algorithm), "signature": signature}
    ).dump()


def _parse_entries(tbs: crl.TbsCertList) -> tuple[tuple[RevokedEntry, ...], dict[int, RevokedEntry]]:
    entries: list[RevokedEntry] = []
    by_serial: dict[int, RevokedEntry] = {}
    for item in tbs["revoked_certificates"]:
        reason = "unspecified"
        for ext in item["crl_entry_extensions"]:
            name = ext["extn_id"].native
            if name == "crl_reason":
                reason = ext["extn_value"].parsed.native
            elif ext["critical"].native:
                raise ValueError(f"unhandled critical CRL entry extension {name}")
        entry = RevokedEntry(
            serial=item["user_certificate"].native,
            revoked_at=as_utc_datetime(item["revocation_date"].native, "revocationDate"),
            reason=reason,
        )
        entries.append(entry)
        previous = by_serial.get(entry.serial)
        if previous is None or entry.revoked_at < previous.revoked_at:
            by_serial[entry.serial] = entry
    return tuple(entries), by_serial


def parse_crl(data: bytes) -> ParsedCRL:
    """Parse a CRL (DER or PEM) without checking its signature.

    :raises CRLError: for anything that is not a well-formed CRL.
    """
    der = single_der(data, frozenset({"X509 CRL"}), CRLError, "CRL")
    try:
        cl = crl.CertificateList.load(der, strict=True)
        tbs = cl["tbs_cert_list"]
        outer, inner = cl["signature_algorithm"], tbs["signature"]
        signature = cl["signature"].native
        if not isinstance(signature, bytes):
            raise ValueError("signature is not a byte string")
        crl_number = aki = None
        is_delta = False
        names: set[str] = set()
        critical: set[str] = set()
        for ext in tbs["crl_extensions"]:
            name = ext["extn_id"].native
            if name in names:
                raise ValueError(f"duplicate CRL extension {name}")
            names.add(name)
            if ext["critical"].native:
                critical.add(name)
            if name == "crl_number":
                crl_number = ext["extn_value"].parsed.native
            elif name == "authority_key_identifier":
                aki = ext["extn_value"].parsed["key_identifier"].native
            elif name == "delta_crl_indicator":
                is_delta = True
        entries, by_serial = _parse_entries(tbs)
        next_update_value = tbs["next_update"].native
        return ParsedCRL(
            der=der,
            tbs_der=tbs.dump(),
            signature=signature,
            signature_algorithm_oid=outer["algorithm"].dotted,
            tbs_signature_algorithm_oid=inner["algorithm"].dotted,
            signature_algorithm_der=outer.dump(),
            tbs_signature_algorithm_der=inner.dump(),
            signature_parameters_der=outer["parameters"].dump(),
            issuer=tbs["issuer"],
            issuer_str=format_name(tbs["issuer"]),
            issuer_key=name_key(tbs["issuer"]),
            this_update=as_utc_datetime(tbs["this_update"].native, "thisUpdate"),
            next_update=None if next_update_value is None else as_utc_datetime(next_update_value, "nextUpdate"),
            crl_number=crl_number,
            aki=aki,
            is_delta=is_delta,
            critical_extensions=frozenset(critical),
            entries=entries,
            sha256=hashlib.sha256(der).hexdigest(),
            asn1=cl,
            _by_serial=MappingProxyType(by_serial),
        )
    except Exception as exc:
        raise CRLError("not a well-formed X.509 CRL") from exc


def verify_crl(data: bytes | ParsedCRL, issuer_cert: bytes | ParsedCertificate) -> ParsedCRL:
    """Parse a CRL and check it was issued and signed by ``issuer_cert``.

    :raises CRLError: malformed, or issued by someone else (code ``crl_issuer_mismatch``), or the
        issuer may not sign CRLs (``issuer_cannot_sign_crls``).
    :raises CertificateError: ``issuer_cert`` unreadable.
    :raises InvalidSignature: the signature does not verify (or its algorithm is refused).

    An SM2 signature made with OpenSSL 3's empty ID is accepted (see :mod:`ca._signature`);
    :class:`CRLRevocationChecker` names it (``sm2_id_empty``) in the status source.
    """
    parsed = data if isinstance(data, ParsedCRL) else parse_crl(data)
    _check_crl(parsed, parse_certificate(issuer_cert))
    return parsed


def _check_crl(parsed: ParsedCRL, issuer: ParsedCertificate) -> str | None:
    """:func:`verify_crl`'s checks; returns the signature's warning (``sm2_id_empty``) or None."""
    if parsed.issuer_key != issuer.subject_key:
        raise CRLError(f"CRL issued by {parsed.issuer_str!r}, not {issuer.subject_str!r}", code="crl_issuer_mismatch")
    if parsed.aki is not None and issuer.ski is not None and parsed.aki != issuer.ski:
        raise CRLError("CRL authority key identifier does not match the issuer's key", code="crl_issuer_mismatch")
    if issuer.has_key_usage and "crl_sign" not in issuer.key_usage:
        raise CRLError(f"{issuer.subject_str!r} may not sign CRLs (no cRLSign)", code="issuer_cannot_sign_crls")
    return verify_signed(
        what=f"CRL of {parsed.issuer_str!r}",
        tbs=parsed.tbs_der,
        signature=parsed.signature,
        oid=parsed.signature_algorithm_oid,
        parameters_der=parsed.signature_parameters_der,
        outer_der=parsed.signature_algorithm_der,
        inner_der=parsed.tbs_signature_algorithm_der,
        spki=issuer.spki,
    )


class CRLRevocationChecker:
    """A :class:`~ca.revocation.RevocationChecker` over a fixed set of complete CRLs.

    For each question it takes the newest CRL of the certificate's issuer whose signature
    verifies under that issuer. A listed serial is ``revoked`` (the validator compares the
    revocation date with the time judged); an unlisted one is ``good`` when the CRL covers the
    time judged (thisUpdate after it, or nextUpdate not yet passed), else ``unknown``.
    Delta CRLs and CRLs with unhandled critical extensions are ignored.

    :raises CRLError: a given CRL is unreadable (garbage in is the caller's error).
    """

    def __init__(self, crls: Iterable[bytes | ParsedCRL]) -> None:
        self._crls = tuple(c if isinstance(c, ParsedCRL) else parse_crl(c) for c in crls)

    @property
    def crls(self) -> tuple[ParsedCRL, ...]:
        return self._crls

    def _usable(self, issuer: ParsedCertificate) -> tuple[list[tuple[ParsedCRL, str | None]], list[str]]:
        """The CRLs of ``issuer`` that verify, each with its signature warning; and the rejects."""
        usable: list[tuple[ParsedCRL, str | None]] = []
        problems: list[str] = []
        for candidate in self._crls:
            if candidate.issuer_key != issuer.subject_key or candidate.is_delta:
                continue
            if candidate.has_unhandled_critical_extension:
                problems.append(f"CRL #{candidate.crl_number} has an unhandled critical extension")
                continue
            try:
                warning = _check_crl(candidate, issuer)
            except (CAError, hsm.InvalidSignature) as exc:
                problems.append(f"CRL #{candidate.crl_number} rejected: {exc}")
                continue
            usable.append((candidate, warning))
        return usable, problems

    def check(self, cert: ParsedCertificate, issuer: ParsedCertificate, at: datetime) -> RevocationStatus:
        at = utc(at)
        usable, problems = self._usable(issuer)
        if not usable:
            detail = "; ".join(problems) or f"no CRL from {issuer.subject_str!r}"
            return RevocationStatus("unknown", source=detail)
        newest, warning = max(usable, key=lambda u: (u[0].this_update, u[0].crl_number or 0))
        source = f"CRL #{newest.crl_number} of {newest.issuer_str!r} (thisUpdate {newest.this_update.isoformat()})"
        if warning is not None:
            source += f" [{warning}: signed with the empty SM2 ID]"
        entry = newest.entry_for(cert.serial)
        if entry is not None and entry.reason != "remove_from_crl":
            return RevocationStatus("revoked", revoked_at=entry.revoked_at, reason=entry.reason, source=source)
        if newest.this_update >= at or (newest.next_update is not None and newest.next_update >= at):
            return RevocationStatus("good", source=source)
        return RevocationStatus("unknown", source=f"{source} is stale for {at.isoformat()}")
