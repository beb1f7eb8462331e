"""The PKCS#11 key store against a real SoftHSM2 token (Debian ``softhsm2``).

A throw-away token is initialised once per test session in a temporary ``SOFTHSM2_CONF``
directory. Without SoftHSM2 or python-pkcs11 these tests skip with the reason; in CI
(``CI=true``, where ``make test`` installs both) they fail instead.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from licence_bodies import business_body

import hsm
from hsm import KeyAlgorithm
from hsm.errors import HSMError, KeyExistsError, KeyNotFoundError, UnsupportedAlgorithmError, WrongPINError

PIN = "token-user-pin-8421"
SO_PIN = "token-so-pin-1357"
TOKEN = "trustsvc-test"
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
DEPT = "11320000MB0000001G"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"SoftHSM2 is required in CI (make test installs softhsm2 and python-pkcs11): {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class SoftHSM:
    module: str
    token_label: str
    pin: str


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """A fresh SoftHSM2 token for this test session; ``SOFTHSM2_CONF`` points at it."""
    if importlib.util.find_spec("pkcs11") is None:
        _unavailable("python-pkcs11 is not installed (pip install 'trustsvc[pkcs11]')")
    util = shutil.which("softhsm2-util")
    module = next((m for m in MODULE_CANDIDATES if Path(m).exists()), None)
    if util is None or module is None:
        _unavailable("SoftHSM2 is not installed (Debian: apt-get install softhsm2)")
    assert util is not None and module is not None
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        subprocess.run(
            [util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        yield SoftHSM(module=module, token_label=TOKEN, pin=PIN)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def store(softhsm: SoftHSM) -> Iterator[object]:
    from hsm.pkcs11 import Pkcs11KeyStore

    ks = Pkcs11KeyStore(softhsm.module, softhsm.token_label, softhsm.pin)
    yield ks
    ks.close()


def _token_private_key(softhsm: SoftHSM, label: str):
    """The private key object as python-pkcs11 sees it, through a session of our own (no login of
    its own: PKCS#11 logins belong to the process, and the open store has logged it in)."""
    import pkcs11

    token = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.token_label)
    session = token.open()
    key = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=label)
    return session, key


def test_keys_generated_on_the_token_are_non_extractable(softhsm, store):
    import pkcs11
    from pkcs11 import Attribute

    store.create_key("custody-p256", KeyAlgorithm.ECDSA_P256)
    session, key = _token_private_key(softhsm, "custody-p256")
    try:
        assert key[Attribute.TOKEN] is True
        assert key[Attribute.PRIVATE] is True
        assert key[Attribute.SENSITIVE] is True and key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False and key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.LOCAL] is True  # generated on the token, not imported
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]
    finally:
        session.close()


def test_p256_signatures_verify_with_hsm_and_cryptography(store):
    key_ref = store.create_key("sig-p256", KeyAlgorithm.ECDSA_P256)
    assert key_ref == "pkcs11:sig-p256"
    signer = store.signer(key_ref)
    assert signer.algorithm is KeyAlgorithm.ECDSA_P256
    assert signer.signature_algorithm_oid == "1.2.840.10045.4.3.2"
    message = "电子证照 signed on the token".encode()
    signature = signer.sign(message)
    hsm.verify(signer.public_key, message, signature)
    public = load_der_public_key(signer.public_key)
    assert isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)
    public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(signer.public_key, message + b"!", signature)
    with pytest.raises(CryptoInvalidSignature):
        public.verify(signature, message + b"!", ec.ECDSA(hashes.SHA256()))
    digest = hsm.load_public_key(signer.public_key).message_hash()
    digest.update(message)
    from_digest = signer.sign_digest(digest.digest())  # what sign_document asks of the token
    hsm.verify(signer.public_key, message, from_digest)
    public.verify(from_digest, message, ec.ECDSA(hashes.SHA256()))


