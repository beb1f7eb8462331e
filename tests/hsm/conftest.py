"""Fixtures for the hsm/ tests: providers, interop vectors, scalar extraction, key stores."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys

import hsm
from hsm.provider import SM2Provider, get_provider, set_default_provider

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = ("openssl", "tongsuo")


def interop_dir() -> Path:
    """``TRUSTSVC_INTEROP_DIR`` or ``<repo>/../shared/interop``."""
    env = os.environ.get("TRUSTSVC_INTEROP_DIR")
    return Path(env) if env else REPO.parent / "shared" / "interop"


def load_provider(name: str) -> SM2Provider:
    """The named provider; tongsuo is skipped (with the reason) only when tongsuopy is absent."""
    try:
        return get_provider(name)
    except hsm.ProviderUnavailableError as exc:
        if name == "tongsuo":
            pytest.skip(f"tongsuo provider unavailable: {exc}")
        raise


@pytest.fixture
def need_provider():
    """``load_provider`` as a fixture (skips, with the reason, when tongsuopy is absent)."""
    return load_provider


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> Iterator[SM2Provider]:
    """Each SM2 provider in turn, also made the process default so ``hsm.verify`` uses it."""
    prov = load_provider(request.param)
    set_default_provider(request.param)
    try:
        yield prov
    finally:
        set_default_provider("openssl")


@pytest.fixture
def openssl_provider() -> SM2Provider:
    return get_provider("openssl")


@pytest.fixture
def tongsuo_provider() -> SM2Provider:
    return load_provider("tongsuo")


@pytest.fixture(scope="session")
def sm_vectors() -> dict[str, Any]:
    path = interop_dir() / "vectors" / "sm_vectors.json"
    if not path.is_file():
        pytest.skip(f"interop vectors absent: {path} (set TRUSTSVC_INTEROP_DIR)")
    return json.loads(path.read_text(encoding="utf-8"))


def private_scalar(pkcs8_der: bytes) -> bytes:
    """The 32-byte private scalar inside an (SM2 or P-256) PKCS#8 DER key."""
    info = keys.PrivateKeyInfo.load(pkcs8_der)
    ec_key = keys.ECPrivateKey.load(info["private_key"].contents)
    return ec_key["private_key"].native.to_bytes(32, "big")


@pytest.fixture
def scalar_of():
    return private_scalar


@pytest.fixture
def keystore_dir(tmp_path: Path) -> Path:
    return tmp_path / "keystore"
