"""Drawing a licence's face (照面) as a one-page PDF with reportlab, from its type's layout.

The page shows the type name, the holder, every field of the type with its printed label, the
validity, the issuing department with the department's seal picture over its name, the issue
date, the GB/T 36904 identifier and a framed QR slot: with ``code_text`` the slot holds that
text as a QR code (zxing-cpp draws the module matrix, reportlab paints it as vector squares),
without it the frame says 扫码核验.

Chinese text: the CJK TrueType font that seal pictures use (:func:`find_cjk_font`, i.e. Debian's
``fonts-wqy-zenhei`` or ``TRUSTSVC_SEAL_FONT``; ``TRUSTSVC_LICENCE_FONT`` overrides it for
licences) is embedded as a *subset* (reportlab embeds only the glyphs used, with a ToUnicode
map), so the file renders anywhere and its text can be extracted and searched.

The result is unsigned; :mod:`trustsvc.licences.pdf_sign` embeds the metadata and signs it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..errors import ConfigurationError, InvalidInputError
from ..seals.errors import SealPictureError
from ..seals.model import SealPicture
from ..seals.picture import find_cjk_font
from .layout import LicenceLayout

__all__ = ["LicenceFace", "render_licence_pdf", "licence_font_path", "chinese_date", "MAX_CODE_TEXT"]

MAX_CODE_TEXT = 2048
"""Longest service-code text drawn as a QR code (binary mode, error correction M holds ~2.3 kB)."""
_MM = 72.0 / 25.4
_QR_QUIET_MODULES = 2
_register_lock = threading.Lock()


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


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def licence_font_path() -> Path:
    """The CJK font for licence faces: ``TRUSTSVC_LICENCE_FONT``, else the seal pictures' font.

    :raises ConfigurationError: code ``font_missing`` naming what to install.
    """
    override = os.environ.get("TRUSTSVC_LICENCE_FONT")
    if override:
        if not Path(override).is_file():
            raise ConfigurationError(f"TRUSTSVC_LICENCE_FONT names {override}, which is not a file",
                                     code="font_missing")
        return Path(override)
    try:
        return find_cjk_font()
    except SealPictureError as exc:
        raise ConfigurationError(exc.message, code="font_missing") from exc


@functools.lru_cache(maxsize=8)
def _register_font(path: str) -> str:
    """Register ``path`` with reportlab once per process; the font's reportlab name.

    Parsing a CJK collection takes a while, so it is done once; reportlab subsets it per document.
    """
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = "TrustsvcCJK-" + hashlib.sha256(path.encode()).hexdigest()[:12]
    with _register_lock:
        try:
            font = TTFont(name, path, subfontIndex=0) if path.lower().endswith(".ttc") else TTFont(name, path)
        except (TTFError, OSError) as exc:
            raise ConfigurationError(f"the CJK font {path} cannot be embedded ({exc}); use a TrueType (glyf) font "
                                     "such as Debian's fonts-wqy-zenhei", code="font_unusable") from exc
        pdfmetrics.registerFont(font)
    return name


def _colour(hex_colour: str) -> Any:
    from reportlab.lib.colors import HexColor

    return HexColor(hex_colour)


def _qr_matrix(text: str) -> list[list[bool]]:
    """Dark modules of ``text`` as a QR code (error correction M), without quiet zone."""
    import zxingcpp

    if not text or len(text) > MAX_CODE_TEXT:
        raise InvalidInputError(f"a code text is 1..{MAX_CODE_TEXT} characters", code="invalid_code_text")
    try:
        barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
        image = barcode.to_image(scale=1, add_quiet_zones=False)
    except (ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"the code text cannot be drawn as a QR code ({exc})", code="invalid_code_text") from exc
    view = memoryview(image)  # type: ignore[arg-type]  # zxing-cpp's Image has the buffer protocol
    rows, cols = view.shape[0], view.shape[1]  # type: ignore[index]
    raw = view.tobytes()
    return [[raw[r * cols + c] < 128 for c in range(cols)] for r in range(rows)]


class _Page:
    """The canvas with top-left millimetre coordinates (layouts speak that way)."""

    def __init__(self, canvas: Any, font: str, height_mm: float) -> None:
        self.c = canvas
        self.font = font
        self.height_mm = height_mm

    def y(self, top_mm: float) -> float:
        return (self.height_mm - top_mm) * _MM

    def text(self, x_mm: float, top_mm: float, text: str, size: float, colour: str, *, centre: bool = False,
             char_space: float = 0.0) -> None:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        self.c.setFont(self.font, size)
        self.c.setFillColor(_colour(colour))
        x = x_mm * _MM
        if centre:
            x -= (stringWidth(text, self.font, size) + char_space * max(len(text) - 1, 0)) / 2
        self.c.drawString(x, self.y(top_mm), text, charSpace=char_space)


def _rows(face: LicenceFace, layout: LicenceLayout) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for kind in layout.body.rows:
        if kind == "holder":
            if face.holder_rows is None:
                out += [("持证主体", face.holder_name), (face.holder_id_label, face.holder_id)]
            else:
                out += list(face.holder_rows)
        elif kind == "fields":
            out += list(face.fields)
        elif kind == "validity" and face.show_validity:
            until = chinese_date(face.valid_until) if face.valid_until else "长期"
            out.append((face.validity_label, f"{chinese_date(face.valid_from)} 至 {until}"))
    return out


def _fit_size(text: str, font: str, size: float, width_pt: float, char_space: float = 0.0,
              minimum: float = 5.0) -> tuple[float, float]:
    """(size, char space) at which ``text`` fits ``width_pt``: the spacing goes first, then the size."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    gaps = max(len(text) - 1, 0)
    if stringWidth(text, font, size) + char_space * gaps <= width_pt:
        return size, char_space
    spare = width_pt - stringWidth(text, font, size)
    if spare > 0 and gaps:
        return size, spare / gaps
    return max(minimum, size * width_pt / max(stringWidth(text, font, size), 1.0)), 0.0


