"""Every shipped type's face, filled with the longest values its schema allows (and a long
issuing authority), read back with ``pdftotext -bbox``: no two pieces of text overlap (only the
seal picture may cover text), nothing leaves the page, and every field label is printed once."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import types
from pathlib import Path

import pytest
from pdf_tools import poppler_tool
from schema_bodies import body_from_schema

from trustsvc.formats.seals.picture import round_seal_picture
from trustsvc.licences.catalogue import NATIONAL_TYPES, LicenceType
from trustsvc.licences.files import licence_face
from trustsvc.licences.render import render_licence_pdf

LONG_AUTHORITY = "江苏省南京市江北新区管理委员会行政审批局（江北新区市场监督管理局）"
CODE = "TS1:" + "6BF+:7OAQ$G9D3H0N4T9CA.D2DYQ6R7E$J9LYK-CBGQO0:KCE30D0UE*1SUDLU9ZIAI9IRD0B:C6PMI6JR" * 4
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')


@pytest.fixture(scope="module")
def seal_picture():
    return round_seal_picture("江苏省市场监督管理局", center_text="证照专用章")


def face_pdf(ltype: LicenceType, seal_picture, *, longest: bool) -> tuple[bytes, dict]:
    """The type's face for a body built from its schema (unsigned: the face is what is tested)."""
    body = body_from_schema(ltype.schema(), longest=longest)
    h = ltype.holder
    holder = body.get("holder", {})
    start = dt.date(2026, 1, 1)
    row = types.SimpleNamespace(
        type_code=ltype.code,
        type_version=None,
        fields=body["fields"],
        holder_id_type=h.id_types[0],
        holder_name=holder.get("name") or body["fields"].get(h.name_field or "", ""),
        holder_id=holder.get("id") or body["fields"].get(h.id_field or "", ""),
        identifier=f"1.2.156.3005.2.{ltype.code}.11320000MB0000001G.20260000001.001.9",
        valid_from=start,
        valid_until=ltype.validity.end_for(start),
        department=types.SimpleNamespace(name=LONG_AUTHORITY),
        issued_at=dt.datetime(2026, 1, 1, 2, tzinfo=dt.UTC),
    )
    face = licence_face(row, "320000", None, ltype, seal_picture=seal_picture)
    assert ltype.layout is not None
    return render_licence_pdf(face, ltype.layout, code_text=CODE), body


def words(pdf: bytes, tmp_path: Path) -> tuple[tuple[float, float], list[tuple[float, float, float, float, str]]]:
    pdftotext = poppler_tool("pdftotext")
    (tmp_path / "face.pdf").write_bytes(pdf)
    out = subprocess.run(
        [pdftotext, "-bbox", str(tmp_path / "face.pdf"), "-"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    ).stdout
    width, height = map(float, _PAGE.search(out).groups())  # type: ignore[union-attr]
    return (width, height), [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in _WORD.findall(out)]


def overlaps(boxes: list[tuple[float, float, float, float, str]], slack: float = 0.3) -> list[tuple[str, str]]:
    found = []
    for i, (ax0, ay0, ax1, ay1, aw) in enumerate(boxes):
        for bx0, by0, bx1, by1, bw in boxes[i + 1 :]:
            if min(ax1, bx1) - max(ax0, bx0) > slack and min(ay1, by1) - max(ay0, by0) > slack:
                found.append((aw, bw))
    return found


@pytest.mark.parametrize("ltype", NATIONAL_TYPES, ids=lambda t: t.template)
def test_the_longest_face_has_no_overlap_and_stays_on_the_page(
    ltype: LicenceType, seal_picture, tmp_path: Path
) -> None:
    pdf, body = face_pdf(ltype, seal_picture, longest=True)
    (width, height), boxes = words(pdf, tmp_path)
    assert boxes
    assert not overlaps(boxes), overlaps(boxes)[:5]
    outside = [w for x0, y0, x1, y1, w in boxes if x0 < 0 or y0 < 0 or x1 > width or y1 > height]
    assert not outside
    # inside the inner frame, too (the frame is what a reader sees as the edge of the licence)
    assert ltype.layout is not None
    inner = (ltype.layout.frame.inset_mm + ltype.layout.frame.inner_gap_mm) * 72 / 25.4
    assert all(
        inner <= x0 and x1 <= width - inner and inner <= y0 and y1 <= height - inner for x0, y0, x1, y1, _ in boxes
    ), [w for x0, y0, x1, y1, w in boxes if not (inner <= x0 and x1 <= width - inner)][:3]
    text = "".join(w for *_, w in boxes)
    labels = [f.label for f in ltype.fields]
    for label in labels:
        inside = (
            sum(str(v).count(label) for v in body["fields"].values())
            + sum(other.count(label) for other in labels if other != label)
            + ltype.name.count(label)
        )
        assert text.count(label) - inside == 1, label


def test_a_long_authority_wraps_beside_the_body_and_the_date_follows_it(seal_picture, tmp_path: Path) -> None:
    business = next(t for t in NATIONAL_TYPES if t.name == "营业执照")
    pdf, _ = face_pdf(business, seal_picture, longest=False)
    _, boxes = words(pdf, tmp_path)
    authority = [b for b in boxes if b[4] and b[4] in LONG_AUTHORITY]
    assert len(authority) >= 2  # wrapped, not squeezed off the page
    date = next(b for b in boxes if b[4] == "2026年01月01日" and b[0] > 500)
    assert date[1] > max(b[3] for b in authority)
    assert any(b[4] == "登记机关" for b in boxes)
    assert any(b[4] == "营业期限" for b in boxes) and not any(b[4] == "有效期限" for b in boxes)
