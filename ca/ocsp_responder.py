"""The OCSP responder (RFC 6960) with SM2: answers requests for the certificates of one or
more issuing CAs.

* A response is signed by the issuing CA itself or by a delegated responder certificate the
  CA issued with id-kp-OCSPSigning (RFC 6960 §4.2.2.2); the responder's certificate is always
  included; each CertID is answered in the hash algorithm it was asked in.
* :meth:`OCSPResponder.respond` answers any request bytes with an OCSPResponse: malformedRequest
  for what it cannot read, unauthorized for issuers it does not serve, internalError when the
  status lookup or the signer fails. It never raises.
* :func:`ocsp_status_response` makes the unsigned answers (``tryLater`` for a client over its
  rate limit, RFC 6960 §4.2.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import core, ocsp, x509

import hsm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import strip_micro, utc
from ._signature import same_public_key
from .certs import ParsedCertificate, parse_certificate, verify_certificate_signature
from .cms import hash_name
from .errors import CAError
from .ocsp import CERT_ID_HASHES, MAX_NONCE, NONCE_OID, OCSPError, key_hash, name_hash, nonce_value, responder_key_id
from .oids import PKIXOID
from .revocation import RevocationStatus

__all__ = ["OCSPResponder", "IssuerSource", "ocsp_request_issuers", "ocsp_status_response"]

_MAX_REQUESTS = 64


class _Answer(Exception):
    """A non-successful OCSPResponse status to send."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class _CertIdRequest:
    der: bytes
    hash_name: str
    name_hash: bytes
    key_hash: bytes
    serial: int


IssuerSource = (
    Mapping[str, "bytes | ParsedCertificate"]
    | Iterable["bytes | ParsedCertificate"]
    | Callable[[str], "bytes | ParsedCertificate | None"]
)