def _paragraphs(rows: Sequence[tuple[str, str]], font: str, size: float, colours: tuple[str, str],
                widths: tuple[float, float]) -> tuple[list[tuple[Any, float, Any, float]], float]:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph

    label_style = ParagraphStyle("label", fontName=font, fontSize=size, leading=size * 1.35,
                                 textColor=_colour(colours[0]), wordWrap="CJK")
    value_style = ParagraphStyle("value", parent=label_style, textColor=_colour(colours[1]))
    laid: list[tuple[Any, float, Any, float]] = []
    total = 0.0
    from reportlab.pdfbase.pdfmetrics import stringWidth

    room = widths[0] - 2 * _MM
    for label, value in rows:
        # a label stays on one line (a long one is set smaller): a label is read as one word
        natural = stringWidth(label, font, size)
        style = label_style
        if natural > room:
            smaller = size * room / natural
            style = ParagraphStyle("label-small", parent=label_style, fontSize=smaller, leading=size * 1.35)
        lp = Paragraph(escape(label), style)
        vp = Paragraph(escape(value).replace("\n", "<br/>"), value_style)
        _, lh = lp.wrap(widths[0] - 2 * _MM, 10_000)
        _, vh = vp.wrap(widths[1], 10_000)
        laid.append((lp, lh, vp, vh))
        total += max(lh, vh)
    return laid, total


def _draw_body(page: _Page, face: LicenceFace, layout: LicenceLayout) -> None:
    body = layout.body
    rows = _rows(face, layout)
    gap = body.row_gap_pt
    available = (page.height_mm - body.top_mm - body.bottom_mm) * _MM
    widths = (body.label_width_mm * _MM, (body.width_mm - body.label_width_mm) * _MM)
    size = body.size_pt
    while True:
        scale = size / body.size_pt
        laid, total = _paragraphs(rows, page.font, size, (layout.colours.muted, layout.colours.text), widths)
        if total + gap * scale * (len(laid) - 1) <= available or size <= body.min_size_pt:
            break
        size = max(body.min_size_pt, size - 0.5)
    if total + gap * scale * (len(laid) - 1) > available:
        raise InvalidInputError("the licence's fields do not fit on its face even at the smallest text size",
                                code="licence_face_overflow")
    step = gap * scale
    if body.max_row_gap_pt and len(laid) > 1 and size == body.size_pt:
        step = min(body.max_row_gap_pt, (available - total) / (len(laid) - 1))
    y = page.y(body.top_mm)
    x = body.left_mm * _MM
    for label, label_height, value, value_height in laid:
        label.drawOn(page.c, x, y - label_height)  # top-aligned: a long value flows down beside its label
        value.drawOn(page.c, x + widths[0], y - value_height)
        y -= max(label_height, value_height) + step


