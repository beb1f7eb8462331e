"""RFC 3161 time-stamping with SM2: a time-stamp authority, requests, and token verification.

A token is a CMS SignedData (PKCS#7 OIDs, as RFC 3161 requires) over a TSTInfo, built by
:func:`ca.cms.sign_cms` with the signed attributes RFC 3161 §2.4.2 / RFC 5816 need (contentType
id-ct-TSTInfo, messageDigest, signingCertificateV2). SES signatures (GB/T 38540 ``timeStamp``)
carry such a token whose messageImprint hashes the SES ``signature`` value.

The TSA's certificate must have exactly one extended key usage, id-kp-timeStamping, marked
critical (RFC 3161 §2.3), and digitalSignature. :meth:`TimeStampAuthority.respond` turns any
request bytes into a TimeStampResp - a granted token or a rejection with a PKIFailureInfo - and
never raises; :func:`verify_timestamp_token` raises only :class:`TimeStampError` (a
:class:`~ca.errors.CAError`) for bytes that are no token at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, cms, core, tsp, x509

import hsm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import strip_micro, utc
from ._signature import same_public_key
from .certs import ParsedCertificate, parse_certificate
from .cms import (
    CT_TST_INFO,
    HASH_OIDS,
    CMSVerification,
    hash_data,
    hash_name,
    sign_cms,
    verify_cms,
)
from .errors import CAError
from .names import name_key
from .oids import PKIXOID
from .results import (
    FAILED_CHECK,
    PASSED_CHECK,
    SKIPPED_CHECK,
    WARNING_CHECK,
    Check,
    CheckResult,
    SignatureChecks,
)

__all__ = [
    "TimeStampError",
    "TimeStampAuthority",
    "TimeStampVerification",
    "TimeStampResponse",
    "TSA_HASHES",
    "build_request",
    "parse_timestamp_response",
    "verify_timestamp_token",
    "check_tsa_certificate",
]

TSA_HASHES: dict[str, int] = {"sm3": 32, "sha256": 32, "sha384": 48, "sha512": 64}
"""Imprint hash algorithms a TSA here accepts, with their sizes (SHA-1 is refused: badAlg)."""
_NULL_DER = b"\x05\x00"


class TimeStampError(CAError):
    """Bytes that are not a time-stamp token / response, or a stamp that cannot be made."""

    code = "bad_timestamp"


class _TimeStampResp(core.Sequence):
    """RFC 3161 TimeStampResp. asn1crypto's misses ``OPTIONAL`` on the token, which every
    rejection leaves out."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def check_tsa_certificate(cert: ParsedCertificate) -> list[str]:
    """What keeps ``cert`` from being a TSA certificate (empty when it is one).

    RFC 3161 §2.3: the extended key usage extension holds id-kp-timeStamping only and is
    critical; the key may sign (digitalSignature).
    """
    problems = []
    usages = {e for e in cert.eku if e[:1].isdigit()}
    if usages != {PKIXOID.TIME_STAMPING}:
        problems.append(f"extended key usage {sorted(usages) or 'absent'} is not exactly id-kp-timeStamping")
    elif "extended_key_usage" not in cert.critical_extensions:
        problems.append("the extended key usage extension is not critical")
    if not cert.has_key_usage:
        problems.append("no key usage extension (digitalSignature expected)")
    elif "digital_signature" not in cert.key_usage:
        problems.append(f"key usage {sorted(cert.key_usage)} lacks digitalSignature")
    return problems


def _hash_oid(name: str) -> str:
    if name not in TSA_HASHES:
        raise TimeStampError(f"hash algorithm {name!r} not accepted; one of {sorted(TSA_HASHES)}", code="bad_alg")
    return HASH_OIDS[name]


def _gen_time(clock: Callable[[], datetime]) -> datetime:
    try:
        return strip_micro(utc(clock()))
    except (TypeError, ValueError) as exc:
        raise TimeStampError(f"the TSA clock gave no usable time: {exc}") from exc


class _Rejection(Exception):
    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure, self.text = failure, text