def test_keys_are_found_by_label_after_reopening(softhsm, store):
    from hsm.pkcs11 import Pkcs11KeyStore

    ref = store.create_key("listed-a", KeyAlgorithm.ECDSA_P256)
    spki = store.public_key(ref)
    with pytest.raises(KeyExistsError):
        store.create_key("listed-a", KeyAlgorithm.ECDSA_P256)
    again = Pkcs11KeyStore(softhsm.module, softhsm.token_label, softhsm.pin)
    try:
        assert ref in again.list_keys()
        assert again.has_key(ref) and not again.has_key("pkcs11:listed-missing")
        assert again.public_key(ref) == spki
        hsm.verify(spki, b"m", again.signer(ref).sign(b"m"))
        with pytest.raises(KeyNotFoundError):
            again.signer("pkcs11:listed-missing")
        with pytest.raises(HSMError, match="not held by the pkcs11"):
            again.signer("soft:listed-a")
    finally:
        again.close()


def test_wrong_pin_is_a_clear_error(softhsm):
    from hsm.pkcs11 import Pkcs11KeyStore

    with pytest.raises(WrongPINError) as info:
        Pkcs11KeyStore(softhsm.module, softhsm.token_label, "not-the-pin")
    assert info.value.code == "wrong_pin"
    assert softhsm.token_label in info.value.message and "not-the-pin" not in str(info.value)
    # While another store holds the process's login, a wrong PIN is still refused.
    first = Pkcs11KeyStore(softhsm.module, softhsm.token_label, softhsm.pin)
    try:
        with pytest.raises(WrongPINError):
            Pkcs11KeyStore(softhsm.module, softhsm.token_label, "not-the-pin")
        second = Pkcs11KeyStore(softhsm.module, softhsm.token_label, softhsm.pin)
        second.close()
        ref = first.create_key("pin-survivor", KeyAlgorithm.ECDSA_P256)  # first's login survives second's close
        hsm.verify(first.public_key(ref), b"m", first.signer(ref).sign(b"m"))
    finally:
        first.close()
    with pytest.raises(hsm.PINMissingError):
        Pkcs11KeyStore(softhsm.module, softhsm.token_label, "")


def test_missing_token_and_module_are_clear_errors(softhsm, tmp_path):
    from hsm.pkcs11 import Pkcs11KeyStore

    with pytest.raises(HSMError) as info:
        Pkcs11KeyStore(softhsm.module, "no-such-token", softhsm.pin)
    assert info.value.code == "token_not_found"
    with pytest.raises(HSMError) as info:
        Pkcs11KeyStore(tmp_path / "libnothing.so", softhsm.token_label, softhsm.pin)
    assert info.value.code == "pkcs11_module"


def test_sm2_is_refused_without_vendor_mechanisms(store):
    with pytest.raises(UnsupportedAlgorithmError, match="sm2_mechanism"):
        store.create_key("sm2-none", KeyAlgorithm.SM2)
    assert not store.has_key("pkcs11:sm2-none")


def test_vendor_sm2_mechanism_ids_reach_the_token(softhsm):
    """SoftHSM2 has no SM2, so a vendor id it does not know must come back as a clear
    'mechanism not supported' from the token itself (proving the id went through)."""
    from pkcs11 import Mechanism

    from hsm.pkcs11 import Pkcs11KeyStore, vendor_mechanism

    vendor = vendor_mechanism(0x80000101)
    assert isinstance(vendor, Mechanism) and int(vendor) == 0x80000101
    assert vendor_mechanism(int(Mechanism.ECDSA)) is Mechanism.ECDSA
    ks = Pkcs11KeyStore(
        softhsm.module, softhsm.token_label, softhsm.pin, sm2_mechanism=0x80000102, sm2_keygen_mechanism=0x80000101
    )
    try:
        with pytest.raises(HSMError) as info:
            ks.create_key("sm2-vendor", KeyAlgorithm.SM2)
        assert info.value.code in ("unsupported_algorithm", "pkcs11_error")
        assert "0x80000101" in info.value.message or "sm2" in info.value.message
        assert not ks.has_key("pkcs11:sm2-vendor")
    finally:
        ks.close()


