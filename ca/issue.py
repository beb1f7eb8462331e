"""Issuing X.509 v3 certificates from a profile, signed through an :class:`hsm.Signer`.

The caller chooses a profile, a subject and the subject's public key; everything else (key
usage, EKU, basic constraints, key identifiers) comes from the profile and the issuer, so no
free-form extension ever reaches a signature. Before returning, the new certificate is parsed
back and its signature checked under the issuer key: a faulty signer or provider must not
produce certificates that nobody can verify.

Key identifiers: SKI is RFC 7093 §2 method 1 with SM3 (leftmost 160 bits of SM3 over the
subjectPublicKey bits, :func:`ca.certs.subject_key_identifier`); AKI repeats the issuer
certificate's SKI, or computes it the same way when the issuer has none.

.. note:: issuance does not enforce the issuer's pathLenConstraint; path validation does
   (tests build over-long paths on purpose). Use :data:`ca.profiles.ISSUED_BY` to keep to the
   service hierarchy.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, core, keys, x509

import hsm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import strip_micro, utc, x509_time
from ._signature import same_public_key
from .certs import ParsedCertificate, parse_certificate, subject_key_identifier, verify_certificate_signature
from .errors import CAError, CertificateError
from .names import SubjectSpec, build_name
from .profiles import PROFILES, CertProfile

__all__ = ["issue_certificate", "random_serial", "BACKDATE"]

BACKDATE = timedelta(minutes=5)
"""Default notBefore is this long before now, to absorb clock skew between parties."""
_MAX_SERIAL = 2**159


def random_serial() -> int:
    """A positive 159-bit serial from the OS CSPRNG (fits RFC 5280's 20 octets, unguessable)."""
    while True:
        serial = secrets.randbits(159)
        if serial:
            return serial


def _check_public_key(public_key: bytes) -> keys.PublicKeyInfo:
    if not isinstance(public_key, (bytes, bytearray)):
        raise CAError("public_key must be SubjectPublicKeyInfo DER bytes", code="bad_public_key")
    try:
        info = keys.PublicKeyInfo.load(bytes(public_key), strict=True)
        info.native  # noqa: B018 - forces a full parse
        hsm.load_public_key(bytes(public_key))
    except Exception as exc:
        raise CAError("public_key is not an SM2 or P-256 SubjectPublicKeyInfo", code="bad_public_key") from exc
    return info


def _check_url(url: str | None, what: str) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str) or not url or not url.isascii() or any(c.isspace() for c in url):
        raise CAError(f"{what} must be a non-empty ASCII URI (punycode for IDNs)", code="bad_url")
    return url


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def _extensions(
    profile: CertProfile,
    ski: bytes,
    aki: bytes | None,
    crl_url: str | None,
    ocsp_url: str | None,
    ca_issuers_url: str | None,
) -> list[dict[str, object]]:
    basic: dict[str, object] = {"ca": profile.is_ca}
    if profile.is_ca and profile.path_length is not None:
        basic["path_len_constraint"] = profile.path_length
    exts: list[dict[str, object]] = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": basic},
        {"extn_id": "key_usage", "critical": True, "extn_value": set(profile.key_usage)},
    ]
    if profile.extended_key_usage:
        exts.append(
            {
                "extn_id": "extended_key_usage",
                "critical": profile.eku_critical,
                "extn_value": list(profile.extended_key_usage),
            }
        )
    exts.append({"extn_id": "key_identifier", "critical": False, "extn_value": ski})
    if aki is not None:
        exts.append({"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": aki}})
    if crl_url:
        point = x509.DistributionPointName(name="full_name", value=[_uri(crl_url)])
        exts.append(
            {"extn_id": "crl_distribution_points", "critical": False, "extn_value": [{"distribution_point": point}]}
        )
    access = []
    if ocsp_url:
        access.append({"access_method": "ocsp", "access_location": _uri(ocsp_url)})
    if ca_issuers_url:
        access.append({"access_method": "ca_issuers", "access_location": _uri(ca_issuers_url)})
    if access:
        exts.append({"extn_id": "authority_information_access", "critical": False, "extn_value": access})
    if profile.ocsp_no_check:
        exts.append({"extn_id": "ocsp_no_check", "critical": False, "extn_value": core.Null()})
    return exts


