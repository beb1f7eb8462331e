"""A licence face laid out once: positioned text runs, boxes, the seal picture and the QR code.

Why a plan: the PDF (:mod:`trustsvc.licences.render`) and the OFD
(:mod:`trustsvc.licences.ofd_write`) must show the same face, to the millimetre. So every
decision that needs font metrics (fitting the title, wrapping values and the authority's name,
shrinking a long body) is taken here, with the embedded font's own advance widths, and each
backend only draws what the plan says.

Coordinates are millimetres from the page's top-left corner; a text run's ``baseline_mm`` is
its baseline; text sizes are points. Glyph advances are the font's (no kerning), plus the run's
``char_space_pt`` after every glyph but the last.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, InvalidInputError
from .layout import LicenceLayout

__all__ = [
    "PT_PER_MM",
    "TextRun",
    "Box",
    "Picture",
    "QRModules",
    "FacePlan",
    "plan_face",
    "register_font",
    "text_width_pt",
    "qr_matrix",
    "MAX_CODE_TEXT",
]

PT_PER_MM = 72.0 / 25.4
MAX_CODE_TEXT = 2048
"""Longest service-code text drawn as a QR code (binary mode, error correction M holds ~2.3 kB)."""
QR_QUIET_MODULES = 2
_LEADING = 1.35
_register_lock = threading.Lock()
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_/@:+%#]*|\s+|.", re.DOTALL)
_NO_LINE_START = frozenset("，。、；：！？）》」』”’,.;:!?)]}%")


@dataclass(frozen=True)
class TextRun:
    """One line of text at one size and colour."""

    text: str
    x_mm: float
    """Left edge of the first glyph."""
    baseline_mm: float
    size_pt: float
    colour: str
    """#RRGGBB."""
    width_mm: float
    char_space_pt: float = 0.0
    role: str = ""
    """What the run is (title, label, value, issuer, date, identifier, note, caption, badge):
    lets a backend or a test find it without guessing from the text."""
    codes: tuple[str, ...] = ()
    """The GB/T 36903 metadata codes whose value the run prints (ZZMC for the title, a field's
    code for its value, ...): the OFD's data index (CustomTags)."""


@dataclass(frozen=True)
class Box:
    """A stroked rectangle."""

    x_mm: float
    top_mm: float
    width_mm: float
    height_mm: float
    colour: str
    line_width_pt: float


@dataclass(frozen=True)
class Picture:
    """An image placed in a box (drawn keeping its aspect ratio, centred)."""

    x_mm: float
    top_mm: float
    width_mm: float
    height_mm: float
    data: bytes
    format: str
    """PNG, JPEG, GIF, ... as the seal picture says."""
    role: str = "seal"


@dataclass(frozen=True)
class QRModules:
    """A QR code's dark modules, placed: module (r, c) is the square at
    ``(x_mm + (c + quiet) * module_mm, top_mm + (r + quiet) * module_mm)``."""

    x_mm: float
    top_mm: float
    module_mm: float
    matrix: tuple[tuple[bool, ...], ...]
    quiet: int = QR_QUIET_MODULES


@dataclass(frozen=True)
class FacePlan:
    """Everything a backend draws, in drawing order within each kind (boxes, texts, QR, picture)."""

    width_mm: float
    height_mm: float
    font_path: Path
    font_name: str
    """The font's reportlab name (its metrics and its subsetter)."""
    boxes: tuple[Box, ...]
    texts: tuple[TextRun, ...]
    qr: QRModules | None
    seal: Picture
    title: str
    author: str
    subject: str
    keywords: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def register_font(path: str) -> str:
    """Register ``path`` with reportlab once per process; the font's reportlab name.

    Parsing a CJK collection takes a while, so it is done once; each document subsets it.
    """
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = "TrustsvcCJK-" + hashlib.sha256(path.encode()).hexdigest()[:12]
    with _register_lock:
        try:
            font = TTFont(name, path, subfontIndex=0) if path.lower().endswith(".ttc") else TTFont(name, path)
        except (TTFError, OSError) as exc:
            raise ConfigurationError(
                f"the CJK font {path} cannot be embedded ({exc}); use a TrueType (glyf) font "
                "such as Debian's fonts-wqy-zenhei",
                code="font_unusable",
            ) from exc
        pdfmetrics.registerFont(font)
    return name