def _draw_frame(page: _Page, layout: LicenceLayout) -> None:
    width_mm, height_mm = layout.page.size_mm
    f = layout.frame
    c = page.c
    c.setStrokeColor(_colour(layout.colours.frame))
    c.setLineWidth(f.width_pt)
    c.rect(f.inset_mm * _MM, f.inset_mm * _MM, (width_mm - 2 * f.inset_mm) * _MM, (height_mm - 2 * f.inset_mm) * _MM)
    inner = f.inset_mm + f.inner_gap_mm
    c.setLineWidth(max(f.width_pt / 3, 0.5))
    c.rect(inner * _MM, inner * _MM, (width_mm - 2 * inner) * _MM, (height_mm - 2 * inner) * _MM)


def _draw_qr(page: _Page, layout: LicenceLayout, code_text: str | None) -> None:
    q = layout.qr
    c = page.c
    x0, size = q.left_mm * _MM, q.size_mm * _MM
    y0 = page.y(q.top_mm) - size
    c.setStrokeColor(_colour(layout.colours.muted))
    c.setLineWidth(0.8)
    c.rect(x0, y0, size, size)
    if code_text is None:
        page.text(q.left_mm + q.size_mm / 2, q.top_mm + q.size_mm / 2 + q.caption_size_pt / _MM / 3, q.caption,
                  q.caption_size_pt, layout.colours.muted, centre=True)
        return
    matrix = _qr_matrix(code_text)
    n = len(matrix) + 2 * _QR_QUIET_MODULES
    module = size / n
    c.setFillColor(_colour("#000000"))
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                x = x0 + (col + _QR_QUIET_MODULES) * module
                y = y0 + size - (r + 1 + _QR_QUIET_MODULES) * module
                c.rect(x, y, module, module, stroke=0, fill=1)
    page.text(q.left_mm + q.size_mm / 2, q.top_mm + q.size_mm + q.caption_size_pt / _MM * 1.4, q.caption,
              q.caption_size_pt, layout.colours.muted, centre=True)


