"""Optional second SM2 provider over the pinned ``tongsuopy==1.0.1`` (BabaSSL 8.3.2).

Why keep a second provider: it is an independent SM2 implementation (the Tongsuo/BabaSSL fork
of OpenSSL 1.1.1), useful where the distribution's libcrypto has SM2 compiled out, and a
cross-check for the default provider in tests. Select it with ``get_provider("tongsuo")``.

tongsuopy's public API signs ``ECDSA(SM3())`` with the fixed default ID ``1234567812345678``
and has no way to set another. Its ``Prehashed`` class exists but ``ECDSA(Prehashed(...))``
fails inside the library (``'Prehashed' object has no attribute 'name'``), so for any other ID,
and for :meth:`TongsuoSM2Key.sign_digest` / :meth:`~TongsuoSM2Key.verify_digest`, we compute
``e = SM3(Z || M)`` ourselves and call ``EVP_PKEY_sign`` / ``EVP_PKEY_verify`` through
tongsuopy's cffi binding: on an SM2 key those sign and verify ``e`` as given (BabaSSL's
``pkey_sm2_sign`` -> ``sm2_sign(dgst)``), with the same strict DER check on verify. The binding
is a private attribute of tongsuopy, which is why the version is pinned exactly.
"""

from __future__ import annotations

import threading
from typing import Any

from .algorithms import DEFAULT_SM2_ID, KeyAlgorithm, sm2_e
from .encoding import parse_spki
from .errors import HSMError, InvalidSignature, ProviderUnavailableError
from .provider import SM2KeyHandle, SM2Provider, register_provider