def text_width_pt(text: str, font: str, size: float, char_space: float = 0.0) -> float:
    """Advance width of ``text`` in points, ``char_space`` between glyphs."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return float(stringWidth(text, font, size)) + char_space * max(len(text) - 1, 0)


def qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    """Dark modules of ``text`` as a QR code (error correction M), without quiet zone."""
    import zxingcpp

    if not text or len(text) > MAX_CODE_TEXT:
        raise InvalidInputError(f"a code text is 1..{MAX_CODE_TEXT} characters", code="invalid_code_text")
    try:
        barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
        image = barcode.to_image(scale=1, add_quiet_zones=False)
    except (ValueError, RuntimeError) as exc:
        raise InvalidInputError(
            f"the code text cannot be drawn as a QR code ({exc})", code="invalid_code_text"
        ) from exc
    view = memoryview(image)  # type: ignore[arg-type]  # zxing-cpp's Image has the buffer protocol
    rows, cols = view.shape[0], view.shape[1]  # type: ignore[index]
    raw = view.tobytes()
    return tuple(tuple(raw[r * cols + c] < 128 for c in range(cols)) for r in range(rows))


def wrap(text: str, font: str, size: float, width_pt: float) -> list[str]:
    """``text`` broken into lines of at most ``width_pt``: between any two CJK characters, between
    Latin words (a word longer than a line is broken too), at each newline; closing punctuation
    never starts a line (it hangs at the end of the previous one)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for token in _TOKEN.findall(paragraph):
            if text_width_pt(current + token, font, size) <= width_pt:
                current += token
                continue
            if token.isspace():
                lines.append(current)
                current = ""
                continue
            if token[0] in _NO_LINE_START and current:
                current += token  # hangs
                continue
            if current.strip():
                lines.append(current.rstrip())
            current = ""
            for ch in token:  # a word wider than a line is broken where it must be
                if current and text_width_pt(current + ch, font, size) > width_pt:
                    lines.append(current)
                    current = ""
                current += ch
        lines.append(current.rstrip())
    return lines or [""]


def _fit_size(
    text: str, font: str, size: float, width_pt: float, char_space: float = 0.0, minimum: float = 5.0
) -> tuple[float, float]:
    """(size, char space) at which ``text`` fits ``width_pt``: the spacing goes first, then the size."""
    gaps = max(len(text) - 1, 0)
    natural = text_width_pt(text, font, size)
    if natural + char_space * gaps <= width_pt:
        return size, char_space
    spare = width_pt - natural
    if spare > 0 and gaps:
        return size, spare / gaps
    return max(minimum, size * width_pt / max(natural, 1.0)), 0.0


def _chinese_date(day: Any) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


class _Plan:
    def __init__(self, font: str, height_mm: float) -> None:
        self.font = font
        self.height_mm = height_mm
        self.texts: list[TextRun] = []
        self.boxes: list[Box] = []

    def text(
        self,
        x_mm: float,
        baseline_mm: float,
        text: str,
        size: float,
        colour: str,
        *,
        centre: bool = False,
        right: bool = False,
        char_space: float = 0.0,
        role: str = "",
        codes: tuple[str, ...] = (),
    ) -> None:
        width = text_width_pt(text, self.font, size, char_space) / PT_PER_MM
        if centre:
            x_mm -= width / 2
        elif right:
            x_mm -= width
        self.texts.append(TextRun(text, x_mm, baseline_mm, size, colour, width, char_space, role, codes))


_VALIDITY_CODES = ("ZZYXQQSRQ", "ZZYXQJZRQ")


def _rows(face: Any, layout: LicenceLayout) -> list[tuple[str, str, tuple[str, ...]]]:
    """(label, value, metadata codes) of the body's rows."""
    codes = dict(face.label_codes)
    out: list[tuple[str, str, tuple[str, ...]]] = []

    def add(label: str, value: str) -> None:
        out.append((label, value, (codes[label],) if label in codes else ()))

    for kind in layout.body.rows:
        if kind == "holder":
            if face.holder_rows is None:
                out.append(("持证主体", face.holder_name, ("CZZT",)))
                out.append((face.holder_id_label, face.holder_id, ("CZZTDM",)))
            else:
                for label, value in face.holder_rows:
                    add(label, value)
        elif kind == "fields":
            for label, value in face.fields:
                add(label, value)
        elif kind == "validity" and face.show_validity:
            until = _chinese_date(face.valid_until) if face.valid_until else "长期"
            out.append((face.validity_label, f"{_chinese_date(face.valid_from)} 至 {until}", _VALIDITY_CODES))
    return out


@dataclass(frozen=True)
class _LaidRow:
    label: str
    label_size: float
    values: tuple[str, ...]
    height_pt: float
    codes: tuple[str, ...] = ()


