"""Fixtures for the seal tests (helpers live in ``sealkit``): the interop directory, our own
SM2 hierarchy, and a seal, a signature and an OFD made with it, each built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from sealkit import DOCUMENT, Hierarchy, build_ofd, interop_root, make_hierarchy, seal_spec

from trustsvc.formats.seals import make_seal, sign_document


@pytest.fixture(scope="session")
def interop() -> Path:
    path = interop_root()
    if not (path / "ses").is_dir() or not (path / "ofd").is_dir():
        pytest.skip(f"interop artifacts not found at {path} (set TRUSTSVC_INTEROP_DIR)")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Hierarchy:
    return make_hierarchy(tmp_path_factory.mktemp("keystore"))


@pytest.fixture(scope="session")
def our_seal(pki: Hierarchy) -> bytes:
    return make_seal(seal_spec(pki), maker_signer=pki.maker.signer, maker_cert=pki.maker.cert)


@pytest.fixture(scope="session")
def our_signature(pki: Hierarchy, our_seal: bytes) -> bytes:
    return sign_document(
        DOCUMENT,
        seal=our_seal,
        signer=pki.signer.signer,
        signer_cert=pki.signer.cert,
        property_info="/Doc_0/Signs/Sign_0/Signature.xml",
    )


@pytest.fixture(scope="session")
def our_ofd(pki: Hierarchy, our_seal: bytes) -> bytes:
    return build_ofd(pki, our_seal)
