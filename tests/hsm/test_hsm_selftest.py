"""The start-up self-test passes on real providers and catches broken ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

import hsm
from hsm.openssl import OpenSSLSM2Key
from hsm.provider import OpenSSLProvider, SM2KeyHandle, register_provider, unregister_provider
from hsm.selftest import SelfTestCheck, SelfTestResult, require_self_test, run_self_test

EXPECTED_CHECKS = {
    "provider_available",
    "sm3_abc",
    "sm3_abcd_x16",
    "sm2_z_gbt32918",
    "sm2_e_gbt32918",
    "sm2_keypair_gbt32918",
    "sm2_verify_gbt32918",
    "sm2_reject_gbt32918",
    "sm2_sign_known_key",
    "sm2_sign_verify_fresh",
    "ecdsa_p256_sign_verify",
}


@pytest.mark.parametrize("name", ["openssl", "tongsuo"])
def test_self_test_passes(name: str, need_provider) -> None:
    need_provider(name)
    result = require_self_test(name)
    assert result.passed
    assert result.provider == name
    assert result.provider_version
    assert {c.name for c in result.checks} == EXPECTED_CHECKS
    assert all(c.passed and c.detail for c in result.checks)
    assert result.duration_ms > 0


def test_default_provider_is_used_when_none_named() -> None:
    assert run_self_test().provider == hsm.default_provider_name() == "openssl"


def test_result_is_frozen_and_serialisable() -> None:
    result = run_self_test("openssl")
    as_dict = result.as_dict()
    assert as_dict["passed"] is True and as_dict["provider"] == "openssl"
    assert [c["name"] for c in as_dict["checks"]] == [c.name for c in result.checks]
    assert set(as_dict["checks"][0]) == {"name", "passed", "detail"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.passed = False  # type: ignore[misc]
    assert isinstance(result.checks, tuple) and isinstance(result.checks[0], SelfTestCheck)
    assert isinstance(result, SelfTestResult)


# -- broken providers -----------------------------------------------------------------------------


class _AcceptAll:
    """A public key whose verify accepts everything."""

    def __init__(self, inner: SM2KeyHandle) -> None:
        self._inner = inner
        self.has_private = inner.has_private

    def __getattr__(self, item: str):
        return getattr(self._inner, item)

    def verify(self, message: bytes, signature: bytes, sm2_id: bytes) -> None:
        return None

    def verify_digest(self, e: bytes, signature: bytes) -> None:
        return None


class _EmptyIdSigner:
    """A private key that signs with OpenSSL's default empty ID whatever it is asked for."""

    def __init__(self, inner: SM2KeyHandle) -> None:
        self._inner = inner
        self.has_private = inner.has_private

    def __getattr__(self, item: str):
        return getattr(self._inner, item)

    def sign(self, message: bytes, sm2_id: bytes) -> bytes:
        return self._inner.sign(message, b"")


class AcceptAllProvider(OpenSSLProvider):
    name = "broken-accept-all"

    def load_public(self, spki_der: bytes) -> SM2KeyHandle:
        return _AcceptAll(super().load_public(spki_der))  # type: ignore[return-value]


class EmptyIdProvider(OpenSSLProvider):
    name = "broken-empty-id"

    def generate(self) -> SM2KeyHandle:
        return _EmptyIdSigner(super().generate())  # type: ignore[return-value]

    def load_private(self, pkcs8_der: bytes) -> SM2KeyHandle:
        return _EmptyIdSigner(super().load_private(pkcs8_der))  # type: ignore[return-value]


class WrongCurveMathProvider(OpenSSLProvider):
    """Derives the wrong public key: load_private returns an unrelated fresh key."""

    name = "broken-keys"

    def load_private(self, pkcs8_der: bytes) -> SM2KeyHandle:
        return OpenSSLSM2Key.generate()


class UnavailableProvider(OpenSSLProvider):
    name = "broken-unavailable"

    def __init__(self) -> None:
        raise hsm.ProviderUnavailableError("libcrypto was built without SM2")


@pytest.fixture
def broken() -> Iterator[None]:
    for cls in (AcceptAllProvider, EmptyIdProvider, WrongCurveMathProvider, UnavailableProvider):
        register_provider(cls.name, cls)
    yield
    for cls in (AcceptAllProvider, EmptyIdProvider, WrongCurveMathProvider, UnavailableProvider):
        unregister_provider(cls.name)


@pytest.mark.parametrize(
    ("name", "must_fail"),
    [
        ("broken-accept-all", {"sm2_reject_gbt32918", "sm2_sign_known_key", "sm2_sign_verify_fresh"}),
        ("broken-empty-id", {"sm2_sign_known_key", "sm2_sign_verify_fresh"}),
        ("broken-keys", {"sm2_keypair_gbt32918", "sm2_sign_known_key"}),
        ("broken-unavailable", {"provider_available"}),
    ],
)
def test_broken_provider_fails(broken: None, name: str, must_fail: set[str]) -> None:
    result = run_self_test(name)  # must not raise
    assert not result.passed
    failed = {c.name for c in result.failed}
    assert failed == must_fail
    with pytest.raises(hsm.SelfTestError) as info:
        require_self_test(name)
    assert info.value.code == "self_test_failed"
    for check in must_fail:
        assert check in info.value.message
    assert name in info.value.message


def test_unknown_provider_is_a_failed_check() -> None:
    result = run_self_test("no-such-provider")
    assert not result.passed
    assert [c.name for c in result.failed] == ["provider_available"]
    assert "no-such-provider" in result.failed[0].detail