def _lay_rows(
    rows: Sequence[tuple[str, str, tuple[str, ...]]], font: str, size: float, widths: tuple[float, float]
) -> tuple[list[_LaidRow], float]:
    leading = size * _LEADING
    room = widths[0] - 2 * PT_PER_MM
    laid: list[_LaidRow] = []
    total = 0.0
    for label, value, codes in rows:
        # a label stays on one line (a long one is set smaller): a label is read as one word
        natural = text_width_pt(label, font, size)
        label_size = size * room / natural if natural > room else size
        values = tuple(wrap(value, font, size, widths[1]))
        height = max(leading, leading * len(values))
        laid.append(_LaidRow(label, label_size, values, height, codes))
        total += height
    return laid, total


def _body(plan: _Plan, face: Any, layout: LicenceLayout) -> None:
    body = layout.body
    rows = _rows(face, layout)
    gap = body.row_gap_pt
    available = (plan.height_mm - body.top_mm - body.bottom_mm) * PT_PER_MM
    widths = (body.label_width_mm * PT_PER_MM, (body.width_mm - body.label_width_mm) * PT_PER_MM)
    size = body.size_pt
    while True:
        scale = size / body.size_pt
        laid, total = _lay_rows(rows, plan.font, size, widths)
        if total + gap * scale * (len(laid) - 1) <= available or size <= body.min_size_pt:
            break
        size = max(body.min_size_pt, size - 0.5)
    if total + gap * scale * (len(laid) - 1) > available:
        raise InvalidInputError(
            "the licence's fields do not fit on its face even at the smallest text size", code="licence_face_overflow"
        )
    step = gap * scale
    if body.max_row_gap_pt and len(laid) > 1 and size == body.size_pt:
        step = min(body.max_row_gap_pt, (available - total) / (len(laid) - 1))
    top = body.top_mm
    leading_mm = size * _LEADING / PT_PER_MM
    for row in laid:
        # top-aligned: a long value flows down beside its label
        plan.text(
            body.left_mm,
            top + row.label_size / PT_PER_MM,
            row.label,
            row.label_size,
            layout.colours.muted,
            role="label",
        )
        for n, line in enumerate(row.values):
            if line:
                plan.text(
                    body.left_mm + body.label_width_mm,
                    top + size / PT_PER_MM + n * leading_mm,
                    line,
                    size,
                    layout.colours.text,
                    role="value",
                    codes=row.codes,
                )
        top += (row.height_pt + step) / PT_PER_MM


def _frame(plan: _Plan, layout: LicenceLayout, width_mm: float) -> None:
    f = layout.frame
    colour = layout.colours.frame
    plan.boxes.append(
        Box(f.inset_mm, f.inset_mm, width_mm - 2 * f.inset_mm, plan.height_mm - 2 * f.inset_mm, colour, f.width_pt)
    )
    inner = f.inset_mm + f.inner_gap_mm
    plan.boxes.append(
        Box(inner, inner, width_mm - 2 * inner, plan.height_mm - 2 * inner, colour, max(f.width_pt / 3, 0.5))
    )


def _qr(plan: _Plan, layout: LicenceLayout, code_text: str | None) -> QRModules | None:
    q = layout.qr
    muted = layout.colours.muted
    plan.boxes.append(Box(q.left_mm, q.top_mm, q.size_mm, q.size_mm, muted, 0.8))
    if code_text is None:
        plan.text(
            q.left_mm + q.size_mm / 2,
            q.top_mm + q.size_mm / 2 + q.caption_size_pt / PT_PER_MM / 3,
            q.caption,
            q.caption_size_pt,
            muted,
            centre=True,
            role="caption",
        )
        return None
    matrix = qr_matrix(code_text)
    module = q.size_mm / (len(matrix) + 2 * QR_QUIET_MODULES)
    plan.text(
        q.left_mm + q.size_mm / 2,
        q.top_mm + q.size_mm + q.caption_size_pt / PT_PER_MM * 1.4,
        q.caption,
        q.caption_size_pt,
        muted,
        centre=True,
        role="caption",
    )
    return QRModules(q.left_mm, q.top_mm, module, matrix)


def _issuer_lines(font: str, name: str, layout: LicenceLayout) -> tuple[list[str], float]:
    """The authority's name broken into centred lines of at most the issuer width, and the size:
    up to three lines at the layout's size, then smaller."""
    iss = layout.issuer
    width = iss.width_mm * PT_PER_MM
    size = iss.size_pt
    while True:
        lines: list[str] = []
        current = ""
        for ch in name:
            if current and text_width_pt(current + ch, font, size) > width:
                lines.append(current)
                current = ""
            current += ch
        if current:
            lines.append(current)
        if len(lines) <= 3 or size <= 6:
            return lines, size
        size -= 0.5