class OCSPResponder:
    """Answers OCSP requests for the certificates of one or more issuing CAs.

    :param signer: holds the key of ``responder_cert``.
    :param responder_cert: the CA's own certificate (the CA answers for itself) or a delegated
        responder certificate issued by the CA with id-kp-OCSPSigning (profile ``ocsp``).
    :param issuers: the CAs served. A mapping ``{issuerKeyHash hex: CA cert}`` (the keys are
        for the caller's bookkeeping: every served CA is indexed here under its SHA-1, SM3 and
        SHA-256 key hashes), an iterable of CA certs, or a callable taking the issuerKeyHash
        hex of a request (in that request's hash algorithm, see :func:`issuer_key_hashes`) and
        returning the CA certificate or None.
    :raises CAError: the signer does not hold the responder key (``key_mismatch``), or the
        responder is not authorized for a listed CA (``responder_not_authorized``).
    """

    def __init__(self, signer: hsm.Signer, responder_cert: bytes | ParsedCertificate, issuers: IssuerSource) -> None:
        self._signer = signer
        self._cert = parse_certificate(responder_cert)
        if not same_public_key(self._cert.spki, signer.public_key):
            raise CAError(
                f"the signer {signer.key_ref} does not hold the key of {self._cert.subject_str!r}", code="key_mismatch"
            )
        self._callable: Callable[[str], bytes | ParsedCertificate | None] | None = None
        self._index: dict[tuple[str, bytes], ParsedCertificate] = {}
        if callable(issuers) and not isinstance(issuers, Mapping):
            self._callable = issuers
        else:
            values = issuers.values() if isinstance(issuers, Mapping) else issuers
            for value in values:
                ca = parse_certificate(value)
                problem = self._authorization_problem(ca)
                if problem:
                    raise CAError(problem, code="responder_not_authorized")
                for alg in CERT_ID_HASHES:
                    self._index[(alg, key_hash(ca, alg))] = ca

    @property
    def certificate(self) -> ParsedCertificate:
        return self._cert

    def _authorization_problem(self, ca: ParsedCertificate) -> str | None:
        responder = self._cert
        if same_public_key(responder.spki, ca.spki):
            return None
        if responder.issuer_key != ca.subject_key:
            return f"responder {responder.subject_str!r} was not issued by {ca.subject_str!r}"
        if PKIXOID.OCSP_SIGNING not in responder.eku:
            return f"responder {responder.subject_str!r} lacks id-kp-OCSPSigning"
        try:
            verify_certificate_signature(responder, ca)
        except (hsm.InvalidSignature, CAError):
            return f"responder {responder.subject_str!r} is not signed by {ca.subject_str!r}"
        return None

    def _issuer_for(self, item: _CertIdRequest) -> ParsedCertificate | None:
        if self._callable is not None:
            found = self._callable(item.key_hash.hex())
            if found is None:
                return None
            ca = parse_certificate(found)
            if key_hash(ca, item.hash_name) != item.key_hash or self._authorization_problem(ca):
                return None
        else:
            ca = self._index.get((item.hash_name, item.key_hash))  # type: ignore[assignment]
            if ca is None:
                return None
        if name_hash(ca, item.hash_name) != item.name_hash:
            return None
        return ca

    @staticmethod
    def _read(request_der: bytes) -> tuple[list[_CertIdRequest], bytes | None]:
        """The CertIDs and the raw nonce extension value; ``_Answer('malformed_request')`` else."""
        try:
            req = ocsp.OCSPRequest.load(bytes(request_der), strict=True)
            tbs = req["tbs_request"]
            version = tbs["version"].native
            items: list[_CertIdRequest] = []
            for single in tbs["request_list"]:
                cert_id = single["req_cert"]
                # Parse every field now (asn1crypto is lazy): a malformed one, e.g. hash
                # parameters that are no NULL, is a malformedRequest here rather than a
                # fault when the CertID is copied into the signed answer.
                cert_id.native  # noqa: B018
                alg = cert_id["hash_algorithm"]
                serial = cert_id["serial_number"].native
                items.append(
                    _CertIdRequest(
                        der=cert_id.dump(),
                        hash_name=hash_name(alg["algorithm"].dotted) or "",
                        name_hash=bytes(cert_id["issuer_name_hash"].native),
                        key_hash=bytes(cert_id["issuer_key_hash"].native),
                        serial=serial,
                    )
                )
                single_ext = single["single_request_extensions"]
                if not isinstance(single_ext, core.Void) and any(e["critical"].native for e in single_ext):
                    raise ValueError("critical single request extension")
            nonce_raw = None
            extensions = tbs["request_extensions"]
            if not isinstance(extensions, core.Void):
                for ext in extensions:
                    if ext["extn_id"].dotted == NONCE_OID:
                        nonce_raw = ext["extn_value"].contents
                    elif ext["critical"].native:
                        raise ValueError("unsupported critical request extension")
        except Exception as exc:
            raise _Answer("malformed_request") from exc
        if version != "v1" or not items or len(items) > _MAX_REQUESTS:
            raise _Answer("malformed_request")
        if any(i.hash_name not in CERT_ID_HASHES or not isinstance(i.serial, int) for i in items):
            raise _Answer("malformed_request")
        return items, nonce_raw

    def respond(
        self,
        request_der: bytes,
        lookup: Callable[[ParsedCertificate, int], RevocationStatus],
        *,
        now: datetime | None = None,
        next_update: timedelta = timedelta(hours=1),
    ) -> bytes:
        """An OCSPResponse DER for any request bytes. Never raises.

        :param lookup: ``(issuer, serial) -> RevocationStatus`` for each CertID.
        :param now: producedAt / thisUpdate (default the system clock).
        :param next_update: nextUpdate = now + this.
        """
        try:
            items, nonce_raw = self._read(request_der)
            issuers = [self._issuer_for(item) for item in items]
            if any(ca is None for ca in issuers):
                raise _Answer("unauthorized")
            when = strip_micro(utc(now) if now is not None else datetime.now(UTC))
            singles = []
            for item, ca in zip(items, issuers):
                status = lookup(ca, item.serial)  # type: ignore[arg-type]
                if not isinstance(status, RevocationStatus):
                    raise _Answer("internal_error")
                singles.append(self._single(item, status, when, when + next_update))
            return self._sign(singles, nonce_raw, when)
        except _Answer as answer:
            return ocsp.OCSPResponse({"response_status": answer.status}).dump()
        except Exception:
            return ocsp.OCSPResponse({"response_status": "internal_error"}).dump()

    @staticmethod
    def _single(
        item: _CertIdRequest, status: RevocationStatus, this_update: datetime, next_update: datetime
    ) -> dict[str, object]:
        if status.status == "revoked":
            info: dict[str, object] = {"revocation_time": core.GeneralizedTime(strip_micro(utc(status.revoked_at)))}  # type: ignore[arg-type]
            if status.reason and status.reason != "unspecified":
                info["revocation_reason"] = status.reason
            cert_status = ocsp.CertStatus(name="revoked", value=info)
        else:
            cert_status = ocsp.CertStatus(name=status.status, value=None)
        return {
            "cert_id": ocsp.CertId.load(item.der),  # answered in the algorithm asked
            "cert_status": cert_status,
            "this_update": core.GeneralizedTime(this_update),
            "next_update": core.GeneralizedTime(next_update),
        }

    def _sign(self, singles: list[dict[str, object]], nonce_raw: bytes | None, when: datetime) -> bytes:
        data: dict[str, object] = {
            "responder_id": ocsp.ResponderId(name="by_key", value=responder_key_id(self._cert)),
            "produced_at": core.GeneralizedTime(when),
            "responses": singles,
        }
        if nonce_raw is not None and 1 <= len(nonce_value(nonce_raw)) <= MAX_NONCE:
            data["response_extensions"] = [
                {"extn_id": "nonce", "critical": False, "extn_value": core.ParsableOctetString(nonce_raw)}
            ]
        tbs = ocsp.ResponseData(data)
        tbs_der = tbs.dump()
        basic = ocsp.BasicOCSPResponse(
            {
                "tbs_response_data": ocsp.ResponseData.load(tbs_der),
                "signature_algorithm": {"algorithm": self._signer.signature_algorithm_oid},
                "signature": self._signer.sign(tbs_der),
                "certs": [x509.Certificate.load(self._cert.der)],
            }
        )
        return ocsp.OCSPResponse(
            {
                "response_status": "successful",
                "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
            }
        ).dump()


def ocsp_request_issuers(request_der: bytes) -> tuple[tuple[str, str], ...]:
    """``(CertID hash name, issuerKeyHash hex)`` of every CertID in a request, in order, or ``()``
    when the request is malformed. A service holding several CAs reads this to choose which
    responder (and key) answers before it builds an :class:`OCSPResponder`."""
    try:
        items, _ = OCSPResponder._read(request_der)
    except _Answer:
        return ()
    return tuple((item.hash_name, item.key_hash.hex()) for item in items)


def ocsp_status_response(status: str) -> bytes:
    """An unsigned OCSPResponse carrying only a non-successful ``status`` (RFC 6960 §4.2.1):
    ``malformed_request``, ``internal_error``, ``try_later``, ``sig_required`` or ``unauthorized``."""
    if status not in ("malformed_request", "internal_error", "try_later", "sig_required", "unauthorized"):
        raise OCSPError(f"{status!r} is not an unsigned OCSP response status")
    return ocsp.OCSPResponse({"response_status": status}).dump()
