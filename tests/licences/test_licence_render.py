"""The licence face renderer and its declarative layouts: every catalogue type has a layout,
layouts are checked strictly, the QR slot holds a code a scanner reads back, long fields shrink
to fit and the font is configurable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from pdf_tools import poppler_tool

from trustsvc.errors import ConfigurationError, InvalidInputError
from trustsvc.formats.seals.picture import round_seal_picture
from trustsvc.licences.catalogue import DEMO_TYPES
from trustsvc.licences.layout import LAYOUT_DIR, load_layout
from trustsvc.licences.render import LicenceFace, render_licence_pdf

CODE = "TS1:6BF+:7OAQ$G9D3H0N4T9CA.D2DYQ6R7E$J9LYK-CBGQO0:KCE30D0UE*1SUDLU9ZIAI9IRD0B:C6PMI6JR"


@pytest.fixture(scope="module")
def face() -> LicenceFace:
    return LicenceFace(
        type_name="营业执照",
        identifier="1.2.156.3005.2.11100000MB0143028R001.11320000MB0000001G.20260000001.001.9",
        holder_name="江苏某某科技有限公司",
        holder_id_label="统一社会信用代码",
        holder_id="91320100MA1ABCDE0X",
        fields=(("名称", "江苏某某科技有限公司"), ("经营范围", "软件开发")),
        valid_from=dt.date(2020, 5, 1),
        valid_until=None,
        department_name="江苏省市场监督管理局",
        issue_date=dt.date(2026, 11, 30),
        seal_picture=round_seal_picture("江苏省市场监督管理局", center_text="证照专用章"),
    )


def _page_image(pdf: bytes, tmp_path: Path):
    from PIL import Image

    pdftoppm = poppler_tool("pdftoppm")
    (tmp_path / "face.pdf").write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-r", "150", "-png", "-singlefile", str(tmp_path / "face.pdf"), str(tmp_path / "face")], check=True
    )
    return Image.open(tmp_path / "face.png")


def test_every_catalogue_type_has_a_valid_layout() -> None:
    for ltype in DEMO_TYPES:
        layout = load_layout(ltype.template)
        assert layout.name == ltype.template
        if layout.badge.field:
            assert layout.badge.field in ltype.by_name, (ltype.template, layout.badge.field)


def test_layouts_are_checked_strictly(tmp_path: Path) -> None:
    good = (LAYOUT_DIR / "business_licence.toml").read_text(encoding="utf-8")
    cases = {
        "typo": good.replace("[qr]\n", "[qr]\nsize_mn = 3\n"),
        "section": good + "\n[watermark]\ntext = 'x'\n",
        "colour": good.replace('frame = "#B8860B"', 'frame = "gold"'),
        "rows": good.replace('rows = ["holder", "fields", "validity"]', 'rows = ["holder", "photo"]'),
        "type": good.replace("size_mm = 40", 'size_mm = "40"'),
        "offpage": good.replace("left_mm = 228", "left_mm = 280"),
    }
    for name, text in cases.items():
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError) as exc:
            load_layout(name, tmp_path)
        assert exc.value.code == "licence_layout_invalid", name
    with pytest.raises(ConfigurationError) as missing:
        load_layout("no_such_layout", tmp_path)
    assert missing.value.code == "licence_layout_missing"


def test_qr_slot_holds_the_code_text_a_scanner_reads_back(face, tmp_path: Path) -> None:
    import zxingcpp

    layout = load_layout("business_licence")
    with_code = _page_image(render_licence_pdf(face, layout, code_text=CODE), tmp_path)
    found = zxingcpp.read_barcodes(with_code)
    assert [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode] == [CODE]
    empty = _page_image(render_licence_pdf(face, layout), tmp_path)
    assert not [b for b in zxingcpp.read_barcodes(empty) if b.format == zxingcpp.BarcodeFormat.QRCode]
    with pytest.raises(InvalidInputError) as exc:
        render_licence_pdf(face, layout, code_text="")
    assert exc.value.code == "invalid_code_text"


def test_empty_slot_says_scan_to_verify(face, tmp_path: Path) -> None:
    pdftotext = poppler_tool("pdftotext")
    (tmp_path / "f.pdf").write_bytes(render_licence_pdf(face, load_layout("business_licence")))
    text = subprocess.run(
        [pdftotext, str(tmp_path / "f.pdf"), "-"], capture_output=True, text=True, encoding="utf-8", check=True
    ).stdout
    assert "扫码核验" in text and "江苏某某科技有限公司" in text and face.identifier in text


def test_long_fields_shrink_and_too_long_ones_are_refused(face) -> None:
    layout = load_layout("business_licence")
    long_scope = dataclasses.replace(face, fields=(("经营范围", "软件开发；" * 400),))
    assert render_licence_pdf(long_scope, layout).startswith(b"%PDF-")
    absurd = dataclasses.replace(face, fields=tuple((f"字段{i}", "很长的内容" * 200) for i in range(30)))
    with pytest.raises(InvalidInputError) as exc:
        render_licence_pdf(absurd, layout)
    assert exc.value.code == "licence_face_overflow"


def test_licence_font_is_configurable(face, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRUSTSVC_LICENCE_FONT", str(tmp_path / "missing.ttf"))
    with pytest.raises(ConfigurationError) as exc:
        render_licence_pdf(face, load_layout("business_licence"))
    assert exc.value.code == "font_missing"
    not_a_font = tmp_path / "bad.ttf"
    not_a_font.write_bytes(b"not a font at all")
    with pytest.raises(ConfigurationError) as bad:
        render_licence_pdf(face, load_layout("business_licence"), font_path=not_a_font)
    assert bad.value.code == "font_unusable"


def test_unsigned_and_broken_pdfs_fail_without_raising(face) -> None:
    from trustsvc.formats.trust import NO_TRUST
    from trustsvc.verify import verify_bytes

    unsigned = render_licence_pdf(face, load_layout("business_licence"))
    report = verify_bytes(unsigned, trust=NO_TRUST)
    assert (report.indication.value, report.sub_indication) == ("FAILED", "FORMAT_FAILURE")
    assert {c.name: c.result for c in report.checks}["pdf.signatures"] == "failed"
    for junk in (b"%PDF-1.7\n", b"%PDF-1.7\n" + bytes(range(256)) * 8, unsigned[: len(unsigned) // 2]):
        broken = verify_bytes(junk, trust=NO_TRUST)
        assert broken.object["kind"] == "pdf" and broken.indication.value == "FAILED", broken.as_dict()


def _rgb_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 30, 40)).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.parametrize("kind", ["png_with_alpha", "jpeg"])
def test_prepared_seal_picture_draws_what_draw_image_draws(kind: str) -> None:
    """The picture prepared once and reused (trustsvc.licences.pdf_picture) writes, in every
    document, the bytes reportlab's own drawImage writes for it."""
    import io

    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    from trustsvc.licences.pdf_picture import draw_picture, prepared_picture

    data = round_seal_picture("江苏省市场监督管理局").data if kind == "png_with_alpha" else _rgb_jpeg()

    def page(draw) -> bytes:
        canvas = Canvas(io.BytesIO(), pagesize=(600, 400), invariant=1)
        canvas.drawString(10, 10, "before")
        draw(canvas, 40, 50, 120, 90)
        draw(canvas, 300, 50, 80, 80)  # twice in one document: one XObject
        canvas.showPage()
        return canvas.getpdfdata()

    expected = page(
        lambda c, *box: c.drawImage(ImageReader(io.BytesIO(data)), *box, mask="auto", preserveAspectRatio=True)
    )
    for _ in range(2):  # the second document reuses the prepared XObjects
        assert page(lambda c, *box: draw_picture(c, prepared_picture(data), *box)) == expected
    assert (b"/SMask" in expected) is (kind == "png_with_alpha")


def test_a_seal_picture_that_is_no_picture_is_refused(face) -> None:
    from trustsvc.licences.face_plan import plan_face
    from trustsvc.licences.render import licence_font_path, render_plan_pdf

    plan = plan_face(face, load_layout("business_licence"), font_path=licence_font_path())
    broken = dataclasses.replace(plan, seal=dataclasses.replace(plan.seal, data=b"\x89PNG not a picture"))
    with pytest.raises(ConfigurationError) as exc:
        render_plan_pdf(broken)
    assert exc.value.code == "seal_picture_unusable"