def test_a_forked_worker_reinitialises_the_module(softhsm, store):
    """gunicorn forks workers: a child must C_Initialize again and still sign on the token."""
    ref = store.create_key("fork-p256", KeyAlgorithm.ECDSA_P256)
    spki = store.public_key(ref)
    code = f"""
import sys
from hsm.pkcs11 import Pkcs11KeyStore
import hsm
ks = Pkcs11KeyStore({softhsm.module!r}, {softhsm.token_label!r}, {softhsm.pin!r})
sig = ks.signer({ref!r}).sign(b"child")
hsm.verify(bytes.fromhex({spki.hex()!r}), b"child", sig)
ks.close()
"""
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork() beside other threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child process
        try:
            from hsm.pkcs11 import Pkcs11KeyStore

            ks = Pkcs11KeyStore(softhsm.module, softhsm.token_label, softhsm.pin)
            hsm.verify(spki, b"child", ks.signer(ref).sign(b"child"))
            ks.close()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # A separate process sees the same key too.
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy(), timeout=60)
    hsm.verify(spki, b"parent", store.signer(ref).sign(b"parent"))  # the parent's session still works


def test_config_selects_the_pkcs11_backend(softhsm, tmp_path):
    from trustsvc.config import load_config, write_config
    from trustsvc.errors import ConfigurationError

    home = tmp_path / "home"
    write_config(
        home / "config.toml",
        {
            "hsm": {
                "backend": "pkcs11",
                "module": softhsm.module,
                "token_label": softhsm.token_label,
                "key_algorithm": "ecdsa-p256",
            }
        },
    )
    env = {
        "TRUSTSVC_HOME": str(home),
        "TRUSTSVC_HSM_SM2_MECHANISM": "0x80000102",
        "TRUSTSVC_HSM_SM2_KEYGEN_MECHANISM": "2147483905",
    }
    cfg = load_config(env).hsm
    assert (cfg.backend, str(cfg.module), cfg.token_label) == ("pkcs11", softhsm.module, softhsm.token_label)
    assert (cfg.sm2_mechanism, cfg.sm2_keygen_mechanism, cfg.key_algorithm) == (0x80000102, 0x80000101, "ecdsa-p256")
    with pytest.raises(ConfigurationError, match="token_label"):
        load_config({"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_TOKEN_LABEL": ""})
    with pytest.raises(ConfigurationError, match="key_algorithm"):
        load_config({"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_KEY_ALGORITHM": "rsa"})
    with pytest.raises(ConfigurationError, match="sm2_mechanism"):
        load_config({"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_SM2_MECHANISM": "CKM_SM2"})


def _relabel_code(code: str, signer) -> str:
    """``code`` re-signed by ``signer`` (a real, valid signature) under COSE alg -65537."""
    import zlib

    import base45
    import cbor2

    from hsm.encoding import signature_to_raw
    from trustsvc.codes.format import ALG_SM2_SM3, COSE_SIGN1_TAG, PREFIX, decode_code, sig_structure

    decoded = decode_code(code)
    protected = cbor2.dumps({1: ALG_SM2_SM3, 4: decoded.kid}, canonical=True)
    raw = signature_to_raw(signer.sign(sig_structure(protected, decoded.payload)))
    cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, decoded.payload, raw]), canonical=True)
    return PREFIX + base45.b45encode(zlib.compress(cose, 9)).decode("ascii")


