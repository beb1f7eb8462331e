"""The PKCS#11 key store: keys generated on a token and used there, addressed as ``pkcs11:<label>``.

Why: the soft store protects keys with a PIN on disk, a token protects them by never letting
them out. Keys are made on the token with ``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE`` true
and ``CKA_EXTRACTABLE`` false (checked after generation: a token that ignores the template is
refused), and every signature is made inside the token. Works with any PKCS#11 module through
``python-pkcs11`` (``pip install 'trustsvc[pkcs11]'``); tested against SoftHSM2.

Algorithms:

* ECDSA P-256: ``CKM_EC_KEY_PAIR_GEN`` with the secp256r1 named curve; signatures with raw
  ``CKM_ECDSA`` over SHA-256(message), which every EC token has.
* SM2: only where the token has it, through the vendor's mechanism ids (``sm2_keygen_mechanism``
  for key generation with the sm2p256v1 curve OID as ``CKA_EC_PARAMS``, ``sm2_mechanism`` for a
  *raw* SM2 signature over the 32-byte ``e = SM3(Z || M)``; Z is computed here with the ID,
  as :class:`hsm.soft.SoftSigner` does). Without both ids SM2 keys are refused with
  ``unsupported_algorithm``.

Signatures come back as ``r || s`` and leave as DER. One session per store, used under a lock
(PKCS#11 sessions must not be used by two threads at once). The library is initialised once
per process and finalised when the last store closes, so a server that opens the store to
check the PIN, closes it and then forks gives each worker a cleanly initialised module.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from typing import Any

from asn1crypto import core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .algorithms import DEFAULT_SM2_ID, OID_SECP256R1, OID_SM2, KeyAlgorithm
from .encoding import signature_from_raw, sm2_spki
from .errors import (
    HSMError,
    InvalidSignature,
    KeyExistsError,
    KeyNotFoundError,
    PINMissingError,
    UnsupportedAlgorithmError,
    WrongPINError,
)
from .keys import load_public_key, sm2_z
from .keystore import LABEL_RE, KeyStore
from .signer import Signer

__all__ = ["Pkcs11KeyStore", "Pkcs11Signer", "vendor_mechanism"]

_CURVES = {OID_SECP256R1: KeyAlgorithm.ECDSA_P256, OID_SM2: KeyAlgorithm.SM2}
_PCT_MESSAGE = b"trustsvc pkcs11 pairwise consistency test"

_lib_lock = threading.Lock()
_lib_users: dict[str, int] = {}
_lib_pid: dict[str, int] = {}
_logins: dict[tuple[str, str], tuple[bytes, int]] = {}
"""(module, token) -> (SHA-256 of the PIN that logged in, open stores). A PKCS#11 login belongs
to the whole process, not to a session: a second store on the same token joins the login (and
must present the same PIN) instead of logging in again (CKR_USER_ALREADY_LOGGED_IN)."""


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise HSMError(
            "the pkcs11 key store needs python-pkcs11: pip install 'trustsvc[pkcs11]'", code="pkcs11_unavailable"
        ) from exc
    return pkcs11


def vendor_mechanism(value: int) -> Any:
    """A ``pkcs11.Mechanism`` for ``value``, also for vendor-defined ids (``CKM_VENDOR_DEFINED``
    and up) that python-pkcs11's enum does not list: it only accepts enum members, so an
    unlisted id becomes a pseudo-member carrying the number."""
    mechanism_cls = _pkcs11().Mechanism
    try:
        return mechanism_cls(value)
    except ValueError:
        member = int.__new__(mechanism_cls, value)
        member._name_ = f"VENDOR_{value:#x}"
        member._value_ = value
        return member


def _acquire_lib(module: str) -> Any:
    """The loaded, initialised module; re-initialised in a process forked from one that had it."""
    pkcs11 = _pkcs11()
    with _lib_lock:
        try:
            lib = pkcs11.lib(module)
        except (OSError, RuntimeError) as exc:
            raise HSMError(f"cannot load the PKCS#11 module {module}: {exc}", code="pkcs11_module") from exc
        if _lib_pid.get(module, os.getpid()) != os.getpid():
            lib.reinitialize()  # PKCS#11 §5.4: a child must call C_Initialize itself
            _lib_users[module] = 0
            for key in [k for k in _logins if k[0] == module]:
                del _logins[key]  # the parent's login does not carry over
        _lib_pid[module] = os.getpid()
        _lib_users[module] = _lib_users.get(module, 0) + 1
        return lib


def _release_lib(module: str, lib: Any) -> None:
    with _lib_lock:
        left = _lib_users.get(module, 1) - 1
        _lib_users[module] = left
        if left <= 0 and _lib_pid.get(module) == os.getpid() and lib.initialized:
            lib.finalize()
            _lib_pid.pop(module, None)


def _oid_of(ec_params: bytes) -> str:
    try:
        return str(core.ObjectIdentifier.load(bytes(ec_params), strict=True).dotted)
    except (ValueError, TypeError) as exc:
        raise HSMError("the token's CKA_EC_PARAMS is not a named curve", code="key_damaged") from exc


def _point_of(ec_point: bytes) -> bytes:
    """The uncompressed point from CKA_EC_POINT: DER OCTET STRING per the standard, though
    some tokens return the bare point."""
    raw = bytes(ec_point)
    if len(raw) == 65 and raw[0] == 0x04:
        return raw
    try:
        point = bytes(core.OctetString.load(raw, strict=True).native)
    except (ValueError, TypeError) as exc:
        raise HSMError("the token's CKA_EC_POINT is malformed", code="key_damaged") from exc
    if len(point) != 65 or point[0] != 0x04:
        raise HSMError("the token's public key is not an uncompressed 256-bit point", code="key_damaged")
    return point


def _spki(algorithm: KeyAlgorithm, point: bytes) -> bytes:
    if algorithm is KeyAlgorithm.SM2:
        return sm2_spki(point)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class Pkcs11Signer(Signer):
    """A key on the token; signing happens there. Thread-safe through the store's lock."""

    def __init__(
        self, store: Pkcs11KeyStore, key_ref: str, algorithm: KeyAlgorithm, spki: bytes, point: bytes, private_key: Any
    ) -> None:
        self._store = store
        self._key_ref = key_ref
        self._algorithm = algorithm
        self._spki = spki
        self._point = point
        self._key = private_key

    @property
    def key_ref(self) -> str:
        return self._key_ref

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    @property
    def public_key(self) -> bytes:
        return self._spki

    def sign(self, message: bytes, *, sm2_id: bytes = DEFAULT_SM2_ID) -> bytes:
        if self._algorithm is KeyAlgorithm.SM2:
            return self.sign_digest(hashlib.new("sm3", sm2_z(self._point, bytes(sm2_id)) + bytes(message)).digest())
        return self.sign_digest(hashlib.sha256(bytes(message)).digest())

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise HSMError("a message hash is 32 bytes")
        if self._algorithm is KeyAlgorithm.SM2:
            mechanism = self._store._sm2_sign_mechanism()
        else:
            mechanism = self._store._ecdsa_mechanism()
        raw = self._store._sign_raw(self._key, bytes(digest), mechanism, self._key_ref)
        try:
            return signature_from_raw(raw)
        except InvalidSignature as exc:
            raise HSMError(
                f"the token returned a malformed signature for {self._key_ref}", code="pkcs11_error"
            ) from exc