class TimeStampAuthority:
    """An RFC 3161 TSA signing with an :class:`hsm.Signer`.

    :param cert: the TSA certificate (DER/PEM); :func:`check_tsa_certificate` must pass.
    :param chain: further certificates to include when a request asks for certificates.
    :param policy_oid: the TSA policy every token states (and the only one requests may ask).
    :param accuracy_seconds: stated accuracy; 0 leaves the field out.
    :param clock: returns the current time (aware); default the system clock, UTC.
    :raises CAError: the certificate is not a TSA certificate (code ``not_a_tsa_certificate``)
        or does not hold the signer's key (``key_mismatch``), or a parameter is bad.
    """

    def __init__(
        self,
        signer: hsm.Signer,
        cert: bytes | ParsedCertificate,
        chain: Iterable[bytes | ParsedCertificate] = (),
        *,
        policy_oid: str,
        accuracy_seconds: int = 1,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._cert = parse_certificate(cert)
        problems = check_tsa_certificate(self._cert)
        if problems:
            raise CAError(
                f"{self._cert.subject_str!r} is no TSA certificate: {'; '.join(problems)}", code="not_a_tsa_certificate"
            )
        if not same_public_key(self._cert.spki, signer.public_key):
            raise CAError(
                f"the signer {signer.key_ref} does not hold the key of {self._cert.subject_str!r}", code="key_mismatch"
            )
        try:
            self._policy = core.ObjectIdentifier(policy_oid).dotted
        except Exception as exc:
            raise TimeStampError(f"policy {policy_oid!r} is not a dotted OID") from exc
        if not isinstance(accuracy_seconds, int) or isinstance(accuracy_seconds, bool) or accuracy_seconds < 0:
            raise TimeStampError("accuracy_seconds must be a non-negative integer")
        self._signer = signer
        self._chain = tuple(parse_certificate(c) for c in chain)
        self._accuracy = accuracy_seconds
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def certificate(self) -> ParsedCertificate:
        return self._cert

    @property
    def policy_oid(self) -> str:
        return self._policy

    def stamp(
        self, imprint: bytes, hash_algorithm: str = "sm3", nonce: int | None = None, *, cert_req: bool = True
    ) -> bytes:
        """A TimeStampToken (ContentInfo DER) over ``imprint``, the ``hash_algorithm`` hash of
        the data being stamped. Serial numbers are random 128-bit; genTime is the clock's UTC
        time to the second.

        :raises TimeStampError: unsupported hash (code ``bad_alg``) or wrong imprint size.
        """
        oid = _hash_oid(hash_algorithm)
        if not isinstance(imprint, (bytes, bytearray)) or len(imprint) != TSA_HASHES[hash_algorithm]:
            raise TimeStampError(
                f"a {hash_algorithm} imprint is {TSA_HASHES[hash_algorithm]} bytes", code="bad_data_format"
            )
        if nonce is not None and (not isinstance(nonce, int) or isinstance(nonce, bool)):
            raise TimeStampError("nonce must be an integer")
        gen_time = _gen_time(self._clock)
        info: dict[str, object] = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": oid}),
                "hashed_message": bytes(imprint),
            },
            "serial_number": secrets.randbits(128) | 1,
            "gen_time": core.GeneralizedTime(gen_time),
            "tsa": x509.GeneralName(name="directory_name", value=x509.Name.load(self._cert.subject.dump())),
        }
        if self._accuracy:
            info["accuracy"] = {"seconds": self._accuracy}
        if nonce is not None:
            info["nonce"] = nonce
        tst_der = tsp.TSTInfo(info).dump()
        return sign_cms(
            tst_der,
            signer=self._signer,
            signer_cert=self._cert,
            extra_certs=self._chain,
            detached=False,
            signed_attributes=True,
            content_type=CT_TST_INFO,
            signing_time=gen_time,
            include_certificates=cert_req,
        )

    def _read_request(self, request_der: bytes) -> tuple[str, bytes, int | None, bool]:
        if not isinstance(request_der, (bytes, bytearray, memoryview)):
            raise _Rejection("bad_data_format", "request is not bytes")
        try:
            req = tsp.TimeStampReq.load(bytes(request_der), strict=True)
            version = req["version"].native
            imprint = req["message_imprint"]
            oid = imprint["hash_algorithm"]["algorithm"].dotted
            params = imprint["hash_algorithm"]["parameters"]
            params_der = b"" if isinstance(params, core.Void) else params.dump()
            hashed = imprint["hashed_message"].native
            policy = req["req_policy"]
            policy_oid = None if isinstance(policy, core.Void) else policy.dotted
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            extensions = req["extensions"]
            has_extensions = not isinstance(extensions, core.Void) and len(extensions) > 0
        except Exception as exc:
            raise _Rejection("bad_data_format", "request is not a DER TimeStampReq") from exc
        if version != "v1":
            raise _Rejection("bad_request", f"request version {version} is not 1")
        name = hash_name(oid)
        if name not in TSA_HASHES or params_der not in (b"", _NULL_DER):
            raise _Rejection("bad_alg", f"hash algorithm {oid} not accepted; one of {sorted(TSA_HASHES)}")
        if not isinstance(hashed, bytes) or len(hashed) != TSA_HASHES[name]:
            raise _Rejection("bad_data_format", f"a {name} imprint is {TSA_HASHES[name]} bytes")
        if policy_oid is not None and policy_oid != self._policy:
            raise _Rejection("unaccepted_policy", f"policy {policy_oid} not offered (only {self._policy})")
        if has_extensions:
            raise _Rejection("unaccepted_extensions", "request extensions are not supported")
        if nonce is not None and not isinstance(nonce, int):
            raise _Rejection("bad_data_format", "nonce is not an integer")
        return name, hashed, nonce, cert_req  # type: ignore[return-value]

    def respond(self, request_der: bytes) -> bytes:
        """A TimeStampResp DER for any request bytes: granted, or a rejection whose
        PKIFailureInfo says why (badDataFormat, badRequest, badAlg, unacceptedPolicy,
        unacceptedExtension, systemFailure). Never raises."""
        try:
            name, hashed, nonce, cert_req = self._read_request(request_der)
            token = self.stamp(hashed, name, nonce, cert_req=cert_req)
            return _TimeStampResp(
                {"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token)}
            ).dump()
        except _Rejection as rejection:
            return _rejection(rejection.failure, rejection.text)
        except Exception:
            return _rejection("system_failure", "the time-stamp could not be produced")


def _rejection(failure: str, text: str) -> bytes:
    return _TimeStampResp(
        {"status": {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({failure})}}
    ).dump()


def build_request(
    data: bytes | None = None,
    *,
    imprint: bytes | None = None,
    hash_algorithm: str = "sm3",
    nonce: bool | int = True,
    cert_req: bool = True,
    policy_oid: str | None = None,
) -> bytes:
    """A TimeStampReq DER over ``data`` (hashed here) or a given ``imprint``.

    :param nonce: True draws a random 64-bit nonce, an int is used as given, False omits it
        (read it back with ``asn1crypto.tsp.TimeStampReq.load(req)['nonce'].native``).
    :raises TimeStampError: neither or both of data / imprint, bad hash or imprint size.
    """
    if (data is None) == (imprint is None):
        raise TimeStampError("give exactly one of data and imprint")
    oid = _hash_oid(hash_algorithm)
    if data is not None:
        imprint = hash_data(hash_algorithm, bytes(data))
    if not isinstance(imprint, (bytes, bytearray)) or len(imprint) != TSA_HASHES[hash_algorithm]:
        raise TimeStampError(f"a {hash_algorithm} imprint is {TSA_HASHES[hash_algorithm]} bytes")
    req: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": oid}),
            "hashed_message": bytes(imprint),
        },
        "cert_req": bool(cert_req),
    }
    if policy_oid is not None:
        req["req_policy"] = policy_oid
    if nonce is True:
        req["nonce"] = secrets.randbits(64) | 1
    elif nonce is not False:
        if not isinstance(nonce, int):
            raise TimeStampError("nonce must be True, False or an integer")
        req["nonce"] = nonce
    return tsp.TimeStampReq(req).dump()