def _resolve_issuer(
    profile: CertProfile,
    subject_name: x509.Name,
    spki: bytes,
    signer: hsm.Signer,
    issuer_cert: bytes | ParsedCertificate | None,
) -> tuple[x509.Name, bytes | None, ParsedCertificate | None]:
    """Issuer name, AKI and parsed issuer; refuses issuers that may not sign this."""
    if issuer_cert is None:
        if not profile.is_ca:
            raise CAError(f"profile {profile.name} cannot be self-signed", code="self_signed_leaf")
        if not same_public_key(signer.public_key, spki):
            raise CAError("a self-signed certificate must certify the signer's own key", code="key_mismatch")
        return subject_name, subject_key_identifier(spki), None
    try:
        issuer = parse_certificate(issuer_cert)
    except CertificateError as exc:
        raise CAError(f"issuer certificate unreadable: {exc.message}", code="bad_issuer_certificate") from exc
    if not issuer.is_ca:
        raise CAError(f"issuer {issuer.subject_str!r} is not a CA (basicConstraints cA=false)", code="issuer_not_ca")
    if "key_cert_sign" not in issuer.key_usage:
        raise CAError(
            f"issuer {issuer.subject_str!r} lacks the keyCertSign key usage", code="issuer_cannot_sign_certificates"
        )
    if not same_public_key(issuer.spki, signer.public_key):
        raise CAError(
            f"the signer {signer.key_ref} does not hold the key of issuer {issuer.subject_str!r}",
            code="issuer_key_mismatch",
        )
    subject_of_issuer = x509.Name.load(issuer.subject.dump())  # verbatim: chaining matches bytes
    return subject_of_issuer, issuer.ski or subject_key_identifier(issuer.spki), issuer


def issue_certificate(
    *,
    profile: CertProfile | str,
    subject: SubjectSpec,
    public_key: bytes,
    issuer_signer: hsm.Signer,
    issuer_cert: bytes | ParsedCertificate | None,
    serial: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    ca_issuers_url: str | None = None,
) -> bytes:
    """Issue a certificate and return its DER.

    :param profile: a :class:`CertProfile` or its name in :data:`ca.profiles.PROFILES`.
    :param public_key: the subject's SubjectPublicKeyInfo DER, copied verbatim.
    :param issuer_cert: the issuing CA's certificate; ``None`` makes a self-signed root (issuer
        name = subject, and ``issuer_signer`` must hold ``public_key``).
    :param serial: ``None`` draws a random positive 159-bit serial.
    :param not_before: default now minus :data:`BACKDATE`.
    :param not_after: default ``not_before`` plus the profile's validity; always capped at the
        issuer's notAfter so no certificate outlives its issuer.
    :raises CAError: with code ``issuer_not_ca``, ``issuer_cannot_sign_certificates``,
        ``issuer_key_mismatch``, ``key_mismatch``, ``self_signed_leaf``, ``bad_public_key``,
        ``bad_serial``, ``bad_url``, ``issuer_expired``, ``empty_validity`` or ``signer_fault``.
    """
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise CAError(f"unknown certificate profile {profile!r}", code="unknown_profile")
        profile = PROFILES[profile]
    spki_info = _check_public_key(public_key)
    spki = bytes(public_key)
    subject_name = build_name(subject)
    issuer_name, aki, issuer = _resolve_issuer(profile, subject_name, spki, issuer_signer, issuer_cert)

    start = strip_micro(utc(not_before) if not_before is not None else datetime.now(UTC) - BACKDATE)
    end = strip_micro(utc(not_after) if not_after is not None else profile.default_not_after(start))
    if issuer is not None and end > issuer.not_after:
        if issuer.not_after <= start:
            raise CAError(
                f"issuer {issuer.subject_str!r} expired at {issuer.not_after.isoformat()}", code="issuer_expired"
            )
        end = issuer.not_after
    if end <= start:
        raise CAError(f"validity would be empty ({start.isoformat()} .. {end.isoformat()})", code="empty_validity")

    if serial is None:
        serial = random_serial()
    elif not isinstance(serial, int) or isinstance(serial, bool) or not 0 < serial < _MAX_SERIAL:
        raise CAError("serial must be a positive integer of at most 159 bits", code="bad_serial")

    for url, what in ((crl_url, "crl_url"), (ocsp_url, "ocsp_url"), (ca_issuers_url, "ca_issuers_url")):
        _check_url(url, what)

    signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": issuer_signer.signature_algorithm_oid})
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": signature_algorithm,
            "issuer": issuer_name,
            "validity": {"not_before": x509_time(start), "not_after": x509_time(end)},
            "subject": subject_name,
            "subject_public_key_info": spki_info,
            "extensions": _extensions(profile, subject_key_identifier(spki), aki, crl_url, ocsp_url, ca_issuers_url),
        }
    )
    tbs_der = tbs.dump()
    signature = issuer_signer.sign(tbs_der)
    der = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": issuer_signer.signature_algorithm_oid}),
            "signature_value": signature,
        }
    ).dump()
    try:
        warning = verify_certificate_signature(der, issuer_signer.public_key)
    except (hsm.InvalidSignature, CertificateError) as exc:
        raise CAError(
            f"the new certificate does not verify under {issuer_signer.key_ref}", code="signer_fault"
        ) from exc
    if warning is not None:  # verifiers tolerate OpenSSL's empty SM2 ID; what we issue must be GM/T 0015
        raise CAError(f"{issuer_signer.key_ref} signed the new certificate with the empty SM2 ID", code="signer_fault")
    return der