def test_a_department_on_the_token_works_end_to_end(softhsm, tmp_path):
    """Region and department keys generated on the token (P-256): certificates from our CA, a
    GB/T 38540 seal made and applied, CMS, the licence PDF and its ES256 service code, all
    verifying PASSED; nothing is written to a soft key store."""
    from sqlalchemy import select

    from ca.cms import sign_cms
    from ca.oids import PKIXOID
    from trustsvc import pki
    from trustsvc.apikeys import SystemActor
    from trustsvc.codes.service import static_code
    from trustsvc.config import load_config, write_config
    from trustsvc.context import open_service
    from trustsvc.federation.local_trust import local_trust_context
    from trustsvc.federation.snapshot import build_snapshot
    from trustsvc.licences.files import ensure_licence_file
    from trustsvc.licences.service import issue_licence, request_from_json
    from trustsvc.licences.status import licence_status
    from trustsvc.sealing import SealRequest, apply_seal, make_department_seal
    from trustsvc.storage.models import CertificateRecord
    from trustsvc.verifier import OnlineCodes, verify_code
    from trustsvc.verify import verify_bytes

    home = tmp_path / "home"
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": softhsm.pin}
    write_config(
        home / "config.toml",
        {
            "region": {"code": "320000", "name": "江苏省"},
            "hsm": {
                "backend": "pkcs11",
                "module": softhsm.module,
                "token_label": softhsm.token_label,
                "key_algorithm": "ecdsa-p256",
            },
        },
    )
    svc = open_service(load_config(env), env)
    try:
        pki.init_region(svc, "320000", "江苏省", actor="test")
        pki.add_department(svc, DEPT, "江苏省市场监督管理局", actor="test")
        assert {f"pkcs11:d{DEPT}-{k}" for k in ("issuing-ca", "seal-maker", "signer")} <= set(svc.keystore.list_keys())
        assert not (home / "keys").exists()
        with svc.db.reader() as s:
            rows = {r.slug: (r.key_ref, r.der) for r in s.execute(select(CertificateRecord)).scalars()}
        signer_ref, signer_der = rows[f"{DEPT}/signer"]
        ca_der = rows[DEPT][1]
        # The signer certificate: a P-256 key from the token, signed ecdsa-with-SHA256 by the
        # department CA (itself on the token); cryptography agrees.
        cert, issuer = cx509.load_der_x509_certificate(signer_der), cx509.load_der_x509_certificate(ca_der)
        assert cert.signature_algorithm_oid.dotted_string == PKIXOID.ECDSA_WITH_SHA256
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert (
            cert.public_key().public_numbers()
            == load_der_public_key(svc.keystore.public_key(signer_ref)).public_numbers()
        )
        issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))

        trust = local_trust_context(svc.db)
        seal = make_department_seal(
            svc, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章"), actor="test"
        )
        assert verify_bytes(seal.der, trust=trust).indication.value == "PASSED"
        applied = apply_seal(svc, seal.esid, b"a document", actor="test")
        report = verify_bytes(applied.signature, trust=trust, original=b"a document")
        assert report.indication.value == "PASSED", report.message
        assert verify_bytes(applied.signature, trust=trust, original=b"another").indication.value == "FAILED"

        cms = sign_cms(
            b"content",
            signer=svc.keystore.signer(signer_ref),
            signer_cert=signer_der,
            extra_certs=[ca_der],
            signing_time=dt.datetime.now(dt.UTC),
        )
        assert verify_bytes(cms, trust=trust, original=b"content").indication.value == "PASSED"

        row = issue_licence(
            svc, request_from_json(business_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
        )
        pdf = ensure_licence_file(svc, row.identifier, actor="test")
        report = verify_bytes(pdf.content, trust=trust, status_lookup=partial(licence_status, svc.db))
        assert report.indication.value == "PASSED", report.message
        code = static_code(svc, row.identifier, principal_or_actor=SystemActor("test")).text
        snapshot = build_snapshot(svc.db, grace=dt.timedelta(days=1))
        code_verifier = partial(verify_code, snapshot, online=OnlineCodes(svc.db))  # anonymous, online
        report = verify_bytes(code.encode(), trust=trust, code_verifier=code_verifier)
        assert report.indication.value == "PASSED", report.message
        assert any("ES256" in c.detail for c in report.checks if c.name == "code.algorithm")
        # The same claims signed by the same P-256 key but labelled SM2-with-SM3 must not pass:
        # each COSE alg is verified only under a key of its own type.
        relabelled = _relabel_code(code, svc.keystore.signer(rows["code-signer"][0]))
        report = verify_bytes(relabelled.encode(), trust=trust, code_verifier=code_verifier)
        assert report.indication.value == "FAILED" and report.sub_indication == "SIG_CRYPTO_FAILURE"
    finally:
        svc.close()