def _issuer(plan: _Plan, face: Any, layout: LicenceLayout) -> Picture:
    iss = layout.issuer
    colour = layout.colours.text
    lines, size = _issuer_lines(plan.font, face.department_name, layout)
    leading = size * 1.3 / PT_PER_MM
    if iss.label:
        plan.text(
            iss.centre_x_mm,
            iss.top_mm - iss.date_gap_mm,
            iss.label,
            iss.size_pt,
            colour,
            centre=True,
            role="issuer_label",
        )
    for n, line in enumerate(lines):
        plan.text(
            iss.centre_x_mm, iss.top_mm + n * leading, line, size, colour, centre=True, role="issuer", codes=("ZZBFJG",)
        )
    last = iss.top_mm + (len(lines) - 1) * leading
    plan.text(
        iss.centre_x_mm,
        last + iss.date_gap_mm,
        _chinese_date(face.issue_date),
        iss.size_pt,
        colour,
        centre=True,
        role="date",
        codes=("ZZBFRQ",),
    )
    picture = face.seal_picture
    width_mm = picture.width_mm if picture.width_mm > 0 else layout.seal.diameter_mm
    height_mm = picture.height_mm if picture.height_mm > 0 else layout.seal.diameter_mm
    centre_y = (iss.top_mm + last) / 2 - size / PT_PER_MM / 3  # the middle of the authority's lines
    return Picture(
        iss.centre_x_mm - width_mm / 2,
        centre_y - height_mm / 2,
        width_mm,
        height_mm,
        picture.data,
        picture.type.upper(),
    )


def _notes(plan: _Plan, layout: LicenceLayout, width_mm: float) -> None:
    notes = layout.notes
    leading = notes.size_pt * 1.4 / PT_PER_MM
    for lines, right in ((notes.lines, False), (notes.right_lines, True)):
        for n, line in enumerate(lines):
            baseline = plan.height_mm - notes.bottom_mm - (len(lines) - 1 - n) * leading
            x = width_mm - notes.right_mm if right else notes.left_mm
            plan.text(x, baseline, line, notes.size_pt, layout.colours.muted, right=right, role="note")


def plan_face(face: Any, layout: LicenceLayout, *, font_path: Path, code_text: str | None = None) -> FacePlan:
    """Lay out ``face`` (a :class:`~trustsvc.licences.render.LicenceFace`) on ``layout``.

    :raises ConfigurationError: the font cannot be used.
    :raises InvalidInputError: ``invalid_code_text``; ``licence_face_overflow`` for fields too
        long for the page.
    """
    font = register_font(str(font_path))
    width_mm, height_mm = layout.page.size_mm
    plan = _Plan(font, height_mm)
    _frame(plan, layout, width_mm)
    title = layout.title.text or face.type_name
    inner = layout.frame.inset_mm + layout.frame.inner_gap_mm + 8
    title_size, title_space = _fit_size(
        title, font, layout.title.size_pt, (width_mm - 2 * inner) * PT_PER_MM, layout.title.char_space_pt
    )
    plan.text(
        width_mm / 2,
        layout.title.top_mm,
        title,
        title_size,
        layout.colours.title,
        centre=True,
        char_space=title_space,
        role="title",
        codes=() if layout.title.text else ("ZZMC",),
    )
    if face.badge is not None:
        b = layout.badge
        text = f"{face.badge[0]}：{face.badge[1]}"
        room = (layout.qr.left_mm - 4 - b.left_mm) if b.top_mm + 5 > layout.qr.top_mm else width_mm - inner - b.left_mm
        badge_size, _ = _fit_size(text, font, b.size_pt, room * PT_PER_MM)
        badge_code = dict(face.label_codes).get(face.badge[0])
        plan.text(
            b.left_mm,
            b.top_mm,
            text,
            badge_size,
            layout.colours.text,
            role="badge",
            codes=(badge_code,) if badge_code else (),
        )
    _body(plan, face, layout)
    qr = _qr(plan, layout, code_text)
    seal = _issuer(plan, face, layout)
    _notes(plan, layout, width_mm)
    ident = layout.identifier
    plan.text(
        ident.left_mm,
        height_mm - ident.bottom_mm,
        f"{ident.label}：{face.identifier}",
        ident.size_pt,
        layout.colours.muted,
        role="identifier",
        codes=("ZZBS",),
    )
    return FacePlan(
        width_mm=width_mm,
        height_mm=height_mm,
        font_path=Path(font_path),
        font_name=font,
        boxes=tuple(plan.boxes),
        texts=tuple(plan.texts),
        qr=qr,
        seal=seal,
        title=f"{face.type_name} {face.holder_name}",
        author=face.department_name,
        subject=f"电子证照 {face.identifier}",
        keywords=(face.identifier, face.type_name),
    )