@dataclass(frozen=True)
class TimeStampResponse:
    """A parsed TimeStampResp (not yet verified: pass ``token`` to :func:`verify_timestamp_token`)."""

    status: str
    """``granted``, ``granted_with_mods``, ``rejection``, ``waiting`` ..."""
    status_strings: tuple[str, ...]
    failure_info: frozenset[str]
    """asn1crypto names, e.g. ``bad_alg``."""
    token: bytes | None

    @property
    def granted(self) -> bool:
        return self.status in ("granted", "granted_with_mods") and self.token is not None


def parse_timestamp_response(resp_der: bytes) -> TimeStampResponse:
    """Read a TimeStampResp. :raises TimeStampError: not one, or granted without a token."""
    if not isinstance(resp_der, (bytes, bytearray, memoryview)):
        raise TimeStampError("response must be bytes")
    try:
        resp = _TimeStampResp.load(bytes(resp_der), strict=True)
        info = resp["status"]
        status = info["status"].native
        texts = info["status_string"]
        strings = () if isinstance(texts, core.Void) else tuple(str(t.native) for t in texts)
        fail = info["fail_info"]
        failures = frozenset() if isinstance(fail, core.Void) else frozenset(str(f) for f in fail.native)
        token = resp["time_stamp_token"]
        token_der = None if isinstance(token, core.Void) else token.dump()
    except Exception as exc:
        raise TimeStampError(f"not a TimeStampResp: {type(exc).__name__}") from exc
    if not isinstance(status, str):
        raise TimeStampError(f"unknown PKIStatus {status}")
    if status in ("granted", "granted_with_mods") and token_der is None:
        raise TimeStampError("granted response without a token")
    return TimeStampResponse(status, strings, failures, token_der)