class Pkcs11KeyStore(KeyStore):
    """Keys on the PKCS#11 token labelled ``token_label`` in ``module``, logged in with ``pin``.

    :param sm2_mechanism: vendor mechanism id of a raw SM2 signature over ``e``; None: no SM2.
    :param sm2_keygen_mechanism: vendor mechanism id of SM2 key-pair generation; None: no SM2.
    :raises WrongPINError: the token refuses the PIN.
    :raises PINMissingError: ``pin`` is empty.
    :raises HSMError: ``pkcs11_module`` (module cannot be loaded), ``token_not_found``,
        ``pin_locked``, ``pkcs11_unavailable`` (python-pkcs11 is not installed).
    """

    scheme = "pkcs11"

    def __init__(
        self,
        module: str | os.PathLike[str],
        token_label: str,
        pin: str | bytes,
        *,
        sm2_mechanism: int | None = None,
        sm2_keygen_mechanism: int | None = None,
    ) -> None:
        if not pin:
            raise PINMissingError("the PKCS#11 token needs its user PIN (TRUSTSVC_HSM_PIN or TRUSTSVC_HSM_PIN_FILE)")
        if not token_label:
            raise HSMError("the pkcs11 key store needs [hsm] token_label", code="token_not_found")
        pkcs11 = _pkcs11()
        self.module = str(module)
        self.token_label = token_label
        self._sm2_sign = sm2_mechanism
        self._sm2_keygen = sm2_keygen_mechanism
        self._lock = threading.RLock()
        self._signers: dict[str, Pkcs11Signer] = {}
        self._session: Any = None
        self._lib = _acquire_lib(self.module)
        try:
            try:
                token = self._lib.get_token(token_label=token_label)
            except pkcs11.exceptions.NoSuchToken as exc:
                raise HSMError(
                    f"no PKCS#11 token labelled {token_label!r} in {self.module}", code="token_not_found"
                ) from exc
            except pkcs11.exceptions.MultipleTokensReturned as exc:
                raise HSMError(
                    f"more than one PKCS#11 token is labelled {token_label!r}", code="token_not_found"
                ) from exc
            user_pin = pin if isinstance(pin, str) else bytes(pin).decode("utf-8")
            try:
                self._session = self._login(token, user_pin)
            except pkcs11.exceptions.PinIncorrect as exc:
                raise WrongPINError(f"the PIN does not open PKCS#11 token {token_label!r}") from exc
            except (pkcs11.exceptions.PinLocked, pkcs11.exceptions.PinExpired) as exc:
                raise HSMError(
                    f"the user PIN of PKCS#11 token {token_label!r} is locked or expired", code="pin_locked"
                ) from exc
            except (pkcs11.exceptions.PinInvalid, pkcs11.exceptions.PinLenRange) as exc:
                raise WrongPINError(f"the PIN does not open PKCS#11 token {token_label!r}") from exc
            except pkcs11.exceptions.PKCS11Error as exc:
                raise HSMError(
                    f"cannot open a session on PKCS#11 token {token_label!r}: {type(exc).__name__}", code="pkcs11_error"
                ) from exc
        except BaseException:
            _release_lib(self.module, self._lib)
            raise

    def _login(self, token: Any, user_pin: str) -> Any:
        key = (self.module, self.token_label)
        digest = hashlib.sha256(user_pin.encode("utf-8")).digest()
        with _lib_lock:
            held = _logins.get(key)
            if held is not None:
                if not hmac.compare_digest(held[0], digest):
                    raise WrongPINError(f"the PIN does not open PKCS#11 token {self.token_label!r}")
                session = token.open(rw=True)  # joins this process's login
            else:
                session = token.open(rw=True, user_pin=user_pin)
            _logins[key] = (digest, (held[1] if held else 0) + 1)
        return session

    def _logout(self) -> None:
        key = (self.module, self.token_label)
        with _lib_lock:
            held = _logins.get(key)
            if held is not None:
                if held[1] <= 1:
                    del _logins[key]
                else:
                    _logins[key] = (held[0], held[1] - 1)

    # -- mechanisms ---------------------------------------------------------------------------
    def _ecdsa_mechanism(self) -> Any:
        return _pkcs11().Mechanism.ECDSA

    def _sm2_sign_mechanism(self) -> Any:
        if self._sm2_sign is None:
            raise UnsupportedAlgorithmError(self._no_sm2())
        return vendor_mechanism(self._sm2_sign)

    def _no_sm2(self) -> str:
        return (
            f"PKCS#11 token {self.token_label!r} has no SM2 configured: set [hsm] sm2_mechanism and "
            'sm2_keygen_mechanism to the vendor\'s mechanism ids, or [hsm] key_algorithm = "ecdsa-p256"'
        )

    # -- token access -------------------------------------------------------------------------
    def _open_session(self) -> Any:
        if self._session is None:
            raise HSMError("the PKCS#11 key store is closed", code="keystore_closed")
        return self._session

    def _sign_raw(self, key: Any, digest: bytes, mechanism: Any, key_ref: str) -> bytes:
        pkcs11 = _pkcs11()
        with self._lock:
            self._open_session()
            try:
                return bytes(key.sign(digest, mechanism=mechanism))
            except pkcs11.exceptions.MechanismInvalid as exc:
                raise UnsupportedAlgorithmError(
                    f"PKCS#11 token {self.token_label!r} does not support mechanism {int(mechanism):#x}"
                ) from exc
            except pkcs11.exceptions.PKCS11Error as exc:
                raise HSMError(
                    f"the token failed to sign with {key_ref}: {type(exc).__name__}", code="pkcs11_error"
                ) from exc

    def _find(self, label: str, object_class: Any) -> list[Any]:
        pkcs11 = _pkcs11()
        session = self._open_session()
        return list(session.get_objects({pkcs11.Attribute.LABEL: label, pkcs11.Attribute.CLASS: object_class}))

    # -- KeyStore -----------------------------------------------------------------------------
    def create_key(self, label: str, algorithm: KeyAlgorithm = KeyAlgorithm.SM2) -> str:
        pkcs11 = _pkcs11()
        from pkcs11.util.ec import encode_named_curve_parameters

        key_ref = self.key_ref(label)
        if algorithm is KeyAlgorithm.SM2:
            if self._sm2_keygen is None or self._sm2_sign is None:
                raise UnsupportedAlgorithmError(self._no_sm2())
            curve = core.ObjectIdentifier(OID_SM2).dump()
            mechanism = vendor_mechanism(self._sm2_keygen)
        elif algorithm is KeyAlgorithm.ECDSA_P256:
            curve = encode_named_curve_parameters("secp256r1")
            mechanism = pkcs11.Mechanism.EC_KEY_PAIR_GEN
        else:  # pragma: no cover - the enum has two members
            raise UnsupportedAlgorithmError(f"unsupported key algorithm {algorithm!r}")
        attr = pkcs11.Attribute
        with self._lock:
            session = self._open_session()
            if self._find(label, pkcs11.ObjectClass.PRIVATE_KEY):
                raise KeyExistsError(f"key {key_ref} exists already")
            try:
                params = session.create_domain_parameters(pkcs11.KeyType.EC, {attr.EC_PARAMS: curve}, local=True)
                public, private = params.generate_keypair(
                    id=label.encode(),
                    label=label,
                    store=True,
                    mechanism=mechanism,
                    public_template={attr.TOKEN: True, attr.VERIFY: True, attr.PRIVATE: False},
                    private_template={
                        attr.TOKEN: True,
                        attr.PRIVATE: True,
                        attr.SENSITIVE: True,
                        attr.EXTRACTABLE: False,
                        attr.SIGN: True,
                        attr.DERIVE: False,
                    },
                )
            except pkcs11.exceptions.MechanismInvalid as exc:
                raise UnsupportedAlgorithmError(
                    f"PKCS#11 token {self.token_label!r} does not support key generation mechanism "
                    f"{int(mechanism):#x} for {algorithm.value}"
                ) from exc
            except pkcs11.exceptions.PKCS11Error as exc:
                raise HSMError(
                    f"the token refused to generate {algorithm.value} key {key_ref}: {type(exc).__name__}",
                    code="pkcs11_error",
                ) from exc
            try:
                self._check_custody(private, key_ref)
                signer = self._signer_from(key_ref, algorithm, public, private)
                # Pairwise consistency: the new key must sign what its public key verifies.
                load_public_key(signer.public_key).verify(_PCT_MESSAGE, signer.sign(_PCT_MESSAGE))
            except (HSMError, InvalidSignature) as exc:
                for obj in (private, public):
                    obj.destroy()
                if isinstance(exc, HSMError):
                    raise
                raise HSMError(
                    f"the token's new key {key_ref} fails its consistency test", code="pkcs11_error"
                ) from exc
            self._signers[key_ref] = signer
        return key_ref

    def _check_custody(self, private: Any, key_ref: str) -> None:
        """Refuse a token that ignored the template: a key it would hand out is no HSM key."""
        attr = _pkcs11().Attribute
        if not private[attr.SENSITIVE] or private[attr.EXTRACTABLE] or not private[attr.TOKEN]:
            raise HSMError(f"the token made {key_ref} extractable or not sensitive; refusing it", code="pkcs11_custody")

    def _signer_from(self, key_ref: str, algorithm: KeyAlgorithm | None, public: Any, private: Any) -> Pkcs11Signer:
        attr = _pkcs11().Attribute
        curve_oid = _oid_of(public[attr.EC_PARAMS])
        actual = _CURVES.get(curve_oid)
        if actual is None:
            raise UnsupportedAlgorithmError(f"key {key_ref} is on curve {curve_oid}, neither P-256 nor SM2")
        if algorithm is not None and actual is not algorithm:
            raise HSMError(f"key {key_ref} is {actual.value}, expected {algorithm.value}", code="key_damaged")
        point = _point_of(public[attr.EC_POINT])
        return Pkcs11Signer(self, key_ref, actual, _spki(actual, point), point, private)

    def signer(self, key_ref: str) -> Signer:
        cached = self._signers.get(key_ref)
        if cached is not None:
            return cached
        label = self.label_of(key_ref)
        pkcs11 = _pkcs11()
        with self._lock:
            cached = self._signers.get(key_ref)
            if cached is not None:
                return cached
            privates = self._find(label, pkcs11.ObjectClass.PRIVATE_KEY)
            publics = self._find(label, pkcs11.ObjectClass.PUBLIC_KEY)
            if not privates:
                raise KeyNotFoundError(f"no key {key_ref} on PKCS#11 token {self.token_label!r}")
            if len(privates) > 1 or len(publics) != 1:
                raise HSMError(
                    f"token {self.token_label!r} holds {len(privates)} private and {len(publics)} "
                    f"public keys labelled {label!r}; expected one of each",
                    code="key_damaged",
                )
            signer = self._signer_from(key_ref, None, publics[0], privates[0])
            self._signers[key_ref] = signer
            return signer

    def has_key(self, key_ref: str) -> bool:
        label = self.label_of(key_ref)
        with self._lock:
            return bool(self._find(label, _pkcs11().ObjectClass.PRIVATE_KEY))

    def list_keys(self) -> list[str]:
        pkcs11 = _pkcs11()
        with self._lock:
            session = self._open_session()
            labels = {
                obj[pkcs11.Attribute.LABEL]
                for obj in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY})
            }
        return sorted(f"{self.scheme}:{label}" for label in labels if isinstance(label, str) and LABEL_RE.match(label))

    def close(self) -> None:
        with self._lock:
            self._signers.clear()
            session, self._session = self._session, None
            if session is None:
                return
            try:
                session.close()  # the last session closed logs the process out (PKCS#11 §5.6)
            except _pkcs11().exceptions.PKCS11Error:
                pass  # the token went away; nothing left to release
            self._logout()
            _release_lib(self.module, self._lib)
