"""Checking a signed X.509 structure (certificate, CRL, CSR) against a public key.

Only two algorithms are accepted, each with its key type: SM2-with-SM3 (parameters absent or
NULL: GM/T 0015 says absent, several CAs write NULL) over an SM2 key, and ecdsa-with-SHA256
(parameters absent, RFC 5758) over a P-256 key. The algorithm inside the signed part must be the
same AlgorithmIdentifier as the outer one, byte for byte, or a signature could be re-labelled.
SM2 always uses the GM/T 0009 default ID, as GM/T 0015 requires for certificates.
"""

from __future__ import annotations

import functools

import hsm
from hsm import InvalidSignature, KeyAlgorithm

from .errors import SignatureAlgorithmError
from .oids import PKIXOID, SMOID

__all__ = ["check_signature_algorithm", "verify_signed", "same_public_key"]

_NULL_DER = b"\x05\x00"
_SM2_ALGORITHMS = {
    # outer OID -> (key algorithm it needs, allowed parameter encodings)
    SMOID.SM2_WITH_SM3: (KeyAlgorithm.SM2, (b"", _NULL_DER)),
    PKIXOID.ECDSA_WITH_SHA256: (KeyAlgorithm.ECDSA_P256, (b"",)),
}


def check_signature_algorithm(oid: str, parameters_der: bytes, inner_der: bytes | None, outer_der: bytes) -> KeyAlgorithm:
    """Return the key algorithm ``oid`` needs, or raise :class:`SignatureAlgorithmError`.

    :param parameters_der: DER of the parameters field (``b""`` when absent).
    :param inner_der: DER of the AlgorithmIdentifier inside the signed part (``None``: none there).
    """
    spec = _SM2_ALGORITHMS.get(oid)
    if spec is None:
        raise SignatureAlgorithmError(
            f"signature algorithm {oid} is not accepted (only SM2-with-SM3 and ecdsa-with-SHA256)"
        )
    key_algorithm, allowed = spec
    if parameters_der not in allowed:
        raise SignatureAlgorithmError(f"signature algorithm {oid} has unexpected parameters")
    if inner_der is not None and inner_der != outer_der:
        raise SignatureAlgorithmError("the signed part names a different signature algorithm than the outer one")
    return key_algorithm


@functools.lru_cache(maxsize=8192)
def _verify_cached(spki: bytes, key_algorithm: KeyAlgorithm, tbs: bytes, signature: bytes) -> str | None:
    """``None`` when valid, else the reason. Cached: path building re-checks the same links."""
    try:
        key = hsm.load_public_key(spki)
    except hsm.HSMError:
        return "key:the issuer public key is neither SM2 nor ECDSA P-256"
    if key.algorithm is not key_algorithm:
        return f"key:the issuer key is {key.algorithm.value}, the signature algorithm needs {key_algorithm.value}"
    try:
        key.verify(tbs, signature)
    except InvalidSignature:
        return "sig:signature does not verify under the issuer key"
    except hsm.HSMError as exc:
        return f"sig:signature cannot be checked: {exc.message}"
    return None


def verify_signed(
    *,
    what: str,
    tbs: bytes,
    signature: bytes,
    oid: str,
    parameters_der: bytes,
    outer_der: bytes,
    inner_der: bytes | None,
    spki: bytes,
) -> None:
    """Verify ``signature`` over ``tbs`` under ``spki``.

    :raises SignatureAlgorithmError: the algorithm is refused or does not fit the key.
    :raises InvalidSignature: the signature does not verify.
    """
    key_algorithm = check_signature_algorithm(oid, parameters_der, inner_der, outer_der)
    reason = _verify_cached(bytes(spki), key_algorithm, bytes(tbs), bytes(signature))
    if reason is None:
        return
    kind, _, text = reason.partition(":")
    if kind == "key":
        raise SignatureAlgorithmError(f"{what}: {text}")
    raise InvalidSignature(f"{what}: {text}")


def same_public_key(spki_a: bytes, spki_b: bytes) -> bool:
    """True when two SPKIs hold the same key, whichever SM2 SPKI form each uses."""
    if spki_a == spki_b:
        return True
    try:
        a, b = hsm.load_public_key(bytes(spki_a)), hsm.load_public_key(bytes(spki_b))
        return a.algorithm is b.algorithm and a.point == b.point
    except hsm.HSMError:
        return False
