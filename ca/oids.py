"""The one place trustsvc teaches asn1crypto the SM2 family of OIDs (and its own EKUs).

asn1crypto keeps OID names in class-level ``_map`` / ``_reverse_map`` dicts and picks the ASN.1
spec of an open field (``parameters``, ``content``, ``public_key``) from ``_oid_specs`` /
``_spec_callbacks``. Patching those from several modules, or updating ``_map`` without
``_reverse_map``, gives order-dependent parsing; so every registration goes through the helpers
here, runs once (:func:`register_oids`, called on import) and refuses to rename an OID that
already has a different name.

Registered:

* SM2-with-SM3 ``1.2.156.10197.1.501`` (``sm2_sm3``), SM2 signature ``1.2.156.10197.1.301.1``
  (``sm2_sign``) and bare SM2 ``1.2.156.10197.1.301`` (``sm2``, seen as a CMS
  digestEncryptionAlgorithm) as signature algorithms;
* SM3 ``1.2.156.10197.1.401`` (``sm3``) as a digest algorithm;
* SM2 ``1.2.156.10197.1.301`` as a public-key algorithm (Tongsuo / OpenSSL 3 SPKIs carry it in
  place of id-ecPublicKey) with an EC point as its key, and as the named curve ``sm2p256v1``;
* the GM/T 0010 / GB/T 35275 content types ``1.2.156.10197.6.1.4.2.1``..``6`` (``gm_data`` ...);
* id-kp-documentSigning ``1.3.6.1.5.5.7.3.36`` (asn1crypto 1.5 lacks it) and trustsvc's own
  extended key usages under the UUID arc :data:`TRUSTSVC_ARC` (ITU-T X.667 ``2.25``: an OID
  anyone may mint from a random UUID, no registration needed).

.. warning:: asn1crypto's ``SignedDigestAlgorithm.signature_algo`` / ``.hash_algo`` still raise
   for SM2; never use them. Compare dotted OIDs (:class:`SMOID`) instead.
"""

from __future__ import annotations

import threading
from typing import Any

from asn1crypto import algos, cms, core, keys, x509

__all__ = [
    "SMOID",
    "PKIXOID",
    "TrustSvcEKU",
    "TRUSTSVC_ARC",
    "register_oid",
    "register_spec",
    "register_oids",
]

TRUSTSVC_ARC = "2.25.302536209990631905168652741637771452772"
"""trustsvc's private OID arc: ``2.25.<UUID as integer>`` (ITU-T X.667 / RFC 4122 §A)."""


class SMOID:
    """Dotted OIDs of the Chinese commercial-cryptography (GM/T 0006) algorithms and structures."""

    SM2 = "1.2.156.10197.1.301"
    """SM2 public key (also the sm2p256v1 curve, and some SPKIs' key algorithm)."""
    SM2_SIGN = "1.2.156.10197.1.301.1"
    SM2_ENCRYPT = "1.2.156.10197.1.301.3"
    SM3 = "1.2.156.10197.1.401"
    SM2_WITH_SM3 = "1.2.156.10197.1.501"
    GM_DATA = "1.2.156.10197.6.1.4.2.1"
    GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
    GM_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.3"
    GM_SIGNED_AND_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.4"
    GM_ENCRYPTED_DATA = "1.2.156.10197.6.1.4.2.5"
    GM_KEY_AGREEMENT_INFO = "1.2.156.10197.6.1.4.2.6"


class PKIXOID:
    """PKIX OIDs trustsvc's profiles use (dotted, so they compare whatever asn1crypto calls them)."""

    EC_PUBLIC_KEY = "1.2.840.10045.2.1"
    ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
    SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
    CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
    CODE_SIGNING = "1.3.6.1.5.5.7.3.3"
    TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
    OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
    DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
    """id-kp-documentSigning (RFC 9336)."""
    ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0"
    OCSP_NOCHECK = "1.3.6.1.5.5.7.48.1.5"


class TrustSvcEKU:
    """trustsvc's extended key usages, under :data:`TRUSTSVC_ARC` ``.1``."""

    SEAL_MAKER = TRUSTSVC_ARC + ".1.1"
    """制章者: signs SES_Seal structures (GB/T 38540)."""
    ESEAL_SIGNER = TRUSTSVC_ARC + ".1.2"
    """签章者: applies seals to documents (SES_Signature)."""
    TRUST_LIST_SIGNING = TRUSTSVC_ARC + ".1.3"
    SERVICE_CODE_SIGNING = TRUSTSVC_ARC + ".1.4"
    STATUS_LIST_SIGNING = TRUSTSVC_ARC + ".1.5"


# (asn1crypto class, dotted OID, name). Order matters only for readability.
_OID_NAMES: tuple[tuple[type[core.ObjectIdentifier], str, str], ...] = (
    (algos.SignedDigestAlgorithmId, SMOID.SM2_WITH_SM3, "sm2_sm3"),
    (algos.SignedDigestAlgorithmId, SMOID.SM2_SIGN, "sm2_sign"),
    (algos.SignedDigestAlgorithmId, SMOID.SM2, "sm2"),
    (algos.DigestAlgorithmId, SMOID.SM3, "sm3"),
    (keys.PublicKeyAlgorithmId, SMOID.SM2, "sm2"),
    (cms.ContentType, SMOID.GM_DATA, "gm_data"),
    (cms.ContentType, SMOID.GM_SIGNED_DATA, "gm_signed_data"),
    (cms.ContentType, SMOID.GM_ENVELOPED_DATA, "gm_enveloped_data"),
    (cms.ContentType, SMOID.GM_SIGNED_AND_ENVELOPED_DATA, "gm_signed_and_enveloped_data"),
    (cms.ContentType, SMOID.GM_ENCRYPTED_DATA, "gm_encrypted_data"),
    (cms.ContentType, SMOID.GM_KEY_AGREEMENT_INFO, "gm_key_agreement_info"),
    (x509.KeyPurposeId, PKIXOID.DOCUMENT_SIGNING, "document_signing"),
    (x509.KeyPurposeId, TrustSvcEKU.SEAL_MAKER, "seal_maker"),
    (x509.KeyPurposeId, TrustSvcEKU.ESEAL_SIGNER, "eseal_signer"),
    (x509.KeyPurposeId, TrustSvcEKU.TRUST_LIST_SIGNING, "trust_list_signing"),
    (x509.KeyPurposeId, TrustSvcEKU.SERVICE_CODE_SIGNING, "service_code_signing"),
    (x509.KeyPurposeId, TrustSvcEKU.STATUS_LIST_SIGNING, "status_list_signing"),
)

