"""Drawing a licence's face (照面) as a one-page PDF with reportlab, from its type's layout.

The page shows the type name, the holder, every field of the type with its printed label, the
validity, the issuing department with the department's seal picture over its name, the issue
date, the GB/T 36904 identifier and a framed QR slot: with ``code_text`` the slot holds that
text as a QR code (zxing-cpp draws the module matrix, reportlab paints it as vector squares),
without it the frame says 扫码核验.

Where everything goes is decided once, by :func:`trustsvc.licences.face_plan.plan_face`; this
module only draws the plan, as :mod:`trustsvc.licences.ofd_write` does for OFD, so the two
files show the same face.

Chinese text: the CJK TrueType font that seal pictures use (:func:`find_cjk_font`, i.e. Debian's
``fonts-wqy-zenhei`` or ``TRUSTSVC_SEAL_FONT``; ``TRUSTSVC_LICENCE_FONT`` overrides it for
licences) is embedded as a *subset* (reportlab embeds only the glyphs used, with a ToUnicode
map), so the file renders anywhere and its text can be extracted and searched.

The result is unsigned; :mod:`trustsvc.licences.pdf_sign` embeds the metadata and signs it.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..formats.seals.errors import SealPictureError
from ..formats.seals.model import SealPicture
from ..formats.seals.picture import find_cjk_font
from .face_plan import MAX_CODE_TEXT, PT_PER_MM, FacePlan, plan_face
from .layout import LicenceLayout
from .pdf_picture import draw_picture, prepared_picture

__all__ = ["LicenceFace", "render_licence_pdf", "render_plan_pdf", "licence_font_path", "chinese_date", "MAX_CODE_TEXT"]

_MM = PT_PER_MM


@dataclass(frozen=True)
class LicenceFace:
    """Everything printed on a licence (the renderer knows nothing about the database)."""

    type_name: str
    identifier: str
    holder_name: str
    holder_id_label: str
    holder_id: str
    fields: tuple[tuple[str, str], ...]
    """(printed label, value) of each field the licence has, in the type's order."""
    valid_from: dt.date
    valid_until: dt.date | None
    """None: 长期 (no end)."""
    department_name: str
    issue_date: dt.date
    """China date of issue."""
    seal_picture: SealPicture
    badge: tuple[str, str] | None = None
    """(label, value) of the field the layout shows under the title, if any."""
    holder_rows: tuple[tuple[str, str], ...] | None = None
    """The holder's rows; None: 持证主体 and the id (a type whose face names its holder in its own
    fields passes only what the fields do not already say, often nothing)."""
    validity_label: str = "有效期限"
    """营业期限, 有效期至, ...: what the type's own form calls its validity."""
    show_validity: bool = True
    """False for types whose face carries no validity (长期 by nature, or shown by a date field)."""
    label_codes: tuple[tuple[str, str], ...] = ()
    """(printed label, GB/T 36903 metadata code) of the rows: the OFD tags each value with its code."""


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def licence_font_path() -> Path:
    """The CJK font for licence faces: ``TRUSTSVC_LICENCE_FONT``, else the seal pictures' font.

    :raises ConfigurationError: code ``font_missing`` naming what to install.
    """
    override = os.environ.get("TRUSTSVC_LICENCE_FONT")
    if override:
        if not Path(override).is_file():
            raise ConfigurationError(
                f"TRUSTSVC_LICENCE_FONT names {override}, which is not a file", code="font_missing"
            )
        return Path(override)
    try:
        return find_cjk_font()
    except SealPictureError as exc:
        raise ConfigurationError(exc.message, code="font_missing") from exc


def _colour(hex_colour: str) -> Any:
    from reportlab.lib.colors import HexColor

    return HexColor(hex_colour)


def render_plan_pdf(plan: FacePlan) -> bytes:
    """The planned face as an unsigned one-page PDF.

    :raises ConfigurationError: a seal picture that cannot be drawn.
    """
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    canvas = Canvas(
        out,
        pagesize=(plan.width_mm * _MM, plan.height_mm * _MM),
        pageCompression=1,
        lang="zh-CN",
        initialFontName=plan.font_name,
    )
    canvas.setTitle(plan.title)
    canvas.setAuthor(plan.author)
    canvas.setSubject(plan.subject)
    canvas.setKeywords(list(plan.keywords))
    canvas.setCreator("trustsvc")

    def y(top_mm: float) -> float:
        return (plan.height_mm - top_mm) * _MM

    for box in plan.boxes:
        canvas.setStrokeColor(_colour(box.colour))
        canvas.setLineWidth(box.line_width_pt)
        canvas.rect(box.x_mm * _MM, y(box.top_mm + box.height_mm), box.width_mm * _MM, box.height_mm * _MM)
    for run in plan.texts:
        canvas.setFont(plan.font_name, run.size_pt)
        canvas.setFillColor(_colour(run.colour))
        canvas.drawString(run.x_mm * _MM, y(run.baseline_mm), run.text, charSpace=run.char_space_pt)
    if plan.qr is not None:
        q = plan.qr
        module = q.module_mm * _MM
        canvas.setFillColor(_colour("#000000"))
        # One filled path of one rectangle per horizontal run of dark modules: the same area as
        # a square per module, in a third of the content stream (less to format and compress,
        # and no hairline seams between neighbouring squares in a viewer).
        path = canvas.beginPath()
        for r, row in enumerate(q.matrix):
            bottom = y(q.top_mm + (r + 1 + q.quiet) * q.module_mm)
            col, width = 0, len(row)
            while col < width:
                if not row[col]:
                    col += 1
                    continue
                start = col
                while col < width and row[col]:
                    col += 1
                path.rect((q.x_mm + (start + q.quiet) * q.module_mm) * _MM, bottom, module * (col - start), module)
        canvas.drawPath(path, stroke=0, fill=1)
    seal = plan.seal
    try:
        picture = prepared_picture(seal.data)
    except Exception as exc:
        raise ConfigurationError(
            f"the seal picture ({seal.format}) cannot be drawn: {type(exc).__name__}", code="seal_picture_unusable"
        ) from exc
    draw_picture(
        canvas, picture, seal.x_mm * _MM, y(seal.top_mm + seal.height_mm), seal.width_mm * _MM, seal.height_mm * _MM
    )
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def render_licence_pdf(
    face: LicenceFace, layout: LicenceLayout, *, code_text: str | None = None, font_path: Path | None = None
) -> bytes:
    """The licence face as an unsigned one-page PDF.

    :param code_text: the service code to draw in the QR slot; None draws the empty slot.
    :param font_path: the CJK TrueType font (default :func:`licence_font_path`).
    :raises ConfigurationError: no usable font, or a seal picture that cannot be drawn.
    :raises InvalidInputError: ``invalid_code_text``; ``licence_face_overflow`` for fields too
        long for the page.
    """
    return render_plan_pdf(plan_face(face, layout, font_path=font_path or licence_font_path(), code_text=code_text))
