"""OFD packages signed with our own seal: a passing document, every way it can be spoiled,
and the package-safety rules (names, sizes, DTDs) that come before any signature."""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from typing import Any

import pytest
from sealkit import Hierarchy, build_ofd, seal_spec, unzip, zip_files

import hsm
from trustsvc.formats.ofd import OFDFormatError, PackageLimits, resolve_path, verify_ofd
from trustsvc.formats.report import VerificationReport
from trustsvc.formats.seals import make_seal


def checks(report: VerificationReport | dict[str, Any]) -> dict[str, str]:
    items = report["checks"] if isinstance(report, dict) else [c.as_dict() for c in report.checks]
    return {c["name"]: c["result"] for c in items}


def first(report: VerificationReport) -> dict[str, Any]:
    return report.object["signatures"][0]


def test_our_ofd_passes(pki: Hierarchy, our_ofd: bytes) -> None:
    report = verify_ofd(our_ofd, trust=pki.trust)
    assert report.indication.value == "PASSED", report.message
    sig = first(report)
    got = checks(sig)
    for name in (
        "signature_xml",
        "references",
        "seal_file",
        "signed_value",
        "ses",
        "ses.signature.data_hash",
        "ses.seal.signature",
    ):
        assert got[name] == "passed", name
    assert sig["object"]["references"] == 4 and sig["object"]["signed_value"] == "SignedValue.dat"
    assert report.object["uncovered"] == [] and checks(report)["package.coverage"] == "passed"
    assert report.status_now["1"]["signer"]["expired"] is False
    assert any(t.get("region") == "320000" for t in sig["trust_path"])


def test_changed_page_is_named(pki: Hierarchy, our_ofd: bytes) -> None:
    files = unzip(our_ofd)
    files["Doc_0/Pages/Page_0/Content.xml"] = files["Doc_0/Pages/Page_0/Content.xml"].replace(b'ID="1"', b'ID="2"')
    report = verify_ofd(zip_files(files), trust=pki.trust)
    assert report.indication.value == "FAILED" and report.sub_indication == "HASH_FAILURE"
    assert "/Doc_0/Pages/Page_0/Content.xml" in report.message
    assert checks(first(report))["ses"] == "passed"  # the signature itself is intact


def test_changed_signature_xml_fails_the_data_hash(pki: Hierarchy, our_ofd: bytes) -> None:
    files = unzip(our_ofd)
    files["Doc_0/Signs/Sign_0/Signature.xml"] = files["Doc_0/Signs/Sign_0/Signature.xml"].replace(
        b"trustsvc-test", b"trustsvc-TEST"
    )
    report = verify_ofd(zip_files(files), trust=pki.trust)
    assert report.sub_indication == "HASH_FAILURE" and checks(first(report))["ses.signature.data_hash"] == "failed"


def test_swapped_seal_file_is_caught(pki: Hierarchy, our_ofd: bytes) -> None:
    other = make_seal(seal_spec(pki, name="另一个印章"), maker_signer=pki.maker.signer, maker_cert=pki.maker.cert)
    files = unzip(our_ofd)
    files["Doc_0/Signs/Sign_0/Seal.esl"] = other
    sig = first(verify_ofd(zip_files(files), trust=pki.trust))
    assert checks(sig)["seal_file"] == "failed" and checks(sig)["references[/Doc_0/Signs/Sign_0/Seal.esl]"] == "failed"


def test_uncovered_file_is_a_warning(pki: Hierarchy, our_seal: bytes) -> None:
    report = verify_ofd(build_ofd(pki, our_seal, extra_files={"Doc_0/Res/extra.png": b"\x89PNG"}), trust=pki.trust)
    assert report.indication.value == "PASSED"
    assert report.object["uncovered"] == ["/Doc_0/Res/extra.png"] and checks(report)["package.coverage"] == "warning"


def test_signatures_xml_changes_only_break_a_signature_that_locked_it(pki: Hierarchy, our_seal: bytes) -> None:
    extra = b'<ofd:Signature ID="2" Type="Seal" BaseLoc="Sign_1/Signature.xml"/></ofd:Signatures>'
    # ContinueSign (Signatures.xml not referenced): the first signature still holds; the new
    # entry, whose files are missing, fails on its own.
    continued = unzip(build_ofd(pki, our_seal))
    continued["Doc_0/Signs/Signatures.xml"] = continued["Doc_0/Signs/Signatures.xml"].replace(
        b"</ofd:Signatures>", extra
    )
    report = verify_ofd(zip_files(continued), trust=pki.trust)
    one, two = report.object["signatures"]
    assert one["indication"] == "PASSED" and two["sub_indication"] == "FORMAT_FAILURE"
    # Locked (Signatures.xml referenced): the same change makes the first signature fail.
    locked_ofd = build_ofd(pki, our_seal, protect_signatures_xml=True)
    assert verify_ofd(locked_ofd, trust=pki.trust).indication.value == "PASSED"
    locked = unzip(locked_ofd)
    locked["Doc_0/Signs/Signatures.xml"] = locked["Doc_0/Signs/Signatures.xml"].replace(b"</ofd:Signatures>", extra)
    one = verify_ofd(zip_files(locked), trust=pki.trust).object["signatures"][0]
    assert one["sub_indication"] == "HASH_FAILURE"
    assert "locked the signature list" in next(
        c["detail"] for c in one["checks"] if c["name"] == "references[/Doc_0/Signs/Signatures.xml]"
    )


