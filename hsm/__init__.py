"""hsm: the crypto boundary. SM2/SM3 providers, key custody backends and the start-up self-test.

Nothing above this package touches private key material: it holds key references and
:class:`Signer` objects, and verifies through :func:`verify`.
"""

from __future__ import annotations

from . import tongsuo  # noqa: F401  registers the optional provider; tongsuopy loads on first use
from .algorithms import DEFAULT_SM2_ID, KeyAlgorithm, sm3
from .encoding import (
    decode_signature,
    encode_signature,
    parse_spki,
    signature_from_raw,
    signature_to_raw,
    sm2_spki,
)
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
from .pin import create_demo_pin_file, resolve_pin
from .provider import SM2Provider, default_provider_name, get_provider, register_provider, set_default_provider
from .selftest import SelfTestCheck, SelfTestResult, require_self_test, run_self_test
from .signer import Signer
from .soft import SoftKeyStore

__all__ = [
    "DEFAULT_SM2_ID",
    "KeyAlgorithm",
    "sm3",
    "decode_signature",
    "encode_signature",
    "parse_spki",
    "signature_from_raw",
    "signature_to_raw",
    "sm2_spki",
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
    "default_provider_name",
    "get_provider",
    "register_provider",
    "set_default_provider",
    "create_demo_pin_file",
    "resolve_pin",
    "SelfTestCheck",
    "SelfTestResult",
    "require_self_test",
    "run_self_test",
    "Signer",
    "SoftKeyStore",
]