# (class owning ``_oid_specs``, name, spec). GM/T 0010 structures are PKCS#7 v1.5 shapes.
_SPECS: tuple[tuple[type[core.Asn1Value], str, Any], ...] = (
    (cms.ContentInfo, "gm_data", core.OctetString),
    (cms.ContentInfo, "gm_signed_data", cms.SignedData),
    (cms.ContentInfo, "gm_enveloped_data", cms.EnvelopedData),
    (cms.ContentInfo, "gm_signed_and_enveloped_data", cms.SignedAndEnvelopedData),
    (cms.ContentInfo, "gm_encrypted_data", cms.EncryptedData),
    (cms.EncapsulatedContentInfo, "gm_signed_data", cms.SignedData),
    (cms.EncapsulatedContentInfo, "gm_enveloped_data", cms.EnvelopedData),
    (cms.EncapsulatedContentInfo, "gm_signed_and_enveloped_data", cms.SignedAndEnvelopedData),
    (cms.EncapsulatedContentInfo, "gm_encrypted_data", cms.EncryptedData),
    (keys.PublicKeyAlgorithm, "sm2", keys.ECDomainParameters),
)

_lock = threading.Lock()
_done = False


def register_oid(cls: type[core.ObjectIdentifier], dotted: str, name: str) -> None:
    """Name ``dotted`` as ``name`` in ``cls``, updating ``_map`` and ``_reverse_map`` together.

    Idempotent. :raises RuntimeError: the OID or the name is already taken by something else
    (two modules disagreeing about an OID is a bug to surface, not to paper over).
    """
    if "_map" not in cls.__dict__:
        raise RuntimeError(f"{cls.__name__} has no OID map of its own")
    current = cls._map.get(dotted)
    if current is not None and current != name:
        raise RuntimeError(f"{cls.__name__}: {dotted} is already named {current!r}, not {name!r}")
    if current is None and name in cls._map.values():
        raise RuntimeError(f"{cls.__name__}: name {name!r} already names another OID")
    reverse = cls.__dict__.get("_reverse_map")
    if reverse is not None and reverse.get(name, dotted) != dotted:
        raise RuntimeError(f"{cls.__name__}: name {name!r} already means {reverse[name]}")
    cls._map[dotted] = name
    if reverse is not None:
        reverse[name] = dotted


def register_spec(owner: type[core.Asn1Value], name: str, spec: Any) -> None:
    """Set ``owner._oid_specs[name] = spec`` (the type of the field paired with the OID).

    Idempotent. :raises RuntimeError: ``name`` already maps to a different spec.
    """
    specs = owner.__dict__.get("_oid_specs")
    if specs is None:
        raise RuntimeError(f"{owner.__name__} has no _oid_specs of its own")
    current = specs.get(name)
    if current is not None and current is not spec:
        raise RuntimeError(f"{owner.__name__}: {name!r} already parses as {current!r}")
    specs[name] = spec


def _register_sm2_public_key() -> None:
    """Let SPKIs whose algorithm is the SM2 OID parse, with the key as an EC point.

    Patched at the method ``PublicKeyInfo._public_key_spec`` that every ``public_key`` spec
    callback ends in (asn1crypto's own, and the wrapper pyhanko-certvalidator installs on
    import over whatever callback was there), so the order of imports does not matter."""
    original = keys.PublicKeyInfo._public_key_spec
    if getattr(original, "_trustsvc_sm2", False):
        return

    def _public_key_spec(self: keys.PublicKeyInfo) -> Any:
        if self["algorithm"]["algorithm"].native == "sm2":
            return (keys.ECPointBitString, None)
        return original(self)

    _public_key_spec._trustsvc_sm2 = True  # type: ignore[attr-defined]
    keys.PublicKeyInfo._public_key_spec = _public_key_spec  # type: ignore[method-assign]
    callbacks = keys.PublicKeyInfo._spec_callbacks
    if callbacks.get("public_key") is original:  # asn1crypto's own: point it at the patched method
        keys.PublicKeyInfo._spec_callbacks = {**callbacks, "public_key": _public_key_spec}


def register_oids() -> None:
    """Register everything listed in the module docstring, once per process."""
    global _done
    with _lock:
        if _done:
            return
        for cls, dotted, name in _OID_NAMES:
            register_oid(cls, dotted, name)
        if keys.NamedCurve.map(SMOID.SM2) != "sm2p256v1":
            keys.NamedCurve.register("sm2p256v1", SMOID.SM2, 32)
        for owner, name, spec in _SPECS:
            register_spec(owner, name, spec)
        _register_sm2_public_key()
        _done = True


register_oids()
