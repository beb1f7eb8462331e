"""Every artifact in ../shared/interop (ses/, ofd/, cms/) through the one entry point users
have — ``verify_bytes`` (what ``trustsvc verify`` and ``POST /api/v1/verify`` call) — reaching
the MANIFEST's verdict and reason; then the same through the CLI and the HTTP API.

Verdicts without an anchor: valid artifacts are INDETERMINATE (no chain) with every
cryptographic check passed; tampered ones FAILED naming the changed part; expired-at-signing
ones FAILED EXPIRED. With their anchor (ofdrw_root.pem) the valid ofdrw artifacts PASS.
Deliberate differences from the MANIFEST's wording are explained where they occur.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ca.certs import load_certificates
from hsm import sm3
from trustsvc.cli import cli
from trustsvc.formats.report import VerificationReport
from trustsvc.formats.trust import TrustContext
from trustsvc.verify import verify_bytes

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
NO_CHAIN = "NO_CERTIFICATE_CHAIN_FOUND"


@dataclass(frozen=True)
class Case:
    path: str
    indication: str
    sub: str | None
    passed_checks: tuple[str, ...] = ()
    """Check names (prefixes) that must be present and passed, e.g. the signature math."""
    original: str | bytes | None = None
    message_has: str = ""
    kind: str = ""


CASES = [
    # ses/ -------------------------------------------------------------------------------------
    Case(
        "ses/baiwang_taxtest_v4_SignedValue.dat",
        "INDETERMINATE",
        NO_CHAIN,
        ("signature.value", "signature.data_hash", "seal.signature"),
        "ses/baiwang_taxtest_v4_Signature.xml",
    ),
    Case(
        "ses/dianju_v4_SignedValue.dat",
        "INDETERMINATE",
        NO_CHAIN,
        ("signature.value", "signature.data_hash", "seal.signature"),
        "ses/dianju_v4_Signature.xml",
    ),
    Case(
        "ses/dms360_v1_SignedValue.dat",
        "FAILED",
        "SIG_CRYPTO_FAILURE",
        ("seal.signature",),
        "ses/dms360_v1_Signature.xml",
    ),
    Case("ses/ofdrw_SignedValueV4.dat", "INDETERMINATE", NO_CHAIN, ("signature.value", "seal.signature")),
    Case("ses/hebeigede_SESealData.DER", "FAILED", "SIG_CRYPTO_FAILURE"),
    # Expired today (valid 2020..2022): the seal signature itself is valid.
    Case("ses/ofdrw_UserV1.esl", "FAILED", "EXPIRED", ("seal.signature",)),
    Case("ses/ofdrw_UserV4.esl", "FAILED", "EXPIRED", ("seal.signature",)),
    # Made in 2026 by a maker certificate that expired in 2022.
    Case("ses/ofdrw_UserV5.esl", "FAILED", "EXPIRED", ("seal.signature",)),
    # MANIFEST: signature valid, self-signed maker. We also judge the maker certificate's key
    # usage (keyCertSign + cRLSign only: not a signing key), which GM/T 0031-2025 makes an error.
    Case("ses/dms360_v1_Seal.esl", "FAILED", "CHAIN_CONSTRAINTS_FAILURE", ("seal.signature",)),
    # ofd/ -------------------------------------------------------------------------------------
    Case("ofd/ofdrw_v4signed_baiwang_invoice.ofd", "INDETERMINATE", NO_CHAIN),
    Case("ofd/ofdrw_signedFile_jiangsu_tax.ofd", "INDETERMINATE", NO_CHAIN),
    Case("ofd/ofdrw_draw_param_ref_baiwang.ofd", "INDETERMINATE", NO_CHAIN),
    Case("ofd/ofdrw_buguifan_dianju.ofd", "INDETERMINATE", NO_CHAIN),
    Case("ofd/ofdrw_V4RideRight.ofd", "INDETERMINATE", NO_CHAIN),
    Case("ofd/ofdrw_allprotected.ofd", "INDETERMINATE", NO_CHAIN),
    Case("ofd/ofdrw_testPathClip_pkcs7.ofd", "INDETERMINATE", NO_CHAIN),
    Case("ofd/ofdrw_DigitalSign.ofd", "INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND"),
    Case("ofd/ofdrw_fapiao_shili_tampered.ofd", "FAILED", "HASH_FAILURE", message_has="/Doc_0/Document.xml"),
    Case("ofd/ofdrw_keyword_tongz_tampered.ofd", "FAILED", "HASH_FAILURE", message_has="/OFD.xml"),
    Case("ofd/ofdrw_n_dms360_v1.ofd", "FAILED", "HASH_FAILURE"),
    Case("ofd/ofdrw_SESV4SignDoc.ofd", "FAILED", "EXPIRED"),
    # cms/ -------------------------------------------------------------------------------------
    # No signing time inside and the signer certificate has expired since: nothing proves it was
    # signed while valid (ETSI OUT_OF_BOUNDS_NO_POE); the signature itself verifies.
    Case("cms/gmsm_cfca_sadk_attached.p7b", "INDETERMINATE", "OUT_OF_BOUNDS_NO_POE", ("cms.signature",)),
    Case(
        "cms/gmsm_cfca_sadk_detached.p7b",
        "INDETERMINATE",
        "OUT_OF_BOUNDS_NO_POE",
        ("cms.signature",),
        b"Hello Secret World!",
    ),
    Case("cms/gmsm_cfca_sadk_detached.p7b", "FAILED", "SIG_CRYPTO_FAILURE", original=b"Hello Secret World?"),
    Case("cms/gmsm_cfca_sadk_detached.p7b", "INDETERMINATE", "SIGNED_DATA_NOT_FOUND"),
    Case(
        "cms/ynca_gbt35275_detached_SignedValue.p7",
        "INDETERMINATE",
        NO_CHAIN,
        ("cms.signature",),
        "cms/ynca_gbt35275_detached_content_Signature.xml",
    ),
    Case("cms/ynca_gbt35275_detached_SignedValue.p7", "FAILED", "HASH_FAILURE", original=b"<changed/>"),
    Case(
        "cms/tongz_gbt35275_attached_sm3hash_SignedValue.p7",
        "INDETERMINATE",
        "OUT_OF_BOUNDS_NO_POE",
        ("cms.signature",),
    ),
    # Encrypted for its recipient: the signature is over the plaintext (checked after decryption
    # in tests/ca/test_ca_cms.py); a verifier without the recipient key cannot decide.
    Case(
        "cms/gmsm_gmcert_signed_enveloped.p7.pem",
        "INDETERMINATE",
        "SIGNED_DATA_NOT_FOUND",
        kind="cms_signed_and_enveloped",
    ),
    Case("cms/gmsm_gmcert_signCert.pem", "FAILED", "EXPIRED", kind="certificate"),
    Case("cms/gmsm_gmcert_encCert.pem", "FAILED", "EXPIRED", kind="certificate"),
    # Private test keys are not objects to verify: a clear format failure, no key echoed.
    Case("cms/gmsm_gmcert_signKey.pem", "FAILED", "FORMAT_FAILURE"),
    Case("cms/gmsm_gmcert_expectedEncKey.pem", "FAILED", "FORMAT_FAILURE"),
]


def _id(case: Case) -> str:
    return case.path.split("/")[-1] + (
        "+" + (case.original if isinstance(case.original, str) else "bytes").split("/")[-1] if case.original else ""
    )


def _original(interop: Path, case: Case) -> bytes | None:
    if isinstance(case.original, str):
        return (interop / case.original).read_bytes()
    return case.original


def _all_checks(report: VerificationReport | dict) -> dict[str, str]:
    data = report if isinstance(report, dict) else report.as_dict()
    out = {c["name"]: c["result"] for c in data["checks"]}
    for sig in data["object"].get("signatures", []):
        out.update(_all_checks(sig))
    return out


def _assert_case(data: dict, case: Case) -> None:
    assert (data["indication"], data["sub_indication"]) == (case.indication, case.sub), data["message"]
    checks = _all_checks(data)
    for prefix in case.passed_checks:
        hits = {
            n: r for n, r in checks.items() if n == prefix or n.startswith(prefix + ".") or n.endswith("." + prefix)
        }
        assert hits, f"no check {prefix!r} in {sorted(checks)}"
        assert "passed" in hits.values() and "failed" not in hits.values(), (prefix, hits)
    if case.message_has:
        text = json.dumps(data, ensure_ascii=False)
        assert case.message_has in text
    if case.kind:
        assert data["object"]["kind"] == case.kind


def test_every_interop_artifact_has_a_case(interop_dir: Path) -> None:
    covered = {c.path for c in CASES} | {c.original for c in CASES if isinstance(c.original, str)}
    present = {f"{d}/{p.name}" for d in ("ses", "ofd", "cms") for p in (interop_dir / d).iterdir()}
    assert present - covered == {"cms/tongz_gbt35275_attached_sm3hash_Signature.xml"}


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_verify_bytes_reaches_the_manifest_verdict(interop_dir: Path, case: Case) -> None:
    data = (interop_dir / case.path).read_bytes()
    report = verify_bytes(data, trust=TrustContext(), original=_original(interop_dir, case), now=NOW)
    _assert_case(report.as_dict(), case)
    if case.path.endswith("Key.pem"):
        assert data.split(b"\n")[1].decode() not in json.dumps(report.as_dict())


def test_tongz_embeds_the_sm3_of_its_signature_xml(interop_dir: Path) -> None:
    xml = (interop_dir / "cms/tongz_gbt35275_attached_sm3hash_Signature.xml").read_bytes()
    report = verify_bytes(
        (interop_dir / "cms/tongz_gbt35275_attached_sm3hash_SignedValue.p7").read_bytes(),
        trust=TrustContext(),
        original=sm3(xml),
        now=NOW,
    )
    assert _all_checks(report)["cms.signature"] == "passed"


def _ofdrw_trust(interop: Path, *extra: str) -> TrustContext:
    root = load_certificates((interop / "certs/ofdrw_root.pem").read_bytes())[0].der
    helpers = tuple(load_certificates((interop / f"certs/{name}").read_bytes())[0].der for name in extra)
    return TrustContext(anchors=(root,), intermediates=helpers)


@pytest.mark.parametrize("name", ["ofd/ofdrw_allprotected.ofd", "ofd/ofdrw_V4RideRight.ofd"])
def test_valid_ofdrw_documents_pass_with_their_anchor(interop_dir: Path, name: str) -> None:
    report = verify_bytes((interop_dir / name).read_bytes(), trust=_ofdrw_trust(interop_dir), now=NOW)
    assert report.indication.value == "PASSED", report.message
    # the anchor's missing keyCertSign is visible, not silent
    assert "warning" in _all_checks(report).values()
    # the expired-at-signing document stays FAILED with the same anchor
    expired = verify_bytes(
        (interop_dir / "ofd/ofdrw_SESV4SignDoc.ofd").read_bytes(), trust=_ofdrw_trust(interop_dir), now=NOW
    )
    assert (expired.indication.value, expired.sub_indication) == ("FAILED", "EXPIRED")


def test_bare_ofd_signature_passes_with_its_certificate_and_anchor(interop_dir: Path) -> None:
    data = (interop_dir / "ofd/ofdrw_DigitalSign.ofd").read_bytes()
    report = verify_bytes(data, trust=_ofdrw_trust(interop_dir, "ofdrw_user.pem"), now=NOW)
    assert report.indication.value == "PASSED", report.message
    wrong = verify_bytes(data, trust=_ofdrw_trust(interop_dir, "ofdrw_sign_cert.pem"), now=NOW)
    assert wrong.indication.value != "PASSED"


# -- the same through the command line and the HTTP API ---------------------------------------

_EXIT = {"PASSED": 0, "FAILED": 1, "INDETERMINATE": 2}


@pytest.mark.parametrize("case", [c for c in CASES if c.path.startswith(("ofd/", "ses/"))], ids=_id)
def test_cli_verify_exit_code_and_json(interop_dir: Path, tmp_path: Path, case: Case) -> None:
    args = ["verify", str(interop_dir / case.path), "--json", "--at", NOW.isoformat()]
    if isinstance(case.original, str):
        args += ["--original", str(interop_dir / case.original)]
    result = CliRunner().invoke(cli, args, env={"TRUSTSVC_HOME": str(tmp_path / "empty")})
    assert result.exit_code == _EXIT[case.indication], result.output
    _assert_case(json.loads(result.output), case)


def test_cli_bare_ofd_signature_with_cert_and_anchor(interop_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "verify",
            str(interop_dir / "ofd/ofdrw_DigitalSign.ofd"),
            "--anchor",
            str(interop_dir / "certs/ofdrw_root.pem"),
            "--cert",
            str(interop_dir / "certs/ofdrw_user.pem"),
        ],
        env={"TRUSTSVC_HOME": str(tmp_path / "empty")},
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("PASSED")


def test_api_verify_reaches_the_same_verdicts(interop_dir: Path, service) -> None:
    """/api/v1/verify judges "now" at the real time: the verdicts above hold for years yet."""
    from api import create_app

    client = create_app(service=service).test_client()
    for case in CASES:
        data = (interop_dir / case.path).read_bytes()
        original = _original(interop_dir, case)
        if original is None:  # raw body
            resp = client.post("/api/v1/verify", data=data, content_type="application/octet-stream")
        else:  # multipart file + original (all such pairs are small)
            resp = client.post(
                "/api/v1/verify",
                data={"file": (io.BytesIO(data), "object"), "original": (io.BytesIO(original), "original")},
                content_type="multipart/form-data",
            )
        assert resp.status_code == 200, (case.path, resp.get_json())
        _assert_case(resp.get_json(), case)


@pytest.mark.parametrize("args", [[], ["--at", "not-a-time", "x"], ["--no-such-option", "x"]])
def test_cli_verify_usage_errors_exit_3(tmp_path: Path, args: list[str]) -> None:
    """1 and 2 mean FAILED and INDETERMINATE, so a usage error must not reuse them."""
    target = tmp_path / "x"
    target.write_bytes(b"anything")
    result = CliRunner().invoke(cli, ["verify", *[str(target) if a == "x" else a for a in args]])
    assert result.exit_code == 3, result.output