@dataclass(frozen=True)
class TimeStampVerification(SignatureChecks):
    """What :func:`verify_timestamp_token` found. ``valid``: the CMS signature verified and no
    check failed. Without ``data`` / ``imprint`` the imprint check is skipped: the result then
    says only that the token is authentic, not what it stamps."""

    gen_time: datetime
    serial: int
    policy: str
    hash_algorithm: str
    """hashlib name when known, else the dotted OID."""
    message_imprint: bytes
    tsa_cert_der: bytes | None
    checks: tuple[Check, ...]
    nonce: int | None = None
    accuracy: timedelta | None = None
    cms: CMSVerification | None = None


@dataclass(frozen=True)
class _TSTInfo:
    version: object
    policy: str
    hash_oid: str
    hash_params: bytes
    imprint: bytes
    serial: int
    gen_time: datetime
    accuracy: timedelta | None
    nonce: int | None
    tsa_name_key: str | None
    critical_extensions: bool


def _accuracy(value: core.Asn1Value) -> timedelta | None:
    if isinstance(value, core.Void):
        return None
    parts = value.native
    seconds, millis, micros = (parts.get(k) or 0 for k in ("seconds", "millis", "micros"))
    if min(seconds, millis, micros) < 0 or millis > 999 or micros > 999 or seconds > 10**9:
        raise ValueError("accuracy out of range")
    return timedelta(seconds=seconds, milliseconds=millis, microseconds=micros)


def _parse_tst_info(der: bytes) -> _TSTInfo:
    try:
        tst = tsp.TSTInfo.load(der, strict=True)
        gen_time = tst["gen_time"].native
        if not isinstance(gen_time, datetime) or gen_time.tzinfo is None:
            raise ValueError("genTime is not a time")
        serial = tst["serial_number"].native
        if not isinstance(serial, int):
            raise ValueError("serial is not an integer")
        alg = tst["message_imprint"]["hash_algorithm"]
        params = alg["parameters"]
        tsa = tst["tsa"]
        tsa_key = None
        if not isinstance(tsa, core.Void) and tsa.name == "directory_name":
            tsa_key = name_key(tsa.chosen)
        extensions = tst["extensions"]
        critical = not isinstance(extensions, core.Void) and any(e["critical"].native for e in extensions)
        nonce = tst["nonce"].native
        return _TSTInfo(
            version=tst["version"].native,
            policy=tst["policy"].dotted,
            hash_oid=alg["algorithm"].dotted,
            hash_params=b"" if isinstance(params, core.Void) else params.dump(),
            imprint=bytes(tst["message_imprint"]["hashed_message"].native),
            serial=serial,
            gen_time=gen_time.astimezone(UTC),
            accuracy=_accuracy(tst["accuracy"]),
            nonce=nonce if isinstance(nonce, int) else None,
            tsa_name_key=tsa_key,
            critical_extensions=critical,
        )
    except Exception as exc:
        raise TimeStampError(f"eContent is not a DER TSTInfo: {type(exc).__name__}") from exc


