"""The sealed licence OFD: every shipped type renders, verifies PASSED and is read by an OFD
reader we did not write (ofdkit); what the seal covers and how tampering fails; the SES
signature checked by the gmalg oracle; the file served over the API, the console and the CLI."""

from __future__ import annotations

import base64
import io
import re
import time
import zipfile
from functools import partial
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import gmalg
import ofdkit
import pytest
from licence_helpers import DEPT, bearer, business_body
from schema_bodies import body_from_schema

import hsm
from hsm.encoding import decode_signature, parse_spki
from trustsvc.apikeys import SystemActor
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.formats.seals.parse import parse_ses_signature
from trustsvc.formats.seals.picture import round_seal_picture
from trustsvc.licences.catalogue import NATIONAL_TYPES
from trustsvc.licences.files import OFD_MEDIA_TYPE, ensure_licence_file, licence_face
from trustsvc.licences.ofd_sign import SEAL_FILE, SIGNATURE_XML, SIGNED_VALUE
from trustsvc.licences.service import find_licence, issue_licence, request_from_json, revoke_licence
from trustsvc.licences.status import licence_status
from trustsvc.verify import detect_kind, verify_bytes

CONTENT = "Doc_0/Pages/Page_0/Content.xml"
DOCUMENT = "Doc_0/Document.xml"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the file format, not the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def _issue(service, body: dict | None = None) -> tuple[Any, bytes]:
    row = issue_licence(
        service,
        request_from_json(body or business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
    )
    made = ensure_licence_file(service, row.identifier, actor="test", media_type=OFD_MEDIA_TYPE)
    assert made.media_type == OFD_MEDIA_TYPE and made.filename.endswith(".ofd")
    return row, made.content


def _verify(service, data: bytes):
    return verify_bytes(data, trust=local_trust_context(service.db), status_lookup=partial(licence_status, service.db))


def _results(report) -> dict[str, str]:
    return {c.name: c.result for c in report.checks}


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _repack(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _squeeze(text: str) -> str:
    return "".join(text.split())


@pytest.fixture
def issued(service, seal) -> tuple[Any, bytes]:
    return _issue(service)


def test_the_package_is_laid_out_as_ofdrw_and_gbt_36905_expect(issued) -> None:
    _, data = issued
    assert detect_kind(data) == "ofd"
    members = _members(data)
    assert next(iter(members)) == "OFD.xml"
    for name in (
        "Doc_0/Document.xml",
        "Doc_0/PublicRes.xml",
        "Doc_0/Res/font_1.ttf",
        CONTENT,
        "Doc_0/Attachs/Attachments.xml",
        "Doc_0/Attachs/licence-metadata.json",
        "Doc_0/Attachs/licence-metadata.ses",
        "Doc_0/Attachs/licence-status.json",
        "Doc_0/Signs/Signatures.xml",
        SIGNATURE_XML,
        SEAL_FILE,
        SIGNED_VALUE,
    ):
        assert name in members, name
    # the font is a subset (not the whole CJK collection) mapped by Unicode
    assert 1_000 < len(members["Doc_0/Res/font_1.ttf"]) < 1_000_000
    sig_xml = members[SIGNATURE_XML].decode()
    refs = re.findall(r'FileRef="([^"]+)"', sig_xml)
    assert sorted(refs) == sorted("/" + n for n in members if n not in (SIGNATURE_XML, SIGNED_VALUE))
    assert 'CheckMethod="1.2.156.10197.1.401"' in sig_xml and "1.2.156.10197.1.501" in sig_xml
    assert re.search(r'<ofd:StampAnnot ID="1" PageRef="2" Boundary="[\d. ]+"/>', sig_xml)
    for ref, value in re.findall(r'FileRef="/([^"]+)"><ofd:CheckValue>([^<]+)<', sig_xml):
        assert base64.b64decode(value) == hsm.sm3(members[ref]), ref
    ses = parse_ses_signature(members[SIGNED_VALUE])
    assert ses.version == "v4" and ses.property_info == "/" + SIGNATURE_XML
    assert ses.data_hash == hsm.sm3(members[SIGNATURE_XML])
    assert ses.seal_der == members[SEAL_FILE] and ses.time_stamp is not None  # the region TSA's token


def test_a_good_ofd_passes_every_check_and_names_the_licence(service, issued) -> None:
    row, data = issued
    report = _verify(service, data)
    assert report.passed, [c for c in report.checks if c.failed]
    results = _results(report)
    for name in (
        "ofd.signatures",
        "ofd.coverage",
        "metadata.signature",
        "ofd.custom_data",
        "ofd.signer_issuer",
        "licence.status",
        "signature.references",
        "signature.seal_file",
        "signature.ses.signature.value",
        "signature.ses.signature.timestamp",
        "signature.ses.seal.signature",
        "signature.ses.signer.path",
        "signature.ses.seal.maker.path",
        "signature.ses.signature.data_hash",
    ):
        assert results.get(name) == "passed", (name, results.get(name))
    refs = [n for n in results if n.startswith("signature.references[")]
    assert len(refs) == len(_members(data)) - 2 and all(results[n] == "passed" for n in refs)
    assert report.object["kind"] == "ofd" and report.object["identifier"] == row.identifier
    assert report.object["licence"] == row.identifier and report.object["type_name"] == "营业执照"
    assert report.object["issuer"] == DEPT and report.object["issuer_name"] == "江苏省市场监督管理局"
    assert report.status_now["licence"]["status"] == "active"
    assert any(t.get("trust_anchor") for t in report.trust_path)


def _subpaths(data: str) -> list[list[tuple[float, float]]]:
    """The closed polygons of OFD AbbreviatedData made of ``M``, ``L`` and ``C`` only."""
    polygons: list[list[tuple[float, float]]] = []
    tokens = data.split()
    at = 0
    while at < len(tokens):
        op = tokens[at]
        if op == "C":
            at += 1
            continue
        assert op in ("M", "L"), op
        point = (float(tokens[at + 1]), float(tokens[at + 2]))
        if op == "M":
            polygons.append([point])
        else:
            polygons[-1].append(point)
        at += 3
    return polygons


def test_the_qr_path_filled_is_the_static_code_a_scanner_reads(service, issued) -> None:
    """The QR is page content (one filled path), not a picture: drawn as a reader fills it, it
    scans back to the licence's static service code."""
    import zxingcpp
    from PIL import Image, ImageDraw

    from trustsvc.codes.service import static_code_text

    row, data = issued
    ns = {"ofd": "http://www.ofdspec.org/2016"}
    qr = ElementTree.fromstring(_members(data)[CONTENT]).find(".//ofd:PathObject[@Rule='NonZero']", ns)
    assert qr is not None and qr.get("Fill") == "true" and qr.get("CTM") is None
    _, _, width, height = (float(v) for v in (qr.get("Boundary") or "").split())
    px = 12  # per mm: a module is several pixels
    image = Image.new("L", (round(width * px), round(height * px)), 255)
    draw = ImageDraw.Draw(image)
    for polygon in _subpaths(qr.findtext("ofd:AbbreviatedData", "", ns)):
        draw.polygon([(x * px, y * px) for x, y in polygon], fill=0)
    found = zxingcpp.read_barcodes(image)
    assert [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode] == [
        static_code_text(service, row.identifier)
    ]


@pytest.mark.parametrize("ltype", NATIONAL_TYPES, ids=lambda t: t.template)
def test_every_shipped_type_renders_as_ofd_verifies_and_ofdkit_reads_every_field(
    service, seal, client, keys, ltype
) -> None:
    admin = bearer(keys["admin"])
    body = body_from_schema(ltype.schema(), department=DEPT)
    created = client.post("/api/v1/licences", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    ident = created.get_json()["id"]
    got = client.get(f"/api/v1/licences/{ident}/file?format=ofd", headers=admin)
    assert got.status_code == 200 and got.mimetype == OFD_MEDIA_TYPE, got.data[:300]
    report = client.post("/api/v1/verify", data=got.data, content_type=OFD_MEDIA_TYPE).get_json()
    assert report["indication"] == "PASSED", [c for c in report["checks"] if c["result"] == "failed"]
    assert report["object"]["identifier"] == ident
    # an independent reader: one page, every field's label and value, the identifier
    with ofdkit.open(got.data) as doc:
        assert len(doc.pages) == 1
        runs = doc.pages[0].runs
        text = _squeeze("".join(run.text for run in runs))
        custom = doc.info.custom_data
    assert custom["ZZBS"] == ident and custom["ZZMC"] == ltype.name
    with service.db.reader() as session:
        row = find_licence(session, ident)
        face = licence_face(row, "320000", None, ltype, seal_picture=round_seal_picture("江苏省市场监督管理局"))
    rows = list(face.fields) + list(face.holder_rows or ()) + ([face.badge] if face.badge else [])
    assert rows
    missing = [(label, value) for label, value in rows if _squeeze(label) not in text or _squeeze(value) not in text]
    assert not missing, missing
    assert ident in text and _squeeze(ltype.name) in text
    # the data index: each row's metadata code names the text objects that print its value
    by_id = {run.object_id: run.text for run in runs}
    tags = ElementTree.fromstring(_members(got.data)["Doc_0/Tags/Tag_Licence.xml"])
    tagged = {el.tag.rsplit("}", 1)[1]: _squeeze("".join(by_id[ref.text or ""] for ref in el)) for el in tags}
    codes = dict(face.label_codes)
    untagged = [(label, value) for label, value in rows if _squeeze(value) not in tagged.get(codes.get(label, ""), "")]
    assert not untagged, untagged
    assert ident in tagged["ZZBS"] and tagged["ZZBFJG"] == _squeeze(face.department_name)


def _tampered(service, data: bytes, change) -> Any:
    members = _members(data)
    change(members)
    return _verify(service, _repack(members))


def test_one_changed_byte_in_the_page_content_fails_with_hash_failure(service, issued) -> None:
    _, data = issued

    def change(members: dict[str, bytes]) -> None:
        content = bytearray(members[CONTENT])
        at = content.index(b"<ofd:TextCode") + content[content.index(b"<ofd:TextCode") :].index(b">") + 1
        content[at + 2] ^= 0x01  # inside the first text (the title): still well-formed UTF-8
        members[CONTENT] = bytes(content)

    report = _tampered(service, data, change)
    assert (report.indication.value, report.sub_indication) == ("FAILED", "HASH_FAILURE")
    assert _results(report)[f"signature.references[/{CONTENT}]"] == "failed"
    assert _results(report)["signature.ses.signature.value"] == "passed"  # the seal itself is intact


def test_a_removed_reference_fails_with_hash_failure(service, issued) -> None:
    _, data = issued

    def change(members: dict[str, bytes]) -> None:
        xml = members[SIGNATURE_XML].decode()
        members[SIGNATURE_XML] = re.sub(
            rf'<ofd:Reference FileRef="/{re.escape(CONTENT)}">.*?</ofd:Reference>', "", xml
        ).encode()
        assert members[SIGNATURE_XML] != xml.encode()

    report = _tampered(service, data, change)
    assert (report.indication.value, report.sub_indication) == ("FAILED", "HASH_FAILURE")
    results = _results(report)
    assert results["signature.ses.signature.data_hash"] == "failed"  # Signature.xml is what the seal signed
    assert results["ofd.coverage"] == "failed" and f"/{CONTENT}" in report.object["uncovered"]


def test_a_signed_value_swapped_in_from_another_licence_fails_with_hash_failure(service, issued) -> None:
    _, data = issued
    body = business_body()
    body["fields"] = {**body["fields"], "legal_representative": "李四"}
    _, other = _issue(service, body)
    report = _tampered(service, data, lambda m: m.update({SIGNED_VALUE: _members(other)[SIGNED_VALUE]}))
    assert (report.indication.value, report.sub_indication) == ("FAILED", "HASH_FAILURE")
    results = _results(report)
    assert results["signature.ses.signature.value"] == "passed"  # a genuine seal, over another document
    assert results["signature.ses.signature.data_hash"] == "failed"


def test_an_added_page_fails_with_hash_failure(service, issued) -> None:
    _, data = issued

    def change(members: dict[str, bytes]) -> None:
        doc = members[DOCUMENT].decode()
        members[DOCUMENT] = doc.replace(
            "</ofd:Pages>", '<ofd:Page ID="9999" BaseLoc="Pages/Page_1/Content.xml"/></ofd:Pages>'
        ).encode()
        members["Doc_0/Pages/Page_1/Content.xml"] = members[CONTENT].replace("营业执照".encode(), "作废声明".encode())

    report = _tampered(service, data, change)
    assert (report.indication.value, report.sub_indication) == ("FAILED", "HASH_FAILURE")
    results = _results(report)
    assert results[f"signature.references[/{DOCUMENT}]"] == "failed"
    assert results["ofd.coverage"] == "failed" and "/Doc_0/Pages/Page_1/Content.xml" in report.object["uncovered"]
    # and a page slipped in without touching Document.xml is still a part nobody sealed
    members = _members(data)
    members["Doc_0/Pages/Page_1/Content.xml"] = members[CONTENT]
    sneaked = _verify(service, _repack(members))
    assert (sneaked.indication.value, sneaked.sub_indication) == ("FAILED", "HASH_FAILURE")
    assert _results(sneaked)["ofd.coverage"] == "failed"


def test_a_revoked_licence_ofd_verifies_as_revoked(service, issued) -> None:
    row, data = issued
    revoke_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="吊销营业执照")
    report = _verify(service, data)
    assert (report.indication.value, report.sub_indication) == ("FAILED", "REVOKED")
    assert _results(report)["signature.ses.signature.value"] == "passed"
    # the stored file is kept as issued
    assert ensure_licence_file(service, row.identifier, media_type=OFD_MEDIA_TYPE).content == data


def test_the_ses_signature_verifies_in_the_gmalg_oracle(issued) -> None:
    """gmalg, an independent pure-Python SM2/SM3: the signer's signature over DER(TBS_Sign), the
    maker's over DER(SES_SealInfo), and dataHash = SM3(Signature.xml)."""
    from ca.certs import parse_certificate

    members = _members(issued[1])
    ses = parse_ses_signature(members[SIGNED_VALUE])

    def verifies(cert_der: bytes, message: bytes, der_signature: bytes) -> bool:
        point = parse_spki(parse_certificate(cert_der).spki).point
        r, s = decode_signature(der_signature)
        oracle = gmalg.SM2(pk=point, uid=hsm.DEFAULT_SM2_ID)
        return bool(
            oracle.verify(
                message, r.to_bytes((r.bit_length() + 7) // 8, "big"), s.to_bytes((s.bit_length() + 7) // 8, "big")
            )
        )

    assert ses.signature is not None and ses.seal.signed_value is not None
    assert verifies(ses.signer_cert, ses.signed_bytes, ses.signature)
    assert not verifies(ses.signer_cert, ses.signed_bytes + b"\x00", ses.signature)
    assert verifies(ses.seal.maker_cert, ses.seal.signed_bytes, ses.seal.signed_value)
    sm3 = gmalg.SM3()
    sm3.update(members[SIGNATURE_XML])
    assert sm3.value() == ses.data_hash


def test_the_api_serves_the_ofd_by_format_or_accept_and_refuses_other_formats(service, seal, client, keys) -> None:
    admin = bearer(keys["admin"])
    created = client.post("/api/v1/licences", json=business_body(department=DEPT), headers=admin).get_json()
    url = f"/api/v1/licences/{created['id']}/file"
    by_param = client.get(url + "?format=ofd", headers=admin)
    by_accept = client.get(url, headers={**admin, "Accept": "application/ofd"})
    pdf = client.get(url, headers={**admin, "Accept": "*/*"})
    assert by_param.status_code == by_accept.status_code == pdf.status_code == 200
    assert by_param.data == by_accept.data and by_param.mimetype == OFD_MEDIA_TYPE
    assert by_param.headers["Content-Disposition"].endswith('.ofd"') and pdf.mimetype == "application/pdf"
    assert by_param.headers["ETag"] != pdf.headers["ETag"]
    again = client.get(url + "?format=ofd", headers={**admin, "If-None-Match": by_param.headers["ETag"]})
    assert again.status_code == 304
    bad = client.get(url + "?format=docx", headers=admin)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_format"
    # a verifier reads what was made, and may not cause a file to be made
    verifier = bearer(keys["verifier"])
    assert client.get(url + "?format=ofd", headers=verifier).data == by_param.data


def test_the_cli_writes_the_ofd_and_verifies_it(service, service_env: dict[str, str], seal, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trustsvc.cli import cli

    row = issue_licence(
        service, request_from_json(business_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    out = tmp_path / "licence.ofd"
    made = CliRunner().invoke(
        cli, ["licence", "file", row.identifier, "--format", "ofd", "--out", str(out)], env=service_env
    )
    assert made.exit_code == 0, (made.output, made.exception)
    assert detect_kind(out.read_bytes()) == "ofd"
    checked = CliRunner().invoke(cli, ["verify", str(out), "--json"], env=service_env)
    assert checked.exit_code == 0, (checked.output, checked.exception)
    assert '"kind": "ofd"' in checked.output and row.identifier in checked.output
    revoke_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="吊销营业执照")
    revoked = CliRunner().invoke(cli, ["verify", str(out)], env=service_env)
    assert revoked.exit_code == 1 and revoked.output.startswith("FAILED (REVOKED)"), revoked.output


def test_random_byte_changes_never_raise_and_pass_only_when_no_part_changed(service, issued) -> None:
    import random

    _, data = issued
    original = _members(data)
    rng = random.Random(15)
    for _ in range(40):
        changed = bytearray(data)
        at = rng.randrange(len(changed))
        changed[at] ^= 1 << rng.randrange(8)
        report = _verify(service, bytes(changed))  # never raises
        if report.passed:
            assert _members(bytes(changed)) == original, at  # only zip bookkeeping (a time) moved


def test_an_ofd_made_after_the_seal_stopped_is_sealed_with_the_departments_default_or_not_at_all(service, seal) -> None:
    """An OFD applies the seal anew: never a suspended seal; the department's default instead, and
    409 when that one may not be applied either."""
    from trustsvc.errors import ConflictError
    from trustsvc.seal_lifecycle import set_default_seal, suspend_seal
    from trustsvc.sealing import SealRequest, make_department_seal

    first = issue_licence(
        service, request_from_json(business_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    time.sleep(1.1)  # seal times are whole seconds: the metadata's seal dates from before the suspension
    suspend_seal(service, seal.esid, reason="挂失 (test)", actor="test")
    with pytest.raises(ConflictError) as refused:
        ensure_licence_file(service, first.identifier, actor="test", media_type=OFD_MEDIA_TYPE)
    assert refused.value.code == "seal_suspended"
    other = make_department_seal(
        service, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章"), actor="test"
    )
    set_default_seal(service, DEPT, other.esid, actor="test")
    made = ensure_licence_file(service, first.identifier, actor="test", media_type=OFD_MEDIA_TYPE)
    assert parse_ses_signature(_members(made.content)[SIGNED_VALUE]).seal.es_id == other.esid
    assert _verify(service, made.content).passed
