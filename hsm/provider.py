"""SM2 providers: who does the curve arithmetic. Chosen once per process by name.

``openssl`` (default) is the project's own binding to the system libcrypto; ``tongsuo`` is the
optional pinned ``tongsuopy`` (extra ``tongsuo``). Both hand out key handles with the same
methods, so signers and verifiers never care which one is in use.
"""

from __future__ import annotations

import abc
import threading
from typing import Protocol

from .algorithms import KeyAlgorithm
from .encoding import parse_spki
from .errors import HSMError, ProviderUnavailableError

__all__ = [
    "SM2KeyHandle",
    "SM2Provider",
    "OpenSSLProvider",
    "default_provider_name",
    "get_provider",
    "register_provider",
    "set_default_provider",
    "unregister_provider",
]


class SM2KeyHandle(Protocol):
    """A provider's SM2 key. Private handles never leave ``hsm/``."""

    has_private: bool

    def spki(self) -> bytes: ...
    def pkcs8(self) -> bytes: ...
    def sign(self, message: bytes, sm2_id: bytes) -> bytes: ...
    def verify(self, message: bytes, signature: bytes, sm2_id: bytes) -> None: ...
    def sign_digest(self, e: bytes) -> bytes: ...
    def verify_digest(self, e: bytes, signature: bytes) -> None: ...


class SM2Provider(abc.ABC):
    """Factory of SM2 key handles."""

    name: str = ""

    @abc.abstractmethod
    def generate(self) -> SM2KeyHandle:
        """A fresh SM2 key pair from the provider's CSPRNG."""

    @abc.abstractmethod
    def load_private(self, pkcs8_der: bytes) -> SM2KeyHandle:
        """A private key from unencrypted PKCS#8 DER."""

    @abc.abstractmethod
    def load_public(self, spki_der: bytes) -> SM2KeyHandle:
        """A public key from SubjectPublicKeyInfo DER (either SM2 SPKI algorithm form)."""

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """Human-readable library version, shown by ``/healthz``."""


class OpenSSLProvider(SM2Provider):
    """The system OpenSSL >= 3.0 libcrypto through :mod:`hsm.openssl`."""

    name = "openssl"

    def __init__(self) -> None:
        from .openssl import OpenSSLSM2Key, libcrypto

        self._key = OpenSSLSM2Key
        self._lib = libcrypto()

    def generate(self) -> SM2KeyHandle:
        return self._key.generate()

    def load_private(self, pkcs8_der: bytes) -> SM2KeyHandle:
        return self._key.from_pkcs8(pkcs8_der)

    def load_public(self, spki_der: bytes) -> SM2KeyHandle:
        # OpenSSL 3.0 cannot load the algorithm=sm2p256v1 SPKI form: hand it the usual one.
        return self._key.from_spki(_canonical_sm2_spki(spki_der))

    @property
    def version(self) -> str:
        return self._lib.version_text


def _canonical_sm2_spki(spki_der: bytes) -> bytes:
    """``spki_der`` in the id-ecPublicKey + sm2p256v1 form; HSMError when it is not SM2."""
    try:
        parsed = parse_spki(spki_der)
    except HSMError as exc:
        raise HSMError(f"not a valid SM2 public key: {exc.message}") from exc
    if parsed.algorithm is not KeyAlgorithm.SM2:
        raise HSMError("not an SM2 public key")
    return parsed.canonical


_factories: dict[str, type[SM2Provider]] = {"openssl": OpenSSLProvider}
_instances: dict[str, SM2Provider] = {}
# Re-entrant: a provider's constructor may itself look providers up.
_lock = threading.RLock()
_default_name = "openssl"


def register_provider(name: str, factory: type[SM2Provider]) -> None:
    """Make a provider selectable by ``name`` (``TRUSTSVC_SM2_PROVIDER`` / ``[hsm] provider``).

    Re-registering a name drops the instance made by the previous factory.
    """
    with _lock:
        _factories[name] = factory
        _instances.pop(name, None)


def unregister_provider(name: str) -> None:
    """Forget provider ``name`` and its instance (tests; the built-in ``openssl`` stays)."""
    global _default_name
    if name == "openssl":
        raise ValueError("the openssl provider cannot be unregistered")
    with _lock:
        _factories.pop(name, None)
        _instances.pop(name, None)
        if _default_name == name:
            _default_name = "openssl"


def default_provider_name() -> str:
    """Name of the process-wide provider (what :func:`get_provider` with no name returns)."""
    return _default_name


def set_default_provider(name: str) -> SM2Provider:
    """Select the process-wide provider; fails at once when it cannot do SM2."""
    global _default_name
    provider = get_provider(name)
    _default_name = name
    return provider


def get_provider(name: str | None = None) -> SM2Provider:
    """The provider called ``name`` (default: the process-wide choice), created once."""
    name = name or _default_name
    with _lock:
        inst = _instances.get(name)
        if inst is None:
            factory = _factories.get(name)
            if factory is None:
                raise ProviderUnavailableError(f"unknown SM2 provider {name!r}")
            inst = factory()
            _instances[name] = inst
    return inst