def _zip_raw(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of one case
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in entries:
                info = zipfile.ZipInfo("placeholder")
                info.filename = name
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "why"),
    [("../evil.xml", "climbs"), ("/etc/passwd", "unsafe"), ("C:/boot.ini", "unsafe"), ("Doc_0\\x.xml", "unsafe")],
)
def test_unsafe_member_names_are_refused(our_ofd: bytes, name: str, why: str) -> None:
    entries = list(unzip(our_ofd).items()) + [(name, b"x")]
    report = verify_ofd(_zip_raw(entries))
    assert report.indication.value == "FAILED" and report.sub_indication == "FORMAT_FAILURE"
    assert why in report.message


def test_duplicate_member_is_refused(our_ofd: bytes) -> None:
    entries = list(unzip(our_ofd).items()) + [("OFD.xml", b"<other/>")]
    report = verify_ofd(_zip_raw(entries))
    assert report.sub_indication == "FORMAT_FAILURE" and "twice" in report.message


def test_zip_bomb_and_size_limits(our_ofd: bytes) -> None:
    bomb = list(unzip(our_ofd).items()) + [("Doc_0/Res/zeros.bin", bytes(8 * 1024 * 1024))]
    report = verify_ofd(_zip_raw(bomb))
    assert report.sub_indication == "FORMAT_FAILURE" and "expands" in report.message
    small = verify_ofd(our_ofd, limits=PackageLimits(max_total_bytes=1000))
    assert small.sub_indication == "FORMAT_FAILURE"


def test_xml_with_a_dtd_is_refused(pki: Hierarchy, our_ofd: bytes) -> None:
    files = unzip(our_ofd)
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"?>\n", b'?>\n<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n', 1
    )
    report = verify_ofd(zip_files(files), trust=pki.trust)
    assert report.sub_indication == "FORMAT_FAILURE" and "DTD" in report.message


def test_not_a_package_and_unsigned_package(our_ofd: bytes) -> None:
    assert verify_ofd(b"%PDF-1.7").sub_indication == "FORMAT_FAILURE"
    assert verify_ofd(b"").sub_indication == "FORMAT_FAILURE"
    files = unzip(our_ofd)
    files["OFD.xml"] = files["OFD.xml"].replace(b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>", b"")
    unsigned = verify_ofd(zip_files(files))
    assert unsigned.indication.value == "FAILED" and "no signatures" in unsigned.message
    del files["Doc_0/Signs/Sign_0/Signature.xml"]
    files["OFD.xml"] = unzip(our_ofd)["OFD.xml"]
    missing = verify_ofd(zip_files(files))
    assert checks(first(missing))["signature_xml"] == "failed"


def test_path_resolution() -> None:
    assert resolve_path("/Doc_0/Signs/Signatures.xml", "Sign_0/Signature.xml") == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert resolve_path("/OFD.xml", "Doc_0/Signs/Signatures.xml") == "/Doc_0/Signs/Signatures.xml"
    assert resolve_path("/Doc_0/Signs/Sign_0/Signature.xml", "/Doc_0/Res/a.png") == "/Doc_0/Res/a.png"
    assert resolve_path("/Doc_0/Signs/Sign_0/Signature.xml", "../../Res/./a.png") == "/Doc_0/Res/a.png"
    for bad in ("../../../x", "/../x", "", "   "):
        with pytest.raises(OFDFormatError):
            resolve_path("/Doc_0/Signatures.xml", bad)


@pytest.mark.parametrize(
    ("method", "digest", "indication", "warning"),
    [
        ("SM3", hsm.sm3, "PASSED", None),
        ("1.2.156.10197.1.401.2", hsm.sm3, "PASSED", "non-standard CheckMethod"),
        ("SHA256", lambda d: hashlib.sha256(d).digest(), "PASSED", None),
        ("MD5", lambda d: hashlib.md5(d).digest(), "PASSED", "MD5 is weak"),
        (None, lambda d: hashlib.md5(d).digest(), "PASSED", "default MD5"),
        ("SM3", lambda d: hashlib.sha256(d).digest(), "FAILED", None),  # the method decides
        ("WHIRLPOOL", hsm.sm3, "FAILED", None),
    ],
)
def test_check_methods(
    pki: Hierarchy, our_seal: bytes, method: str | None, digest: Any, indication: str, warning: str | None
) -> None:
    report = verify_ofd(build_ofd(pki, our_seal, check_method=method, digest=digest), trust=pki.trust)
    assert report.indication.value == indication, report.message
    if warning:
        assert any(warning in w for w in first(report)["warnings"])
    if method == "WHIRLPOOL":
        assert report.sub_indication == "FORMAT_FAILURE" and "CheckMethod" in report.message


def test_extra_empty_signed_value_element_is_ignored(pki: Hierarchy, our_seal: bytes) -> None:
    report = verify_ofd(build_ofd(pki, our_seal, empty_signed_value=True), trust=pki.trust)
    assert report.indication.value == "PASSED"
    assert any("empty <SignedValue/>" in w for w in first(report)["warnings"])
