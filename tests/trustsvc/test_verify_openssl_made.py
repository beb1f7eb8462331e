"""``verify_bytes`` (what ``trustsvc verify`` and ``POST /api/v1/verify`` call) on certificate
files as the openssl command line writes them: PEM after ``openssl x509 -text``'s dump (RFC 7468
§5.2), and SM2 signatures made with OpenSSL 3's empty default ID (PASSED with ``sm2_id_empty``)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from ca.certs import parse_certificate
from trustsvc.formats.trust import TrustContext
from trustsvc.verify import detect_kind, verify_bytes

SM2_ID_EMPTY = "sm2_id_empty"


def _openssl(*args: str | Path) -> bytes:
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """An SM2 CA and leaf made by ``openssl req -x509`` / ``openssl x509 -req`` (no distid), as
    ``openssl x509 -text`` prints them, plus the leaf with a corrupted signature."""
    if shutil.which("openssl") is None or not _openssl("version").startswith(b"OpenSSL 3"):
        pytest.skip("needs the OpenSSL 3 command line (SM2)")
    d = tmp_path_factory.mktemp("made")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "sm2",
        "-nodes",
        "-keyout",
        d / "ca.key",
        "-out",
        d / "ca.pem",
        "-subj",
        "/CN=OpenSSL CA",
        "-days",
        "30",
        "-sm3",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    _openssl(
        "req",
        "-new",
        "-newkey",
        "sm2",
        "-nodes",
        "-keyout",
        d / "leaf.key",
        "-out",
        d / "leaf.csr",
        "-subj",
        "/CN=OpenSSL leaf",
        "-sm3",
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        d / "leaf.csr",
        "-CA",
        d / "ca.pem",
        "-CAkey",
        d / "ca.key",
        "-CAcreateserial",
        "-days",
        "10",
        "-sm3",
        "-out",
        d / "leaf.pem",
    )
    leaf = parse_certificate((d / "leaf.pem").read_bytes())
    bad = bytearray(leaf.der)
    bad[leaf.der.rindex(leaf.signature) + 6] ^= 0x01
    (d / "bad.der").write_bytes(bytes(bad))
    return {
        "ca": parse_certificate((d / "ca.pem").read_bytes()).der,
        "ca_text": _openssl("x509", "-text", "-in", d / "ca.pem"),
        "leaf_text": _openssl("x509", "-text", "-in", d / "leaf.pem"),
        "bad_text": _openssl("x509", "-text", "-inform", "DER", "-in", d / "bad.der"),
    }


def _now(made: dict[str, bytes]) -> dt.datetime:
    return parse_certificate(made["ca"]).not_before + dt.timedelta(minutes=1)


def test_text_before_pem_is_a_certificate(made) -> None:
    assert made["leaf_text"].startswith(b"Certificate:")
    assert detect_kind(made["leaf_text"]) == "certificate"
    report = verify_bytes(made["leaf_text"], trust=TrustContext(), now=_now(made))
    assert report.object["kind"] == "certificate" and report.object["subject"] == "CN=OpenSSL leaf"
    assert report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"  # read fine; just no anchor given


def test_openssl_certificate_as_its_own_anchor_passes_with_warning(made) -> None:
    report = verify_bytes(made["ca_text"], trust=TrustContext(anchors=(made["ca"],)), now=_now(made))
    assert report.indication.value == "PASSED", report.message
    assert any(w.startswith(SM2_ID_EMPTY) for w in report.warnings), report.warnings
    assert report.as_dict()["warnings"] == list(report.warnings)  # the JSON the CLI and API print


def test_openssl_leaf_under_openssl_ca_passes_with_warning(made) -> None:
    report = verify_bytes(made["leaf_text"], trust=TrustContext(anchors=(made["ca"],)), now=_now(made))
    assert report.indication.value == "PASSED", report.message
    checks = {c.name: c.result for c in report.checks}
    assert checks["certificate.path[0].signature"] == "passed"
    assert checks[f"certificate.path[0].{SM2_ID_EMPTY}"] == "warning"
    assert any("CN=OpenSSL leaf" in w and w.startswith(SM2_ID_EMPTY) for w in report.warnings)


def test_bad_signature_still_fails(made) -> None:
    report = verify_bytes(made["bad_text"], trust=TrustContext(anchors=(made["ca"],)), now=_now(made))
    assert (report.indication.value, report.sub_indication) == ("FAILED", "SIG_CRYPTO_FAILURE")
    assert not any(w.startswith(SM2_ID_EMPTY) and "CN=OpenSSL leaf" in w for w in report.warnings)
