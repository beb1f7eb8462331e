"""Thin ctypes binding to the system OpenSSL 3 libcrypto: SM2 keys, signatures and encodings.

Measured fastest of the providers available here (BENCHMARKS.md). The binding
owns every ``EVP_PKEY`` it creates and frees it with the Python object; contexts are created per
operation so one key can be used from many threads at once (ctypes drops the GIL in calls),
except the digest-verify context, which each thread keeps per key (see
:meth:`OpenSSLSM2Key.verify_digest`).

.. warning:: OpenSSL 3 uses the *empty* SM2 ID unless told otherwise. Every sign and verify here
   sets the ID explicitly; there is no code path that leaves it unset.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_ulong, c_void_p

from .errors import HSMError, InvalidSignature, ProviderUnavailableError

__all__ = ["LibCrypto", "OpenSSLSM2Key", "libcrypto"]

_MIN_VERSION = 0x30000000
_MAX_SIG = 80  # DER SM2 signature is at most 72 bytes


class LibCrypto:
    """The loaded libcrypto with the prototypes trustsvc uses declared once."""

    def __init__(self, path: str | None = None) -> None:
        name = path or ctypes.util.find_library("crypto") or "libcrypto.so.3"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise ProviderUnavailableError(f"cannot load libcrypto ({name}): {exc}") from exc
        self._lib = lib
        self._declare()
        self.version_number = int(lib.OpenSSL_version_num())
        self.version_text = (lib.OpenSSL_version(0) or b"").decode()
        if self.version_number < _MIN_VERSION:
            raise ProviderUnavailableError(
                f"libcrypto {self.version_text} is older than OpenSSL 3.0; SM2 needs 3.0 or newer"
            )
        self.sm3 = lib.EVP_sm3()
        if not self.sm3:
            raise ProviderUnavailableError("libcrypto was built without SM3")
        # bound once: the verify hot path calls it without a Python-level attribute lookup
        self.pkey_verify = lib.EVP_PKEY_verify

    def _declare(self) -> None:
        lib = self._lib
        protos: list[tuple[str, object, list[object]]] = [
            ("OpenSSL_version_num", c_ulong, []),
            ("OpenSSL_version", c_char_p, [c_int]),
            ("EVP_sm3", c_void_p, []),
            ("EVP_PKEY_CTX_new_from_name", c_void_p, [c_void_p, c_char_p, c_char_p]),
            ("EVP_PKEY_CTX_new", c_void_p, [c_void_p, c_void_p]),
            ("EVP_PKEY_CTX_free", None, [c_void_p]),
            ("EVP_PKEY_CTX_set1_id", c_int, [c_void_p, c_char_p, c_int]),
            ("EVP_PKEY_keygen_init", c_int, [c_void_p]),
            ("EVP_PKEY_generate", c_int, [c_void_p, POINTER(c_void_p)]),
            ("EVP_PKEY_free", None, [c_void_p]),
            ("EVP_PKEY_get0_type_name", c_char_p, [c_void_p]),
            ("EVP_PKEY_sign_init", c_int, [c_void_p]),
            ("EVP_PKEY_sign", c_int, [c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t]),
            ("EVP_PKEY_verify_init", c_int, [c_void_p]),
            ("EVP_PKEY_verify", c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]),
            ("EVP_PKEY_decrypt_init", c_int, [c_void_p]),
            ("EVP_PKEY_decrypt", c_int, [c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t]),
            ("EVP_MD_CTX_new", c_void_p, []),
            ("EVP_MD_CTX_free", None, [c_void_p]),
            ("EVP_MD_CTX_set_pkey_ctx", None, [c_void_p, c_void_p]),
            ("EVP_DigestSignInit", c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
            ("EVP_DigestSign", c_int, [c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t]),
            ("EVP_DigestVerifyInit", c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
            ("EVP_DigestVerify", c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]),
            ("d2i_AutoPrivateKey", c_void_p, [c_void_p, POINTER(c_void_p), c_long]),
            ("d2i_PUBKEY", c_void_p, [c_void_p, POINTER(c_void_p), c_long]),
            ("i2d_PUBKEY", c_int, [c_void_p, POINTER(c_void_p)]),
            ("EVP_PKEY2PKCS8", c_void_p, [c_void_p]),
            ("i2d_PKCS8_PRIV_KEY_INFO", c_int, [c_void_p, POINTER(c_void_p)]),
            ("PKCS8_PRIV_KEY_INFO_free", None, [c_void_p]),
            ("ERR_clear_error", None, []),
            ("ERR_get_error", c_ulong, []),
            ("ERR_error_string_n", None, [c_ulong, c_char_p, c_size_t]),
        ]
        for fname, restype, argtypes in protos:
            try:
                fn = getattr(lib, fname)
            except AttributeError as exc:
                raise ProviderUnavailableError(f"libcrypto lacks {fname}") from exc
            fn.restype = restype
            fn.argtypes = argtypes

    def __getattr__(self, item: str) -> object:
        return getattr(self._lib, item)

    def error_text(self) -> str:
        """Drain the thread's OpenSSL error queue into one line."""
        lib = self._lib
        parts = []
        while True:
            code = lib.ERR_get_error()
            if not code:
                break
            buf = ctypes.create_string_buffer(256)
            lib.ERR_error_string_n(code, buf, 256)
            parts.append(buf.value.decode(errors="replace"))
        return "; ".join(parts) or "unknown OpenSSL error"

    def i2d(self, fn: object, obj: int) -> bytes:
        """Run an OpenSSL ``i2d_*`` encoder into a Python-owned buffer."""
        n = fn(obj, None)  # type: ignore[operator]
        if n <= 0:
            raise HSMError(f"DER encoding failed: {self.error_text()}")
        buf = ctypes.create_string_buffer(n)
        ptr = c_void_p(ctypes.addressof(buf))
        if fn(obj, byref(ptr)) != n:  # type: ignore[operator]
            raise HSMError(f"DER encoding failed: {self.error_text()}")
        return buf.raw