def _issuer_lines(page: _Page, name: str, layout: LicenceLayout) -> tuple[list[str], float]:
    """The authority's name broken into centred lines of at most the issuer width, and the size:
    up to three lines at the layout's size, then smaller."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    iss = layout.issuer
    width = iss.width_mm * _MM
    size = iss.size_pt
    while True:
        lines: list[str] = []
        current = ""
        for ch in name:
            if current and stringWidth(current + ch, page.font, size) > width:
                lines.append(current)
                current = ""
            current += ch
        if current:
            lines.append(current)
        if len(lines) <= 3 or size <= 6:
            return lines, size
        size -= 0.5


def _draw_issuer(page: _Page, face: LicenceFace, layout: LicenceLayout) -> None:
    from reportlab.lib.utils import ImageReader

    iss = layout.issuer
    colour = layout.colours.text
    lines, size = _issuer_lines(page, face.department_name, layout)
    leading = size * 1.3 / _MM
    if iss.label:
        page.text(iss.centre_x_mm, iss.top_mm - iss.date_gap_mm, iss.label, iss.size_pt, colour, centre=True)
    for n, line in enumerate(lines):
        page.text(iss.centre_x_mm, iss.top_mm + n * leading, line, size, colour, centre=True)
    last = iss.top_mm + (len(lines) - 1) * leading
    page.text(iss.centre_x_mm, last + iss.date_gap_mm, chinese_date(face.issue_date), iss.size_pt, colour, centre=True)
    picture = face.seal_picture
    width_mm = picture.width_mm if picture.width_mm > 0 else layout.seal.diameter_mm
    height_mm = picture.height_mm if picture.height_mm > 0 else layout.seal.diameter_mm
    try:
        image = ImageReader(io.BytesIO(picture.data))
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for pictures it cannot read
        raise ConfigurationError(f"the seal picture ({picture.type}) cannot be drawn: {type(exc).__name__}",
                                 code="seal_picture_unusable") from exc
    centre_y_mm = (iss.top_mm + last) / 2 - size / _MM / 3  # the middle of the authority's lines
    page.c.drawImage(image, (iss.centre_x_mm - width_mm / 2) * _MM, page.y(centre_y_mm + height_mm / 2),
                     width_mm * _MM, height_mm * _MM, mask="auto", preserveAspectRatio=True)


def _draw_notes(page: _Page, layout: LicenceLayout, width_mm: float) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    notes = layout.notes
    leading = notes.size_pt * 1.4 / _MM
    for lines, right in ((notes.lines, False), (notes.right_lines, True)):
        for n, line in enumerate(lines):
            top = page.height_mm - notes.bottom_mm - (len(lines) - 1 - n) * leading
            x = notes.left_mm
            if right:
                x = width_mm - notes.right_mm - stringWidth(line, page.font, notes.size_pt) / _MM
            page.text(x, top, line, notes.size_pt, layout.colours.muted)


def render_licence_pdf(face: LicenceFace, layout: LicenceLayout, *, code_text: str | None = None,
                       font_path: Path | None = None) -> bytes:
    """The licence face as an unsigned one-page PDF.

    :param code_text: the service code to draw in the QR slot; None draws the empty slot.
    :param font_path: the CJK TrueType font (default :func:`licence_font_path`).
    :raises ConfigurationError: no usable font, or a seal picture that cannot be drawn.
    :raises InvalidInputError: ``invalid_code_text``; ``licence_face_overflow`` for fields too
        long for the page.
    """
    from reportlab.pdfgen.canvas import Canvas

    font = _register_font(str(font_path or licence_font_path()))
    width_mm, height_mm = layout.page.size_mm
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(width_mm * _MM, height_mm * _MM), pageCompression=1, lang="zh-CN",
                    initialFontName=font)
    canvas.setTitle(f"{face.type_name} {face.holder_name}")
    canvas.setAuthor(face.department_name)
    canvas.setSubject(f"电子证照 {face.identifier}")
    canvas.setKeywords([face.identifier, face.type_name])
    canvas.setCreator("trustsvc")
    page = _Page(canvas, font, height_mm)
    _draw_frame(page, layout)
    title = layout.title.text or face.type_name
    inner = layout.frame.inset_mm + layout.frame.inner_gap_mm + 8
    title_size, title_space = _fit_size(title, font, layout.title.size_pt, (width_mm - 2 * inner) * _MM,
                                        layout.title.char_space_pt)
    page.text(width_mm / 2, layout.title.top_mm, title, title_size, layout.colours.title, centre=True,
              char_space=title_space)
    if face.badge is not None:
        b = layout.badge
        text = f"{face.badge[0]}：{face.badge[1]}"
        room = (layout.qr.left_mm - 4 - b.left_mm) if b.top_mm + 5 > layout.qr.top_mm else width_mm - inner - b.left_mm
        badge_size, _ = _fit_size(text, font, b.size_pt, room * _MM)
        page.text(b.left_mm, b.top_mm, text, badge_size, layout.colours.text)
    _draw_body(page, face, layout)
    _draw_qr(page, layout, code_text)
    _draw_issuer(page, face, layout)
    _draw_notes(page, layout, width_mm)
    ident = layout.identifier
    page.text(ident.left_mm, height_mm - ident.bottom_mm, f"{ident.label}：{face.identifier}", ident.size_pt,
              layout.colours.muted)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
