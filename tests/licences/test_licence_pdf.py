"""The sealed licence PDF: what pyHanko, poppler (pdfsig, pdftotext, pdffonts) and our own
verifier see in a file we issue, and how verification treats changed bytes and revoked licences."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import threading
from functools import partial
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from licence_helpers import DEPT, business_body, food_body
from pdf_tools import poppler_tool
from sqlalchemy import func, select

import hsm
from ca.cms_timestamp import SIGNATURE_TIME_STAMP_TOKEN
from trustsvc.apikeys import SystemActor
from trustsvc.errors import ConflictError
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.formats.trust import NO_TRUST
from trustsvc.licences.files import (
    METADATA_ATTACHMENT,
    METADATA_SIGNATURE_ATTACHMENT,
    STATUS_ATTACHMENT,
    ensure_licence_file,
)
from trustsvc.licences.service import change_licence, get_licence, issue_licence, request_from_json, revoke_licence
from trustsvc.licences.status import licence_status
from trustsvc.storage.models import AuditEventRecord, CertificateRecord, LicenceFileRecord
from trustsvc.verify import detect_kind, verify_bytes


def _issue(service, body=None):
    row = issue_licence(
        service,
        request_from_json(body or business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
    )
    return row, ensure_licence_file(service, row.identifier, actor="test")


def _verify(service, data: bytes):
    return verify_bytes(data, trust=local_trust_context(service.db), status_lookup=partial(licence_status, service.db))


def _results(report) -> dict[str, str]:
    return {c.name: c.result for c in report.checks}


@pytest.fixture
def issued(service, seal):
    return _issue(service)


def test_pyhanko_sees_one_sm2_signature_covering_the_entire_file(service, issued) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    _row, made = issued
    reader = PdfFileReader(io.BytesIO(made.content))
    sigs = reader.embedded_signatures
    assert len(sigs) == 1
    sig = sigs[0]
    assert sig.evaluate_signature_coverage() is SignatureCoverageLevel.ENTIRE_FILE
    assert sig.sig_object["/SubFilter"] == "/adbe.pkcs7.detached"
    assert sig.sig_object["/Filter"] == "/Adobe.PPKLite"
    signer_info = sig.signer_info
    assert signer_info["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"  # SM3
    assert signer_info["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"  # SM2-with-SM3
    with service.db.reader() as s:
        certs = {c.slug: c.der for c in s.execute(select(CertificateRecord)).scalars()}
    carried = {c.chosen.dump() for c in sig.signed_data["certificates"]}
    assert carried == {certs[f"{DEPT}/signer"], certs[DEPT], certs["root"]}
    assert sig.signer_cert.dump() == certs[f"{DEPT}/signer"]
    # the byte range digest is SM3 and equals the signed messageDigest
    assert sig.compute_digest() == hsm.sm3(made.content[: sig.byte_range[1]] + made.content[sig.byte_range[2] :])
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["message_digest"].native == sig.compute_digest()
    signing_time = attrs["signing_time"].native
    assert sig.self_reported_timestamp == signing_time  # /M says the same second
    unsigned = list(signer_info["unsigned_attrs"])
    assert [a["type"].dotted for a in unsigned] == [SIGNATURE_TIME_STAMP_TOKEN]
    token = unsigned[0]["values"][0]
    tst_info = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].parsed.dump())
    assert tst_info["message_imprint"]["hashed_message"].native == hsm.sm3(signer_info["signature"].native)
    assert abs((tst_info["gen_time"].native - signing_time).total_seconds()) < 60


def test_pdfsig_lists_exactly_one_signature(issued, tmp_path: Path) -> None:
    pdfsig = poppler_tool("pdfsig")
    path = tmp_path / "licence.pdf"
    path.write_bytes(issued[1].content)
    out = subprocess.run([pdfsig, str(path)], capture_output=True, text=True, encoding="utf-8").stdout
    assert len(re.findall(r"^Signature #\d+:", out, re.M)) == 1, out
    assert "Signature Field Name: LicenceSeal" in out
    assert "Signature Type: adbe.pkcs7.detached" in out
    assert "Total document signed" in out
    assert "江苏省市场监督管理局签章者" in out  # the department's signer certificate


def test_chinese_text_is_real_text_in_an_embedded_subset_font(issued, tmp_path: Path) -> None:
    pdftotext, pdffonts = poppler_tool("pdftotext"), poppler_tool("pdffonts")
    row, made = issued
    path = tmp_path / "licence.pdf"
    path.write_bytes(made.content)
    text = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, encoding="utf-8", check=True
    ).stdout
    for expected in (
        row.holder_name,
        row.identifier,
        "江苏省市场监督管理局",
        "软件开发；信息技术咨询服务",
        "法定代表人",
        "张三",
        "扫码核验",
        "2020年05月01日 至 长期",
    ):
        assert expected in text, expected
    fonts = subprocess.run([pdffonts, str(path)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert fonts, "no font at all"
    for line in fonts:  # every font embedded, as a subset, with a ToUnicode map
        name, *_, emb, sub, uni, _obj, _gen = line.split()
        assert re.match(r"^[A-Z]{6}\+", name) and (emb, sub, uni) == ("yes", "yes", "yes"), line


def test_metadata_and_identifier_travel_inside_the_file(issued) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    row, made = issued
    reader = PdfFileReader(io.BytesIO(made.content))
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    files = {str(names[i]): names[i + 1].get_object()["/EF"]["/F"].get_object().data for i in range(0, len(names), 2)}
    assert set(files) == {METADATA_ATTACHMENT, METADATA_SIGNATURE_ATTACHMENT, STATUS_ATTACHMENT}
    assert files[METADATA_ATTACHMENT] == row.metadata_json.encode()
    assert files[METADATA_SIGNATURE_ATTACHMENT] == row.metadata_signature
    status = json.loads(files[STATUS_ATTACHMENT])  # where other regions find the licence's status bit
    assert status["issuer"] == row.department.uscc and status["status_index"] == row.status_index
    assert status["status_list"].endswith(f"/api/v1/status/{row.department.uscc}")
    assert json.loads(files[METADATA_ATTACHMENT])["ZZBS"] == row.identifier
    xmp = reader.root["/Metadata"].get_object().data.decode()
    assert re.search(r'dc:identifier(="|>)' + re.escape(row.identifier) + '("|</dc:identifier>)', xmp), xmp
    assert row.identifier in str(reader.trailer["/Info"]["/Subject"])


def test_a_good_pdf_passes_every_check(service, issued) -> None:
    row, made = issued
    assert detect_kind(made.content) == "pdf"
    report = _verify(service, made.content)
    assert report.indication.value == "PASSED", report.as_dict()
    results = _results(report)
    for name in (
        "pdf.format",
        "pdf.signatures",
        "pdf.byte_range",
        "pdf.coverage",
        "cms.signature",
        "cms.signed_attributes.message_digest",
        "signature.timestamp",
        "signer.path",
        "pdf.signer_issuer",
        "metadata",
        "metadata.signature",
        "pdf.identifier",
        "licence.status",
    ):
        assert results[name] == "passed", (name, report.as_dict())
    assert report.object["kind"] == "pdf" and report.object["identifier"] == row.identifier
    assert report.object["coverage"] == "ENTIRE_FILE"
    assert report.status_now["licence"]["status"] == "active"
    assert report.trust_path[-1]["trust_anchor"] and report.trust_path[-1]["region"] == "320000"
    # without our records the chain is unknown and the status unchecked: never a false PASSED
    alone = verify_bytes(made.content, trust=NO_TRUST)
    assert alone.indication.value == "INDETERMINATE" and alone.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert _results(alone)["licence.status"] == "skipped"


def _flip(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


def test_any_changed_byte_fails_verification(service, issued) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    data = issued[1].content
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    _, gap_start, gap_end, _ = (int(v) for v in sig.byte_range)
    hex_text = data[gap_start + 1 : gap_end - 1]
    der_end = gap_start + 1 + 2 * len(sig.pkcs7_content.rstrip(b"\0"))
    first_letter = gap_start + 1 + re.search(rb"[a-fA-F]", hex_text).start()
    page_content = data.index(b"stream", data.index(b"/FlateDecode")) + 20
    cases = {
        "page content (signed)": _flip(data, page_content),
        "header": _flip(data, 3),
        "CMS inside /Contents": _flip(data, gap_start + 200),
        "zero padding of /Contents": data[: der_end + 10] + b"1" + data[der_end + 11 :],
        "hex digit case in /Contents": data[:first_letter]
        + data[first_letter : first_letter + 1].swapcase()
        + data[first_letter + 1 :],
        "last byte": _flip(data, len(data) - 1),
        "appended byte": data + b"\n",
        "truncated": data[:-1],
    }
    rng = random.Random(20261130)
    for pos in rng.sample(range(len(data)), 12):
        cases[f"random byte {pos}"] = _flip(data, pos)
    for what, changed in cases.items():
        assert changed != data
        report = _verify(service, changed)
        assert report.indication.value == "FAILED", (what, report.as_dict())
        assert report.failed_checks(), what
    # the unchanged file still passes (the loop did not break the fixture)
    assert _verify(service, data).indication.value == "PASSED"


def test_revoked_licence_pdf_and_record_verify_as_revoked(service, issued, client) -> None:
    row, made = issued
    revoke_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="吊销营业执照")
    assert get_licence(service, row.identifier).status == "revoked"
    report = _verify(service, made.content)
    assert (report.indication.value, report.sub_indication) == ("FAILED", "REVOKED")
    assert _results(report)["licence.status"] == "failed"
    assert _results(report)["cms.signature"] == "passed"  # the file itself is intact
    assert report.status_now["licence"]["status"] == "revoked"
    over_http = client.post("/api/v1/verify", data={"file": (io.BytesIO(made.content), "licence.pdf")}).get_json()
    assert (over_http["indication"], over_http["sub_indication"]) == ("FAILED", "REVOKED")
    assert over_http["object"]["kind"] == "pdf"
    # the stored file is kept as issued
    assert ensure_licence_file(service, row.identifier).content == made.content


def test_cli_verify_of_a_licence_pdf_prints_the_report_and_exits_by_indication(
    service, service_env: dict[str, str], issued, tmp_path: Path
) -> None:
    """`trustsvc verify LICENCE.pdf`: a licence PDF's ``object.signatures`` is a count, not a
    list of reports; printing must not crash after PASSED, and the exit code is 0 / 1."""
    from click.testing import CliRunner

    from trustsvc.cli import cli

    row, made = issued
    path = tmp_path / "licence.pdf"
    path.write_bytes(made.content)
    result = CliRunner().invoke(cli, ["verify", str(path)], env=service_env)
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.output.startswith("PASSED")
    assert '"kind": "pdf"' in result.output and '"signatures": 1' in result.output
    assert "now licence:" in result.output and '"status": "active"' in result.output
    revoke_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="吊销营业执照")
    revoked = CliRunner().invoke(cli, ["verify", str(path)], env=service_env)
    assert revoked.exit_code == 1, (revoked.output, revoked.exception)
    assert revoked.output.startswith("FAILED (REVOKED)") and '"status": "revoked"' in revoked.output


def test_superseded_version_keeps_its_file_and_verifies_as_superseded(service, issued) -> None:
    row, made = issued
    newer = change_licence(
        service, row.identifier, principal_or_actor=SystemActor("test"), fields={"legal_representative": "李四"}
    )
    new_file = ensure_licence_file(service, newer.identifier)
    assert new_file.content != made.content
    assert ensure_licence_file(service, row.identifier).content == made.content
    old = _verify(service, made.content)
    assert (old.indication.value, old.sub_indication) == ("FAILED", "REVOKED")
    assert newer.identifier in next(c.detail for c in old.checks if c.name == "licence.status")
    assert _verify(service, new_file.content).indication.value == "PASSED"


def test_no_file_is_made_for_a_licence_that_is_no_longer_active(service, seal) -> None:
    row = issue_licence(
        service, request_from_json(food_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    revoke_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="错误发证")
    with pytest.raises(ConflictError) as exc:
        ensure_licence_file(service, row.identifier)
    assert exc.value.code == "licence_not_active"
    with service.db.reader() as s:
        assert s.execute(select(func.count()).select_from(LicenceFileRecord)).scalar_one() == 0


def test_concurrent_callers_end_with_one_stored_file(service, seal) -> None:
    row = issue_licence(
        service, request_from_json(food_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    results: list[bytes] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def make() -> None:
        try:
            barrier.wait()
            results.append(ensure_licence_file(service, row.identifier, actor="test").content)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 4 and len(set(results)) == 1
    with service.db.reader() as s:
        stored = s.execute(select(LicenceFileRecord)).scalars().all()
        made = s.execute(
            select(func.count()).select_from(AuditEventRecord).where(AuditEventRecord.action == "licence.file")
        ).scalar_one()
    assert len(stored) == 1 and stored[0].content == results[0] and made == 1
    assert ensure_licence_file(service, row.identifier).content == results[0]


def test_food_licence_renders_its_own_layout(service, seal, tmp_path: Path) -> None:
    pdftotext = poppler_tool("pdftotext")
    row, made = _issue(service, food_body())
    path = tmp_path / "food.pdf"
    path.write_bytes(made.content)
    text = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, encoding="utf-8", check=True
    ).stdout
    for expected in (
        "许可证编号：JY23201040000012",
        "日常监督管理机构",
        "李四",
        "公民身份号码",
        "2026年01月01日 至 2030年12月31日",
        row.identifier,
    ):
        assert expected in text, expected
    assert _verify(service, made.content).indication.value == "PASSED"


def test_signed_data_is_cms_our_own_verifier_reads(issued) -> None:
    """The /Contents CMS is what ca.cms verifies everywhere else (not a pyHanko-only shape)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from ca.cms import verify_cms

    data = issued[1].content
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    der = cms.ContentInfo.load(bytes(sig.pkcs7_content)).dump()
    _, a, b, c = (int(v) for v in sig.byte_range)
    result = verify_cms(der, detached_content=data[:a] + data[b : b + c])
    assert result.valid and result.shape == "detached_signed_attributes" and result.digest_algorithm == "sm3"


def test_qr_slot_carries_the_versions_static_code_which_verifies(service, issued, tmp_path: Path) -> None:
    """What a verifier scans off the printed licence is the same static code the API serves,
    and it verifies online against this service."""
    import datetime

    import zxingcpp
    from PIL import Image

    from trustsvc.codes.service import static_code_text
    from trustsvc.federation.snapshot import build_snapshot
    from trustsvc.verifier import OnlineCodes, verify_code

    row, made = issued
    path = tmp_path / "licence.pdf"
    path.write_bytes(made.content)
    subprocess.run(
        [poppler_tool("pdftoppm"), "-r", "150", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True
    )
    found = [
        b.text
        for b in zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
        if b.format == zxingcpp.BarcodeFormat.QRCode
    ]
    assert found == [static_code_text(service, row.identifier)]
    report = verify_code(
        build_snapshot(service.db, grace=datetime.timedelta(days=1)), found[0], online=OnlineCodes(service.db)
    )
    assert report.indication.value == "PASSED", report.as_dict()