_lib: LibCrypto | None = None
_lib_lock = threading.Lock()


def libcrypto() -> LibCrypto:
    """The process-wide libcrypto handle, loaded on first use."""
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                _lib = LibCrypto()
    return _lib


class _VerifyContext:
    """One thread's ``EVP_PKEY_CTX`` initialised for verifying with one key; freed with it (when
    the thread ends or the key goes). The context up-refs the key, so either may go first."""

    __slots__ = ("_lib", "ctx")

    def __init__(self, lib: LibCrypto, pkey: int) -> None:
        self._lib = lib
        self.ctx: int | None = lib.EVP_PKEY_CTX_new(pkey, None)  # type: ignore[operator]
        if not self.ctx:
            raise HSMError("out of memory creating an OpenSSL context")
        if lib.EVP_PKEY_verify_init(self.ctx) != 1:  # type: ignore[operator]
            lib.EVP_PKEY_CTX_free(self.ctx)  # type: ignore[operator]
            self.ctx = None
            raise HSMError(f"cannot set up SM2 verification: {lib.error_text()}")

    def __del__(self) -> None:
        ctx = getattr(self, "ctx", None)
        if ctx:
            self._lib.EVP_PKEY_CTX_free(ctx)  # type: ignore[operator]
            self.ctx = None


