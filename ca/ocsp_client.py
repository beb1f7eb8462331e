"""The OCSP client side (RFC 6960) with SM2: requests, response verification, and a revocation
checker path validation can use, so :func:`ca.validate_path` can consult any SM2 OCSP
responder through :class:`OCSPRevocationChecker`.

* :func:`verify_ocsp_response` raises only :class:`~ca.ocsp.OCSPError` (a
  :class:`~ca.errors.CAError`) for bytes that are no OCSP response, and reports everything
  else as checks.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, core, ocsp

import hsm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import utc
from ._signature import same_public_key, verify_signed
from .certs import ParsedCertificate, parse_certificate, verify_certificate_signature
from .cms import HASH_OIDS, hash_name
from .errors import CAError, CertificateError, SignatureAlgorithmError
from .names import name_key
from .ocsp import (
    BASIC_OID,
    CERT_ID_HASHES,
    MAX_NONCE,
    NONCE_OID,
    OCSPError,
    key_hash,
    name_hash,
    nonce_value,
    responder_key_id,
)
from .oids import PKIXOID
from .results import (
    FAILED_CHECK,
    PASSED_CHECK,
    SKIPPED_CHECK,
    WARNING_CHECK,
    Check,
    CheckResult,
)
from .revocation import RevocationStatus

__all__ = [
    "OCSPVerification",
    "OCSPRevocationChecker",
    "build_ocsp_request",
    "ocsp_request_nonce",
    "verify_ocsp_response",
]

_SKEW = timedelta(minutes=5)


# ------------------------------------------------------------------------------------------
# requests


def build_ocsp_request(
    cert: bytes | ParsedCertificate,
    issuer: bytes | ParsedCertificate,
    *,
    nonce: bool | bytes = True,
    hash_algorithm: str = "sha1",
) -> bytes:
    """An unsigned OCSPRequest DER for ``cert`` (issued by ``issuer``).

    :param nonce: True adds 16 random octets (RFC 8954), bytes (1..32) use those, False none.
    :param hash_algorithm: CertID hash: ``sha1`` (default; every responder knows it), ``sm3``
        or ``sha256``.
    :raises OCSPError: ``cert`` was not issued under ``issuer``'s name, or a bad parameter.
    """
    leaf, ca = parse_certificate(cert), parse_certificate(issuer)
    if leaf.issuer_key != ca.subject_key:
        raise OCSPError(f"{leaf.subject_str!r} is not issued by {ca.subject_str!r}", code="wrong_issuer")
    if hash_algorithm not in CERT_ID_HASHES:
        raise OCSPError(f"CertID hash {hash_algorithm!r} not one of {CERT_ID_HASHES}")
    cert_id = {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": HASH_OIDS[hash_algorithm]}),
        "issuer_name_hash": name_hash(ca, hash_algorithm),
        "issuer_key_hash": key_hash(ca, hash_algorithm),
        "serial_number": leaf.serial,
    }
    tbs: dict[str, object] = {"request_list": [{"req_cert": cert_id}]}
    if nonce is not False:
        value = secrets.token_bytes(16) if nonce is True else nonce
        if not isinstance(value, (bytes, bytearray)) or not 1 <= len(value) <= MAX_NONCE:
            raise OCSPError("nonce must be 1..32 bytes")
        tbs["request_extensions"] = [
            {"extn_id": "nonce", "critical": False, "extn_value": core.OctetString(bytes(value))}
        ]
    return ocsp.OCSPRequest({"tbs_request": tbs}).dump()


def ocsp_request_nonce(request_der: bytes) -> bytes | None:
    """The nonce a request carries (to hand to :func:`verify_ocsp_response`), or None."""
    try:
        req = ocsp.OCSPRequest.load(bytes(request_der), strict=True)
        extensions = req["tbs_request"]["request_extensions"]
        if isinstance(extensions, core.Void):
            return None
        for ext in extensions:
            if ext["extn_id"].dotted == NONCE_OID:
                return nonce_value(ext["extn_value"].contents)
    except Exception as exc:
        raise OCSPError(f"not an OCSPRequest: {type(exc).__name__}") from exc
    return None


# ------------------------------------------------------------------------------------------
# verification


@dataclass(frozen=True)
class _Single:
    hash_oid: str
    name_hash: bytes
    key_hash: bytes
    serial: int
    status: str
    revoked_at: datetime | None
    reason: str | None
    this_update: datetime
    next_update: datetime | None


@dataclass(frozen=True)
class _Basic:
    tbs_der: bytes
    signature_oid: str
    signature_params: bytes
    signature_algorithm_der: bytes
    signature: bytes
    certs: tuple[bytes, ...]
    responder_by: str
    responder_key_hash: bytes | None
    responder_name_key: str | None
    produced_at: datetime
    nonce: bytes | None
    singles: tuple[_Single, ...]


@dataclass(frozen=True)
class OCSPVerification:
    """What :func:`verify_ocsp_response` found. ``valid``: the response is successful, signed by
    an authorized responder, answers for the certificate asked about, fresh, nonce as
    expected."""

    response_status: str
    """``successful``, ``malformed_request``, ``unauthorized`` ..."""
    status: str | None
    """``good`` / ``revoked`` / ``unknown`` for the matched certificate, None otherwise."""
    revoked_at: datetime | None
    reason: str | None
    this_update: datetime | None
    next_update: datetime | None
    produced_at: datetime | None
    responder_cert_der: bytes | None
    serial: int | None
    checks: tuple[Check, ...]
    nonce: bytes | None = None

    @property
    def valid(self) -> bool:
        signature_ok = any(c.name == "ocsp.signature" and c.result == PASSED_CHECK for c in self.checks)
        return signature_ok and not any(c.failed for c in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


def _time(value: core.Asn1Value, what: str) -> datetime:
    native = value.native
    if not isinstance(native, datetime) or native.tzinfo is None:
        raise ValueError(f"{what} is not a time")
    return native.astimezone(UTC)


def _parse_single(single: ocsp.SingleResponse) -> _Single:
    cert_id = single["cert_id"]
    status = single["cert_status"]
    revoked_at = reason = None
    if status.name == "revoked":
        revoked_at = _time(status.chosen["revocation_time"], "revocationTime")
        reason_value = status.chosen["revocation_reason"]
        reason = None if isinstance(reason_value, core.Void) else str(reason_value.native)
    next_update = single["next_update"]
    serial = cert_id["serial_number"].native
    if not isinstance(serial, int):
        raise ValueError("serial is not an integer")
    return _Single(
        hash_oid=cert_id["hash_algorithm"]["algorithm"].dotted,
        name_hash=bytes(cert_id["issuer_name_hash"].native),
        key_hash=bytes(cert_id["issuer_key_hash"].native),
        serial=serial,
        status=status.name,
        revoked_at=revoked_at,
        reason=reason,
        this_update=_time(single["this_update"], "thisUpdate"),
        next_update=None if isinstance(next_update, core.Void) else _time(next_update, "nextUpdate"),
    )


def _parse_response(resp_der: bytes) -> tuple[str, _Basic | None]:
    if not isinstance(resp_der, (bytes, bytearray, memoryview)):
        raise OCSPError("response must be bytes")
    try:
        resp = ocsp.OCSPResponse.load(bytes(resp_der), strict=True)
        status = resp["response_status"].native
        if not isinstance(status, str):
            raise ValueError(f"unknown OCSPResponseStatus {status}")
        if status != "successful":
            return status, None
        rb = resp["response_bytes"]
        if isinstance(rb, core.Void) or rb["response_type"].dotted != BASIC_OID:
            raise ValueError("not a BasicOCSPResponse")
        basic = rb["response"].parse(ocsp.BasicOCSPResponse)
        tbs = basic["tbs_response_data"]
        if tbs["version"].native != "v1":
            raise ValueError("ResponseData version is not 1")
        rid = tbs["responder_id"]
        nonce = None
        extensions = tbs["response_extensions"]
        if not isinstance(extensions, core.Void):
            for ext in extensions:
                if ext["extn_id"].dotted == NONCE_OID:
                    nonce = nonce_value(ext["extn_value"].contents)
                elif ext["critical"].native:
                    raise ValueError("unsupported critical response extension")
        certs = basic["certs"]
        alg = basic["signature_algorithm"]
        params = alg["parameters"]
        signature = basic["signature"].native
        if not isinstance(signature, bytes):
            raise ValueError("signature is not a byte string")
        parsed = _Basic(
            tbs_der=tbs.dump(),
            signature_oid=alg["algorithm"].dotted,
            signature_params=b"" if isinstance(params, core.Void) else params.dump(),
            signature_algorithm_der=alg.dump(),
            signature=signature,
            certs=() if isinstance(certs, core.Void) else tuple(c.dump() for c in certs),
            responder_by=rid.name,
            responder_key_hash=bytes(rid.chosen.native) if rid.name == "by_key" else None,
            responder_name_key=None if rid.name == "by_key" else name_key(rid.chosen),
            produced_at=_time(tbs["produced_at"], "producedAt"),
            nonce=nonce,
            singles=tuple(_parse_single(s) for s in tbs["responses"]),
        )
    except Exception as exc:
        raise OCSPError(f"not a well-formed OCSP response: {type(exc).__name__}") from exc
    return "successful", parsed


def _find_responder(basic: _Basic, issuer: ParsedCertificate) -> tuple[ParsedCertificate | None, list[str]]:
    candidates, notes = [issuer], []
    for i, der in enumerate(basic.certs):
        try:
            candidates.append(parse_certificate(der))
        except CertificateError as exc:
            notes.append(f"certs[{i}] unreadable: {exc.message}")
    for cert in candidates:
        if basic.responder_by == "by_key" and responder_key_id(cert) == basic.responder_key_hash:
            return cert, notes
        if basic.responder_by == "by_name" and cert.subject_key == basic.responder_name_key:
            return cert, notes
    return None, notes


def _authorization(
    responder: ParsedCertificate, issuer: ParsedCertificate, produced_at: datetime
) -> tuple[CheckResult, str]:
    if same_public_key(responder.spki, issuer.spki):
        return PASSED_CHECK, f"signed by the issuing CA {issuer.subject_str!r} itself"
    problems = []
    if responder.issuer_key != issuer.subject_key:
        problems.append("not issued by the certificate's issuer")
    else:
        try:
            verify_certificate_signature(responder, issuer)
        except (hsm.InvalidSignature, CAError):
            problems.append("its certificate is not signed by the issuer")
    if PKIXOID.OCSP_SIGNING not in responder.eku:
        problems.append("no id-kp-OCSPSigning extended key usage")
    if not responder.valid_at(produced_at):
        problems.append(f"not valid at producedAt {produced_at.isoformat()}")
    if problems:
        return FAILED_CHECK, f"{responder.subject_str!r} is not an authorized responder: {'; '.join(problems)}"
    return (
        PASSED_CHECK,
        f"delegated responder {responder.subject_str!r} (OCSPSigning, issued by {issuer.subject_str!r})",
    )


def _match(single: _Single, issuer: ParsedCertificate, serial: int | None) -> bool:
    algorithm = hash_name(single.hash_oid)
    if algorithm is None:
        return False
    return (
        name_hash(issuer, algorithm) == single.name_hash
        and key_hash(issuer, algorithm) == single.key_hash
        and (serial is None or single.serial == serial)
    )


def verify_ocsp_response(
    resp_der: bytes,
    *,
    issuer_cert: bytes | ParsedCertificate,
    cert: bytes | ParsedCertificate | None = None,
    nonce: bytes | None = None,
    now: datetime | None = None,
    max_age: timedelta = timedelta(days=1),
) -> OCSPVerification:
    """Check an OCSPResponse about ``cert`` (or, without it, the first answer for a
    certificate of ``issuer_cert``).

    Checks: a successful BasicOCSPResponse; its signature under the responder's key; the
    responder is the CA or a delegated responder (OCSPSigning, issued and signed by the CA,
    valid at producedAt); a SingleResponse whose CertID names ``issuer_cert`` (and ``cert``'s
    serial); freshness at ``now`` (thisUpdate not in the future, nextUpdate not passed - or,
    without nextUpdate, thisUpdate within ``max_age``; 5 minutes of clock skew allowed); the
    nonce, when one is given.

    :raises OCSPError: not an OCSP response. :raises CertificateError: bad ``issuer_cert`` /
        ``cert`` (the caller's input).
    """
    issuer = parse_certificate(issuer_cert)
    leaf = parse_certificate(cert) if cert is not None else None
    response_status, basic = _parse_response(resp_der)
    checks: list[Check] = []

    def add(name: str, result: CheckResult, detail: str) -> None:
        checks.append(Check(name, result, detail))

    if basic is None:
        add("ocsp.response_status", FAILED_CHECK, f"responder answered {response_status}")
        return OCSPVerification(response_status, None, None, None, None, None, None, None, None, tuple(checks))
    add("ocsp.response_status", PASSED_CHECK, "successful BasicOCSPResponse")
    try:
        when = utc(now) if now is not None else datetime.now(UTC)
    except (TypeError, ValueError) as exc:
        raise OCSPError(f"now: {exc}") from exc

    responder, notes = _find_responder(basic, issuer)
    for note in notes:
        add("ocsp.certs", WARNING_CHECK, note)
    if responder is None:
        add(
            "ocsp.responder",
            FAILED_CHECK,
            f"responder ({basic.responder_by}) is neither the CA nor among the included certificates",
        )
        add("ocsp.signature", FAILED_CHECK, "no responder key to check the signature with")
    else:
        add("ocsp.responder", *_authorization(responder, issuer, basic.produced_at))
        try:
            warning = verify_signed(
                what="OCSP response",
                tbs=basic.tbs_der,
                signature=basic.signature,
                oid=basic.signature_oid,
                parameters_der=basic.signature_params,
                outer_der=basic.signature_algorithm_der,
                inner_der=None,
                spki=responder.spki,
            )
            add("ocsp.signature", PASSED_CHECK, f"signature verifies under {responder.subject_str!r}")
            if warning is not None:  # sm2_id_empty: valid, made with OpenSSL 3's default ID
                add(
                    f"ocsp.{warning}",
                    WARNING_CHECK,
                    f"{warning}: the response is signed with the empty SM2 ID, not 1234567812345678",
                )
        except SignatureAlgorithmError as exc:
            add("ocsp.signature", FAILED_CHECK, exc.message)
        except hsm.InvalidSignature:
            add("ocsp.signature", FAILED_CHECK, f"signature does not verify under {responder.subject_str!r}")

    single = None
    if leaf is not None and leaf.issuer_key != issuer.subject_key:
        add("ocsp.cert_id", FAILED_CHECK, f"{leaf.subject_str!r} is not issued by {issuer.subject_str!r}")
    else:
        single = next((s for s in basic.singles if _match(s, issuer, leaf.serial if leaf else None)), None)
        if single is None:
            add("ocsp.cert_id", FAILED_CHECK, "no SingleResponse names this certificate and issuer")
        else:
            add(
                "ocsp.cert_id",
                PASSED_CHECK,
                f"CertID ({hash_name(single.hash_oid)}) serial {single.serial:x} of {issuer.subject_str!r}",
            )

    if single is not None:
        if single.this_update > when + _SKEW:
            add("ocsp.freshness", FAILED_CHECK, f"thisUpdate {single.this_update.isoformat()} is in the future")
        elif single.next_update is not None and when - single.next_update > _SKEW:  # no sum: 9999 dates
            add("ocsp.freshness", FAILED_CHECK, f"stale: nextUpdate {single.next_update.isoformat()} has passed")
        elif single.next_update is None and when - single.this_update > max_age:
            add(
                "ocsp.freshness",
                FAILED_CHECK,
                f"stale: thisUpdate {single.this_update.isoformat()} older than {max_age}",
            )
        else:
            add(
                "ocsp.freshness",
                PASSED_CHECK,
                f"thisUpdate {single.this_update.isoformat()}, nextUpdate {single.next_update.isoformat() if single.next_update else 'absent'}",
            )
    if basic.produced_at > when + _SKEW:
        add("ocsp.produced_at", FAILED_CHECK, f"producedAt {basic.produced_at.isoformat()} is in the future")
    if nonce is not None:
        if basic.nonce is None:
            add("ocsp.nonce", FAILED_CHECK, "the response carries no nonce")
        elif basic.nonce == bytes(nonce):
            add("ocsp.nonce", PASSED_CHECK, "nonce echoed")
        else:
            add("ocsp.nonce", FAILED_CHECK, "nonce differs from the request's (replayed response?)")
    else:
        add("ocsp.nonce", SKIPPED_CHECK, "no nonce to compare")

    return OCSPVerification(
        response_status=response_status,
        status=single.status if single else None,
        revoked_at=single.revoked_at if single else None,
        reason=single.reason if single else None,
        this_update=single.this_update if single else None,
        next_update=single.next_update if single else None,
        produced_at=basic.produced_at,
        responder_cert_der=responder.der if responder else None,
        serial=single.serial if single else None,
        checks=tuple(checks),
        nonce=basic.nonce,
    )


# ------------------------------------------------------------------------------------------
# revocation checker


class OCSPRevocationChecker:
    """A :class:`~ca.revocation.RevocationChecker` asking an OCSP responder.

    :param fetch: sends a request DER and returns the response DER (HTTP POST, in-process
        responder ...). Its failures become ``unknown``, never exceptions.
    :param issuers: when given, only certificates of these CAs are asked about; others are
        ``unknown`` without a request.
    :param hash_algorithm: CertID hash for requests.

    A verified ``good`` answer holds for any earlier time too (a revocation is not undone;
    certificateHold, the exception, is reported as revoked with its reason). ``revoked``
    carries the revocation time, so the validator can judge a signature made before it.
    """

    def __init__(
        self,
        fetch: Callable[[bytes], bytes],
        issuers: Iterable[bytes | ParsedCertificate] | None = None,
        *,
        hash_algorithm: str = "sha1",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._fetch = fetch
        self._issuers = None if issuers is None else frozenset(parse_certificate(c).der for c in issuers)
        if hash_algorithm not in CERT_ID_HASHES:
            raise OCSPError(f"CertID hash {hash_algorithm!r} not one of {CERT_ID_HASHES}")
        self._hash = hash_algorithm
        self._clock = clock or (lambda: datetime.now(UTC))

    def check(self, cert: ParsedCertificate, issuer: ParsedCertificate, at: datetime) -> RevocationStatus:
        if self._issuers is not None and issuer.der not in self._issuers:
            return RevocationStatus("unknown", source=f"no OCSP responder configured for {issuer.subject_str!r}")
        try:
            request = build_ocsp_request(cert, issuer, nonce=True, hash_algorithm=self._hash)
            nonce = ocsp_request_nonce(request)
            response = self._fetch(request)
        except Exception as exc:
            return RevocationStatus("unknown", source=f"OCSP request failed: {type(exc).__name__}: {exc}"[:300])
        try:
            result = verify_ocsp_response(response, issuer_cert=issuer, cert=cert, nonce=nonce, now=self._clock())
        except CAError as exc:
            return RevocationStatus("unknown", source=f"OCSP response unusable: {exc.message}")
        except Exception as exc:
            return RevocationStatus("unknown", source=f"OCSP response unusable: {type(exc).__name__}")
        responder = "OCSP"
        if result.responder_cert_der:
            responder = f"OCSP responder {parse_certificate(result.responder_cert_der).subject_str!r}"
        if not result.valid:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in result.checks if c.failed)
            return RevocationStatus("unknown", source=f"{responder} response rejected: {failed}")
        source = f"{responder} (producedAt {result.produced_at.isoformat() if result.produced_at else '?'})"
        if result.status == "revoked" and result.revoked_at is not None:
            return RevocationStatus("revoked", revoked_at=result.revoked_at, reason=result.reason, source=source)
        if result.status == "good":
            return RevocationStatus("good", source=source)
        return RevocationStatus("unknown", source=f"{source} does not know the certificate")