__all__ = ["TongsuoSM2Key", "TongsuoProvider", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'trustsvc[tongsuo]'"
_PINNED = "1.0.1"
_MAX_SIG = 80

_mods: dict[str, Any] = {}
_mods_lock = threading.Lock()


def _tongsuopy() -> dict[str, Any]:
    """Import tongsuopy once; a clear ProviderUnavailableError when it is absent or unusable."""
    if _mods:
        return _mods
    with _mods_lock:
        if _mods:
            return _mods
        try:
            import tongsuopy
            from tongsuopy.backends.tongsuo import backend
            from tongsuopy.crypto import exceptions, hashes, serialization
            from tongsuopy.crypto.asymciphers import ec
        except ImportError as exc:
            raise ProviderUnavailableError(
                f"the tongsuo SM2 provider needs tongsuopy=={_PINNED}: {INSTALL_HINT}"
            ) from exc
        version = getattr(tongsuopy, "__version__", "unknown")
        if version != _PINNED:
            raise ProviderUnavailableError(
                f"tongsuopy {version} is installed but trustsvc is tested with {_PINNED} only: {INSTALL_HINT}"
            )
        lib = backend._lib
        for fn in (
            "EVP_PKEY_CTX_new",
            "EVP_PKEY_sign_init",
            "EVP_PKEY_sign",
            "EVP_PKEY_verify_init",
            "EVP_PKEY_verify",
        ):
            if not hasattr(lib, fn):
                raise ProviderUnavailableError(f"tongsuopy's binding lacks {fn}")
        _mods.update(
            tongsuopy=tongsuopy,
            backend=backend,
            ec=ec,
            hashes=hashes,
            serialization=serialization,
            exceptions=exceptions,
        )
    return _mods


class TongsuoSM2Key:
    """An SM2 key held by tongsuopy; same methods as :class:`hsm.openssl.OpenSSLSM2Key`."""

    __slots__ = ("__weakref__", "_key", "_point", "_pub", "has_private")

    def __init__(self, key: Any, *, has_private: bool) -> None:
        m = _tongsuopy()
        self._key = key
        self.has_private = has_private
        self._pub = key.public_key() if has_private else key
        if not isinstance(self._pub.curve, m["ec"].SM2):
            raise HSMError("not an SM2 key")
        self._point = self._pub.public_bytes(
            m["serialization"].Encoding.X962, m["serialization"].PublicFormat.UncompressedPoint
        )

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def generate(cls) -> TongsuoSM2Key:
        m = _tongsuopy()
        return cls(m["ec"].generate_private_key(m["ec"].SM2()), has_private=True)

    @classmethod
    def from_pkcs8(cls, der: bytes) -> TongsuoSM2Key:
        m = _tongsuopy()
        try:
            key = m["serialization"].load_der_private_key(bytes(der), password=None)
            return cls(key, has_private=True)
        except HSMError:
            raise
        except Exception as exc:  # tongsuopy raises ValueError, UnsupportedAlgorithm, InternalError
            _clear_errors()
            raise HSMError("not a valid SM2 private key (PKCS#8 DER)") from exc

    @classmethod
    def from_spki(cls, der: bytes) -> TongsuoSM2Key:
        m = _tongsuopy()
        parsed = parse_spki(der)  # strict DER, either SM2 SPKI form
        if parsed.algorithm is not KeyAlgorithm.SM2:
            raise HSMError("not an SM2 public key")
        try:
            key = m["serialization"].load_der_public_key(parsed.canonical)
            return cls(key, has_private=False)
        except HSMError:
            raise
        except Exception as exc:
            _clear_errors()
            raise HSMError("not a valid SM2 public key (SubjectPublicKeyInfo DER)") from exc

    # -- encodings --------------------------------------------------------------------------
    def spki(self) -> bytes:
        """SubjectPublicKeyInfo DER (id-ecPublicKey with the SM2 curve)."""
        s = _tongsuopy()["serialization"]
        return self._pub.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)

    def pkcs8(self) -> bytes:
        """Unencrypted PKCS#8 DER. Callers seal it at once; it never leaves ``hsm/``."""
        if not self.has_private:
            raise HSMError("public key has no private part")
        s = _tongsuopy()["serialization"]
        return self._key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())

    # -- operations -------------------------------------------------------------------------
    def sign(self, message: bytes, sm2_id: bytes) -> bytes:
        """SM2 signature (DER) over ``message`` with Z computed from ``sm2_id``."""
        if not self.has_private:
            raise HSMError("cannot sign with a public key")
        if bytes(sm2_id) != DEFAULT_SM2_ID:
            return self.sign_digest(sm2_e(self._point, bytes(message), bytes(sm2_id)))
        m = _tongsuopy()
        try:
            return bytes(self._key.sign(bytes(message), m["ec"].ECDSA(m["hashes"].SM3())))
        except Exception as exc:
            _clear_errors()
            raise HSMError("SM2 signing failed (tongsuo)") from exc

    def verify(self, message: bytes, signature: bytes, sm2_id: bytes) -> None:
        """Raise :class:`InvalidSignature` unless ``signature`` (strict DER) is valid."""
        if bytes(sm2_id) != DEFAULT_SM2_ID:
            self.verify_digest(sm2_e(self._point, bytes(message), bytes(sm2_id)), signature)
            return
        m = _tongsuopy()
        try:
            self._pub.verify(bytes(signature), bytes(message), m["ec"].ECDSA(m["hashes"].SM3()))
        except Exception as exc:
            # tongsuopy raises its own InvalidSignature for a wrong signature and InternalError
            # for malformed DER: both mean "does not verify" to our callers.
            _clear_errors()
            raise InvalidSignature("SM2 signature does not verify") from exc

    def sign_digest(self, e: bytes) -> bytes:
        """Sign a precomputed ``e = SM3(Z || M)`` (32 bytes)."""
        if not self.has_private:
            raise HSMError("cannot sign with a public key")
        if len(e) != 32:
            raise HSMError("SM2 digest must be 32 bytes")
        backend = _tongsuopy()["backend"]
        lib, ffi = backend._lib, backend._ffi
        pctx = lib.EVP_PKEY_CTX_new(self._key._evp_pkey, ffi.NULL)
        if pctx == ffi.NULL:
            _clear_errors()
            raise HSMError("out of memory creating a tongsuo context")
        pctx = ffi.gc(pctx, lib.EVP_PKEY_CTX_free)
        out = ffi.new("unsigned char[]", _MAX_SIG)
        n = ffi.new("size_t *", _MAX_SIG)
        if lib.EVP_PKEY_sign_init(pctx) != 1 or lib.EVP_PKEY_sign(pctx, out, n, bytes(e), 32) != 1:
            _clear_errors()
            raise HSMError("SM2 signing failed (tongsuo)")
        return ffi.buffer(out, n[0])[:]

    def verify_digest(self, e: bytes, signature: bytes) -> None:
        """Verify over a precomputed ``e``; raises :class:`InvalidSignature`."""
        if len(e) != 32:
            raise InvalidSignature("SM2 digest must be 32 bytes")
        backend = _tongsuopy()["backend"]
        lib, ffi = backend._lib, backend._ffi
        pctx = lib.EVP_PKEY_CTX_new(self._pub._evp_pkey, ffi.NULL)
        if pctx == ffi.NULL:
            _clear_errors()
            raise HSMError("out of memory creating a tongsuo context")
        pctx = ffi.gc(pctx, lib.EVP_PKEY_CTX_free)
        sig = bytes(signature)
        rc = lib.EVP_PKEY_verify_init(pctx)
        if rc == 1:
            rc = lib.EVP_PKEY_verify(pctx, sig, len(sig), bytes(e), 32)
        if rc != 1:
            _clear_errors()
            raise InvalidSignature("SM2 signature does not verify")


def _clear_errors() -> None:
    """Drop tongsuo's thread-local error queue so a failure cannot leak into the next call."""
    if _mods:
        _mods["backend"]._consume_errors()


class TongsuoProvider(SM2Provider):
    """tongsuopy (BabaSSL 8.3.2, OpenSSL 1.1.1h API) as an SM2 provider."""

    name = "tongsuo"

    def __init__(self) -> None:
        self._m = _tongsuopy()

    def generate(self) -> SM2KeyHandle:
        return TongsuoSM2Key.generate()

    def load_private(self, pkcs8_der: bytes) -> SM2KeyHandle:
        return TongsuoSM2Key.from_pkcs8(pkcs8_der)

    def load_public(self, spki_der: bytes) -> SM2KeyHandle:
        return TongsuoSM2Key.from_spki(spki_der)

    @property
    def version(self) -> str:
        return f"tongsuopy {self._m['tongsuopy'].__version__} ({self._m['backend'].openssl_version_text()})"


register_provider("tongsuo", TongsuoProvider)