class OpenSSLSM2Key:
    """An SM2 key (private, or public only) held as an OpenSSL ``EVP_PKEY``."""

    __slots__ = ("__weakref__", "_lib", "_pkey", "_verifiers", "has_private")

    def __init__(self, pkey: int, *, has_private: bool, lib: LibCrypto) -> None:
        self._lib = lib
        self._pkey: int | None = pkey
        self.has_private = has_private
        self._verifiers = threading.local()
        name = lib.EVP_PKEY_get0_type_name(pkey)  # type: ignore[operator]
        if name != b"SM2":
            lib.EVP_PKEY_free(pkey)  # type: ignore[operator]
            self._pkey = None
            raise HSMError(f"not an SM2 key (OpenSSL key type {name!r})")

    def __del__(self) -> None:
        pkey = getattr(self, "_pkey", None)
        if pkey:
            self._lib.EVP_PKEY_free(pkey)  # type: ignore[operator]
            self._pkey = None

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def generate(cls) -> OpenSSLSM2Key:
        lib = libcrypto()
        ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)  # type: ignore[operator]
        if not ctx:
            raise ProviderUnavailableError(f"libcrypto has no SM2: {lib.error_text()}")
        try:
            pkey = c_void_p()
            if lib.EVP_PKEY_keygen_init(ctx) != 1 or lib.EVP_PKEY_generate(ctx, byref(pkey)) != 1:  # type: ignore[operator]
                raise HSMError(f"SM2 key generation failed: {lib.error_text()}")
        finally:
            lib.EVP_PKEY_CTX_free(ctx)  # type: ignore[operator]
        return cls(pkey.value, has_private=True, lib=lib)  # type: ignore[arg-type]

    @classmethod
    def _decode(cls, decoder: object, der: bytes, *, has_private: bool, what: str) -> OpenSSLSM2Key:
        """Run an OpenSSL ``d2i_*`` decoder that must consume exactly ``der``."""
        lib = libcrypto()
        buf = ctypes.create_string_buffer(der, len(der))
        ptr = c_void_p(ctypes.addressof(buf))
        pkey = decoder(None, byref(ptr), len(der))  # type: ignore[operator]
        if not pkey or ptr.value != ctypes.addressof(buf) + len(der):
            if pkey:
                lib.EVP_PKEY_free(pkey)  # type: ignore[operator]
            lib.ERR_clear_error()  # type: ignore[operator]
            raise HSMError(f"not a valid SM2 {what}")
        return cls(pkey, has_private=has_private, lib=lib)

    @classmethod
    def from_pkcs8(cls, der: bytes) -> OpenSSLSM2Key:
        return cls._decode(libcrypto().d2i_AutoPrivateKey, der, has_private=True, what="private key (PKCS#8 DER)")

    @classmethod
    def from_spki(cls, der: bytes) -> OpenSSLSM2Key:
        return cls._decode(libcrypto().d2i_PUBKEY, der, has_private=False, what="public key (SubjectPublicKeyInfo DER)")

    # -- encodings --------------------------------------------------------------------------
    def spki(self) -> bytes:
        """SubjectPublicKeyInfo DER (id-ecPublicKey with the SM2 curve)."""
        assert self._pkey is not None
        return self._lib.i2d(self._lib.i2d_PUBKEY, self._pkey)

    def pkcs8(self) -> bytes:
        """Unencrypted PKCS#8 DER. Callers seal it at once; it never leaves ``hsm/``."""
        if not self.has_private:
            raise HSMError("public key has no private part")
        lib = self._lib
        p8 = lib.EVP_PKEY2PKCS8(self._pkey)  # type: ignore[operator]
        if not p8:
            raise HSMError(f"PKCS#8 export failed: {lib.error_text()}")
        try:
            return lib.i2d(lib.i2d_PKCS8_PRIV_KEY_INFO, p8)
        finally:
            lib.PKCS8_PRIV_KEY_INFO_free(p8)  # type: ignore[operator]

    # -- operations -------------------------------------------------------------------------
    def _md_ctx(self, init: object, sm2_id: bytes) -> tuple[int, int]:
        lib = self._lib
        mctx = lib.EVP_MD_CTX_new()  # type: ignore[operator]
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, None)  # type: ignore[operator]
        if not mctx or not pctx:
            raise HSMError("out of memory creating an OpenSSL context")
        ok = lib.EVP_PKEY_CTX_set1_id(pctx, sm2_id, len(sm2_id)) == 1  # type: ignore[operator]
        if ok:
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)  # type: ignore[operator]
            ok = init(mctx, None, lib.sm3, None, self._pkey) == 1  # type: ignore[operator]
        if not ok:
            lib.EVP_MD_CTX_free(mctx)  # type: ignore[operator]
            lib.EVP_PKEY_CTX_free(pctx)  # type: ignore[operator]
            raise HSMError(f"cannot set up SM2 context: {lib.error_text()}")
        return mctx, pctx

    def sign(self, message: bytes, sm2_id: bytes) -> bytes:
        """SM2 signature (DER) over ``message`` with Z computed from ``sm2_id``."""
        if not self.has_private:
            raise HSMError("cannot sign with a public key")
        lib = self._lib
        message = bytes(message)
        mctx, pctx = self._md_ctx(lib.EVP_DigestSignInit, sm2_id)
        try:
            out = ctypes.create_string_buffer(_MAX_SIG)
            n = c_size_t(_MAX_SIG)
            if lib.EVP_DigestSign(mctx, out, byref(n), message, len(message)) != 1:  # type: ignore[operator]
                raise HSMError(f"SM2 signing failed: {lib.error_text()}")
            return out.raw[: n.value]
        finally:
            lib.EVP_MD_CTX_free(mctx)  # type: ignore[operator]
            lib.EVP_PKEY_CTX_free(pctx)  # type: ignore[operator]

    def verify(self, message: bytes, signature: bytes, sm2_id: bytes) -> None:
        """Raise :class:`InvalidSignature` unless ``signature`` (strict DER) is valid."""
        lib = self._lib
        signature, message = bytes(signature), bytes(message)
        mctx, pctx = self._md_ctx(lib.EVP_DigestVerifyInit, sm2_id)
        try:
            rc = lib.EVP_DigestVerify(mctx, signature, len(signature), message, len(message))  # type: ignore[operator]
        finally:
            lib.EVP_MD_CTX_free(mctx)  # type: ignore[operator]
            lib.EVP_PKEY_CTX_free(pctx)  # type: ignore[operator]
        if rc != 1:
            lib.ERR_clear_error()  # type: ignore[operator]
            raise InvalidSignature("SM2 signature does not verify")

    def sign_digest(self, e: bytes) -> bytes:
        """Sign a precomputed ``e = SM3(Z || M)`` (32 bytes); lets callers cache Z per key."""
        if not self.has_private:
            raise HSMError("cannot sign with a public key")
        if len(e) != 32:
            raise HSMError("SM2 digest must be 32 bytes")
        lib = self._lib
        e = bytes(e)
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, None)  # type: ignore[operator]
        try:
            out = ctypes.create_string_buffer(_MAX_SIG)
            n = c_size_t(_MAX_SIG)
            if lib.EVP_PKEY_sign_init(pctx) != 1 or lib.EVP_PKEY_sign(pctx, out, byref(n), e, 32) != 1:  # type: ignore[operator]
                raise HSMError(f"SM2 signing failed: {lib.error_text()}")
            return out.raw[: n.value]
        finally:
            lib.EVP_PKEY_CTX_free(pctx)  # type: ignore[operator]

    def verify_digest(self, e: bytes, signature: bytes) -> None:
        """Verify over a precomputed ``e``; raises :class:`InvalidSignature`.

        The verify hot path (service codes): the calling thread's context for this key is
        initialised once and reused, since an SM2 verification keeps no state in it; creating
        and initialising one per call cost a few µs of the ~250 µs check."""
        if len(e) != 32:
            raise InvalidSignature("SM2 digest must be 32 bytes")
        if type(e) is not bytes:
            e = bytes(e)
        if type(signature) is not bytes:
            signature = bytes(signature)
        held = getattr(self._verifiers, "context", None)
        if held is None:
            assert self._pkey is not None
            held = self._verifiers.context = _VerifyContext(self._lib, self._pkey)
        if self._lib.pkey_verify(held.ctx, signature, len(signature), e, 32) != 1:
            self._lib.ERR_clear_error()  # type: ignore[operator]
            raise InvalidSignature("SM2 signature does not verify")

    def decrypt(self, ciphertext_der: bytes) -> bytes:
        """SM2 decryption (GB/T 32918.4) of a GM/T 0009 DER ciphertext ``SEQUENCE {x, y, C3, C2}``.

        That C1C3C2 ASN.1 form is exactly what OpenSSL 3's SM2 decrypt takes (KDF and C3 with
        SM3). Used to open GM/T 0010 envelopes (the content-encryption key is SM2-encrypted to
        the recipient). Any failure - wrong key, corrupt ciphertext, C3 mismatch, malformed
        DER - is one :class:`HSMError`, so the caller learns nothing about where it failed.
        """
        if not self.has_private:
            raise HSMError("cannot decrypt with a public key")
        lib = self._lib
        data = bytes(ciphertext_der)
        if not data:
            raise HSMError("SM2 decryption failed: empty ciphertext")
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, None)  # type: ignore[operator]
        if not pctx:
            raise HSMError("out of memory creating an OpenSSL context")
        try:
            n = c_size_t(0)
            ok = lib.EVP_PKEY_decrypt_init(pctx) == 1  # type: ignore[operator]
            ok = ok and lib.EVP_PKEY_decrypt(pctx, None, byref(n), data, len(data)) == 1  # type: ignore[operator]
            if ok:
                out = ctypes.create_string_buffer(max(n.value, 1))
                ok = lib.EVP_PKEY_decrypt(pctx, out, byref(n), data, len(data)) == 1  # type: ignore[operator]
            if not ok:
                lib.ERR_clear_error()  # type: ignore[operator]
                raise HSMError("SM2 decryption failed (wrong key or corrupt ciphertext)", code="sm2_decrypt_failed")
            return out.raw[: n.value]
        finally:
            lib.EVP_PKEY_CTX_free(pctx)  # type: ignore[operator]
