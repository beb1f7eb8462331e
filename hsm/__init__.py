"""hsm: the crypto boundary. SM2/SM3 providers, key custody backends and the start-up self-test.

Nothing above this package touches private key material: it holds key references and
:class:`Signer` objects, and verifies through :func:`verify`.
"""

from __future__ import annotations

from .algorithms import DEFAULT_SM2_ID, KeyAlgorithm, sm3
from .errors import (
    HSMError,
    InvalidSignature,
    KeyExistsError,
    KeyNotFoundError,
    PINMissingError,
    ProviderUnavailableError,
    SelfTestError,
    TrustSvcError,
    UnsupportedAlgorithmError,
    WrongPINError,
)
from .keys import PublicKey, load_public_key, sm2_e, sm2_z, verify, verify_digest
from .keystore import KeyStore, parse_key_ref
from .provider import SM2Provider, get_provider, set_default_provider
from .signer import Signer
from .soft import SoftKeyStore

__all__ = [
    "DEFAULT_SM2_ID",
    "KeyAlgorithm",
    "sm3",
    "HSMError",
    "InvalidSignature",
    "KeyExistsError",
    "KeyNotFoundError",
    "PINMissingError",
    "ProviderUnavailableError",
    "SelfTestError",
    "TrustSvcError",
    "UnsupportedAlgorithmError",
    "WrongPINError",
    "PublicKey",
    "load_public_key",
    "sm2_e",
    "sm2_z",
    "verify",
    "verify_digest",
    "KeyStore",
    "parse_key_ref",
    "SM2Provider",
    "get_provider",
    "set_default_provider",
    "Signer",
    "SoftKeyStore",
]
