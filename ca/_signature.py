"""Checking a signed X.509 structure (certificate, CRL, CSR) against a public key.

Only two algorithms are accepted, each with its key type: SM2-with-SM3 (parameters absent or
NULL: GM/T 0015 says absent, several CAs write NULL) over an SM2 key, and ecdsa-with-SHA256
(parameters absent, RFC 5758) over a P-256 key. The algorithm inside the signed part must be the
same AlgorithmIdentifier as the outer one, byte for byte, or a signature could be re-labelled.

SM2 IDs: GM/T 0015 requires the GM/T 0009 default ID ``1234567812345678``, which is tried first.
OpenSSL 3 signs with an *empty* ID unless told ``-sigopt distid:...`` (``openssl req -x509``,
``openssl x509 -req``, ``openssl ca``), so a signature that fails with the default ID is tried
once more with the empty one; success then returns the warning :data:`SM2_ID_EMPTY` for the
caller to report. The ID is hashed into Z, so either way the signer's key signed exactly this
TBS: accepting the empty ID weakens nothing, it only names a non-conformance.
"""

from __future__ import annotations

import functools

import hsm
from hsm import InvalidSignature, KeyAlgorithm

from .errors import SignatureAlgorithmError
from .oids import PKIXOID, SMOID

__all__ = ["check_signature_algorithm", "verify_signed", "same_public_key", "SM2_ID_EMPTY"]

SM2_ID_EMPTY = "sm2_id_empty"
"""Warning: the SM2 signature verifies only with the empty ID (OpenSSL 3's default), not 1234567812345678."""
_SM2_IDS = ((hsm.DEFAULT_SM2_ID, None), (b"", SM2_ID_EMPTY))

_NULL_DER = b"\x05\x00"
_SM2_ALGORITHMS = {
    # outer OID -> (key algorithm it needs, allowed parameter encodings)
    SMOID.SM2_WITH_SM3: (KeyAlgorithm.SM2, (b"", _NULL_DER)),
    PKIXOID.ECDSA_WITH_SHA256: (KeyAlgorithm.ECDSA_P256, (b"",)),
}


def check_signature_algorithm(
    oid: str, parameters_der: bytes, inner_der: bytes | None, outer_der: bytes
) -> KeyAlgorithm:
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
def _verify_cached(spki: bytes, key_algorithm: KeyAlgorithm, tbs: bytes, signature: bytes) -> str:
    """``ok:`` plus a warning code (or nothing) when valid, else ``key:``/``sig:`` and the
    reason. Cached: path building re-checks the same links."""
    try:
        key = hsm.load_public_key(spki)
    except hsm.HSMError:
        return "key:the issuer public key is neither SM2 nor ECDSA P-256"
    if key.algorithm is not key_algorithm:
        return f"key:the issuer key is {key.algorithm.value}, the signature algorithm needs {key_algorithm.value}"
    ids = _SM2_IDS if key_algorithm is KeyAlgorithm.SM2 else _SM2_IDS[:1]  # ECDSA ignores the ID
    for sm2_id, warning in ids:
        try:
            key.verify(tbs, signature, sm2_id=sm2_id)
        except InvalidSignature:
            continue
        except hsm.HSMError as exc:
            if warning is None:  # the standard check itself failed to run
                return f"sig:signature cannot be checked: {exc.message}"
            continue  # a provider unable to try the fallback: the standard verdict stands
        return f"ok:{warning or ''}"
    if key_algorithm is KeyAlgorithm.SM2:
        return (
            "sig:signature does not verify under the issuer key (neither with SM2 ID 1234567812345678 nor the empty ID)"
        )
    return "sig:signature does not verify under the issuer key"


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
) -> str | None:
    """Verify ``signature`` over ``tbs`` under ``spki``.

    :returns: ``None``, or :data:`SM2_ID_EMPTY` when the SM2 signature verifies only with the
        empty ID (valid, but worth a warning in the caller's result).
    :raises SignatureAlgorithmError: the algorithm is refused or does not fit the key.
    :raises InvalidSignature: the signature does not verify.
    """
    key_algorithm = check_signature_algorithm(oid, parameters_der, inner_der, outer_der)
    reason = _verify_cached(bytes(spki), key_algorithm, bytes(tbs), bytes(signature))
    kind, _, text = reason.partition(":")
    if kind == "ok":
        return text or None
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