def verify_timestamp_token(
    token: bytes,
    *,
    data: bytes | None = None,
    imprint: bytes | None = None,
    nonce: int | None = None,
    certificates: Iterable[bytes] = (),
) -> TimeStampVerification:
    """Verify an RFC 3161 TimeStampToken (ContentInfo DER or PEM).

    Checks, besides those of :func:`ca.cms.verify_cms`: TSTInfo version 1; signed attributes
    with a signingCertificate(V2) naming the signer (RFC 3161 §2.4.1, RFC 5816); the TSA
    certificate (critical EKU exactly id-kp-timeStamping, digitalSignature) valid at genTime;
    the messageImprint against ``hash(data)`` (SM3, SHA-256/384/512) or ``imprint``; the nonce.

    :param certificates: TSA certificates, for tokens issued without them (certReq false).
    :raises TimeStampError / CMSError: not a time-stamp token at all.
    """
    if data is not None and imprint is not None:
        raise TimeStampError("give at most one of data and imprint")
    result = verify_cms(token, certificates=certificates)
    if result.content_type != CT_TST_INFO:
        raise TimeStampError(f"eContentType {result.content_type} is not id-ct-TSTInfo", code="not_a_timestamp_token")
    if result.encapsulated_content is None:
        raise TimeStampError("time-stamp token without its TSTInfo", code="not_a_timestamp_token")
    tst = _parse_tst_info(result.encapsulated_content)
    checks: list[Check] = list(result.checks)

    def add(name: str, outcome: CheckResult, detail: str) -> None:
        checks.append(Check(name, outcome, detail))

    add("tst.version", PASSED_CHECK if tst.version == "v1" else FAILED_CHECK, f"TSTInfo version {tst.version}")
    if tst.critical_extensions:
        add("tst.extensions", FAILED_CHECK, "TSTInfo has critical extensions trustsvc does not process")
    if result.shape != "attached_signed_attributes":
        add(
            "tst.signed_attributes",
            FAILED_CHECK,
            f"token shape {result.shape}: RFC 3161 needs the TSTInfo attached and signed attributes",
        )
    ess = result.check("cms.signed_attributes.signing_certificate")
    if ess is None or ess.result != PASSED_CHECK:
        add(
            "tst.signing_certificate",
            FAILED_CHECK,
            "no signingCertificate(V2) attribute naming the TSA certificate (RFC 3161 §2.4.1)",
        )
    else:
        add("tst.signing_certificate", PASSED_CHECK, ess.detail)

    algorithm = hash_name(tst.hash_oid)
    tsa_cert = result.signer_certificate
    if tsa_cert is None:
        add("tst.tsa_certificate", FAILED_CHECK, "TSA certificate not available or unreadable")
    else:
        problems = check_tsa_certificate(tsa_cert)
        add(
            "tst.tsa_certificate",
            FAILED_CHECK if problems else PASSED_CHECK,
            "; ".join(problems)
            if problems
            else f"{tsa_cert.subject_str!r}: critical EKU id-kp-timeStamping, digitalSignature",
        )
        within = tsa_cert.valid_at(tst.gen_time)
        add(
            "tst.tsa_certificate.validity",
            PASSED_CHECK if within else FAILED_CHECK,
            f"genTime {tst.gen_time.isoformat()} {'within' if within else 'outside'} "
            f"{tsa_cert.not_before.isoformat()} .. {tsa_cert.not_after.isoformat()}",
        )
        if tst.tsa_name_key is not None and tst.tsa_name_key != tsa_cert.subject_key:
            add("tst.tsa_name", WARNING_CHECK, "TSTInfo tsa name differs from the signer's subject")

    if algorithm not in TSA_HASHES or tst.hash_params not in (b"", _NULL_DER):
        add("tst.hash_algorithm", FAILED_CHECK, f"imprint hash {tst.hash_oid} not accepted")
    elif len(tst.imprint) != TSA_HASHES[algorithm]:
        add("tst.hash_algorithm", FAILED_CHECK, f"{algorithm} imprint has {len(tst.imprint)} bytes")
    else:
        add("tst.hash_algorithm", PASSED_CHECK, f"imprint hash {algorithm}")
    if data is None and imprint is None:
        add("tst.message_imprint", SKIPPED_CHECK, "no data or imprint given to compare")
    else:
        expected = imprint
        if data is not None and algorithm in TSA_HASHES:
            expected = hash_data(algorithm, bytes(data))  # type: ignore[arg-type]
        matches = expected is not None and bytes(expected) == tst.imprint
        add(
            "tst.message_imprint",
            PASSED_CHECK if matches else FAILED_CHECK,
            "messageImprint matches"
            if matches
            else "messageImprint does not match the data: the token stamps something else",
        )
    if nonce is not None:
        add(
            "tst.nonce",
            PASSED_CHECK if tst.nonce == nonce else FAILED_CHECK,
            f"nonce {'echoed' if tst.nonce == nonce else 'differs'}",
        )

    return TimeStampVerification(
        gen_time=tst.gen_time,
        serial=tst.serial,
        policy=tst.policy,
        hash_algorithm=algorithm or tst.hash_oid,
        message_imprint=tst.imprint,
        tsa_cert_der=result.signer_cert_der,
        checks=tuple(checks),
        nonce=tst.nonce,
        accuracy=tst.accuracy,
        cms=result,
    )
