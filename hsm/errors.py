"""The one error hierarchy of trustsvc, rooted at the lowest layer so every layer can use it.

Every error carries a stable machine-readable ``code`` and declares its ``http_status``;
``api/errors.py`` turns them into a response, once. ``InvalidSignature`` is cryptography's, so callers catch one family for
signature failures whichever provider made them.
"""

from __future__ import annotations

from typing import ClassVar

from cryptography.exceptions import InvalidSignature

__all__ = [
    "TrustSvcError",
    "HSMError",
    "ProviderUnavailableError",
    "KeyNotFoundError",
    "KeyExistsError",
    "WrongPINError",
    "PINMissingError",
    "SelfTestError",
    "UnsupportedAlgorithmError",
    "InvalidSignature",
]


class TrustSvcError(Exception):
    """Base of every error trustsvc raises on purpose.

    :param message: a message safe to show to the caller (never secret material).
    :param code: stable machine-readable code; defaults to the class's ``code``.
    """

    code: str = "internal_error"
    http_status: ClassVar[int] = 500
    """The HTTP status ``api/`` answers with. Every subclass declares its own (or inherits a
    family's); a test walks them all, so none reaches a client as an unplanned 500."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def failure_message(self) -> str:
        return self.message


class HSMError(TrustSvcError):
    """Key custody or crypto-provider failure."""

    code = "hsm_error"
    http_status = 503


class ProviderUnavailableError(HSMError):
    """No usable SM2 provider (libcrypto missing, too old, or built without SM2)."""

    code = "sm2_provider_unavailable"


class KeyNotFoundError(HSMError):
    code = "key_not_found"


class KeyExistsError(HSMError):
    code = "key_exists"


class WrongPINError(HSMError):
    """The keystore PIN does not open the keystore."""

    code = "wrong_pin"


class PINMissingError(HSMError):
    code = "pin_missing"


class SelfTestError(HSMError):
    """The known-answer self-test failed: nothing may be served."""

    code = "self_test_failed"


class UnsupportedAlgorithmError(HSMError):
    code = "unsupported_algorithm"
