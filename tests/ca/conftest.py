"""Fixtures for ca/ tests: one real soft key store and one issued hierarchy per session.

Opening a soft key store costs a scrypt derivation (~0.1 s), and SM2 issuance is cheap, so the
hierarchy (region root -> department issuing CA -> one leaf per profile) is built once.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import hsm
from ca import PROFILES, ParsedCertificate, SubjectSpec, issue_certificate, parse_certificate

REPO = Path(__file__).resolve().parents[2]
SM2_ID_OPT = "distid:1234567812345678"
ROOT_SUBJECT = SubjectSpec("江苏省电子证照根CA", organization="江苏省数据局", province="江苏省", locality="南京市")
ISSUING_SUBJECT = SubjectSpec(
    "江苏省市场监督管理局 CA",
    organization="江苏省市场监督管理局",
    province="江苏省",
    organization_identifier="11320000014000123X",
)
LEAF_PROFILES = tuple(name for name, p in PROFILES.items() if not p.is_ca)
# The hierarchy is valid from an hour before the session: test modules take their ``NOW`` when
# they are imported, which on a loaded machine can be many seconds before this fixture runs.
VALID_FROM = datetime.now(UTC) - timedelta(hours=1)


@dataclass(frozen=True)
class Issued:
    """A certificate we issued, with the signer holding its key."""

    der: bytes
    cert: ParsedCertificate
    signer: hsm.Signer


@dataclass
class PKI:
    store: hsm.SoftKeyStore
    directory: Path
    root: Issued
    issuing: Issued
    leaves: dict[str, Issued] = field(default_factory=dict)
    _labels: itertools.count = field(default_factory=itertools.count)

    def new_signer(self, algorithm: hsm.KeyAlgorithm = hsm.KeyAlgorithm.SM2) -> hsm.Signer:
        return self.store.signer(self.store.create_key(f"k{next(self._labels)}", algorithm))

    def issue(self, profile: str, subject: SubjectSpec, issuer: Issued | None, **kwargs: object) -> Issued:
        signer = kwargs.pop("signer", None) or self.new_signer()
        kwargs.setdefault("not_before", VALID_FROM)
        der = issue_certificate(
            profile=profile,
            subject=subject,
            public_key=signer.public_key,  # type: ignore[union-attr]
            issuer_signer=issuer.signer if issuer else signer,  # type: ignore[arg-type]
            issuer_cert=issuer.der if issuer else None,
            **kwargs,  # type: ignore[arg-type]
        )
        return Issued(der, parse_certificate(der), signer)  # type: ignore[arg-type]

    def write(self, name: str, der: bytes) -> Path:
        path = self.directory / f"{name}.pem"
        path.write_text(parse_certificate(der).pem)
        return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    base = tmp_path_factory.mktemp("pki")
    store = hsm.SoftKeyStore(base / "keys", "test-pin", create=True)
    root_signer = store.signer(store.create_key("root"))
    root_der = issue_certificate(
        profile="root_ca",
        subject=ROOT_SUBJECT,
        public_key=root_signer.public_key,
        issuer_signer=root_signer,
        issuer_cert=None,
        not_before=VALID_FROM,
    )
    root = Issued(root_der, parse_certificate(root_der), root_signer)
    pki = PKI(store=store, directory=base, root=root, issuing=root)
    pki.issuing = pki.issue(
        "issuing_ca",
        ISSUING_SUBJECT,
        root,
        crl_url="http://pki.example.cn/crl/root.crl",
        ca_issuers_url="http://pki.example.cn/root.cer",
    )
    for name in LEAF_PROFILES:
        pki.leaves[name] = pki.issue(
            name,
            SubjectSpec(f"{name} 证书", organization="江苏省市场监督管理局", organizational_unit="测试"),
            pki.issuing,
            crl_url="http://pki.example.cn/crl/dept.crl",
            ocsp_url="http://pki.example.cn/ocsp",
            ca_issuers_url="http://pki.example.cn/dept.cer",
        )
    return pki


@pytest.fixture(scope="session")
def interop_dir() -> Path:
    """The shared interop collection; tests needing it skip (with the reason) when absent."""
    path = Path(os.environ.get("TRUSTSVC_INTEROP_DIR") or REPO.parent / "shared" / "interop")
    if not (path / "certs").is_dir():
        pytest.skip(f"interop collection not found at {path} (set TRUSTSVC_INTEROP_DIR)")
    return path


@pytest.fixture(scope="session")
def openssl() -> str:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("openssl command not installed")
    version = subprocess.run([exe, "version"], capture_output=True, text=True, check=True).stdout
    if not version.startswith("OpenSSL 3"):
        pytest.skip(f"needs OpenSSL 3 for SM2 distid options, found {version.strip()}")
    return exe


@pytest.fixture(scope="session")
def run_openssl(openssl: str):
    """Run ``openssl *args``; returns the CompletedProcess (text, UTF-8)."""

    def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([openssl, *map(str, args)], capture_output=True, text=True, encoding="utf-8")
        if check:
            assert proc.returncode == 0, f"openssl {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    return run


# --- CMS / TSA / OCSP helpers (test_ca_cms.py, test_ca_tsa.py, test_ca_ocsp.py) -------------


@pytest.fixture(scope="session")
def tsa_noncritical(pki: PKI) -> Issued:
    """A certificate with id-kp-timeStamping that is NOT critical (RFC 3161 §2.3 violated)."""
    from ca import CertProfile
    from ca.oids import PKIXOID

    profile = CertProfile(
        name="tsa_noncritical",
        description="test only: TSA EKU without the critical flag",
        is_ca=False,
        key_usage=frozenset({"digital_signature", "non_repudiation"}),
        extended_key_usage=(PKIXOID.TIME_STAMPING,),
        eku_critical=False,
        validity_years=1,
    )
    return pki.issue(profile, SubjectSpec("非关键时间戳证书", organization="测试"), pki.issuing)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def p256_signer(pki: PKI) -> Issued:
    """A ``signer`` certificate over an ECDSA P-256 key (issued by the SM2 department CA)."""
    signer = pki.new_signer(hsm.KeyAlgorithm.ECDSA_P256)
    return pki.issue("signer", SubjectSpec("P-256 签名者", organization="测试"), pki.issuing, signer=signer)


@pytest.fixture(scope="session")
def interop_cms(interop_dir: Path) -> Path:
    """``interop/cms``; skips (with the reason) when the collection lacks it."""
    path = interop_dir / "cms"
    if not path.is_dir():
        pytest.skip(f"interop cms/ directory not found at {path}")
    return path


@pytest.fixture(scope="session")
def asn1parse(run_openssl):
    """``openssl asn1parse -i`` of a DER file as ``(offset, depth, header_len, rest)`` rows.

    Lets tests locate fields with OpenSSL's parser instead of the asn1crypto code under test.
    """

    def rows(der_path: Path) -> list[tuple[int, int, int, str]]:
        out = run_openssl("asn1parse", "-inform", "DER", "-in", der_path, "-i").stdout
        found = []
        for line in out.splitlines():
            head, _, rest = line.partition(":d=")
            depth, _, rest = rest.partition(" hl=")
            hl, _, rest = rest.partition(" l=")
            found.append((int(head.strip()), int(depth), int(hl), rest))
        return found

    return rows
