"""A TrueType subset of the licence font with a Unicode ``cmap``, for embedding in OFD.

Why not fontTools: it is not a dependency, and loading a CJK collection with it for every file
costs far more than the rest of the file. reportlab already holds the parsed font (the PDF
embeds subsets of it) and its subsetter copies the glyphs a text needs, composites included;
but the subset it makes is for PDF, where a ``cmap`` maps the PDF's one-byte codes 0..n to
glyphs. An OFD ``TextCode`` holds Unicode text, and readers find each glyph through the font's
own ``cmap``; so the table is rewritten here to map each character's code point to its glyph
(format 4 under Windows Unicode BMP, plus format 12 when a character lies beyond the BMP).

reportlab's subsetter copies the whole ``glyf`` table (10 MB of the CJK font) to read a few glyphs
from it, 0.85 ms of the 1.2 ms a subset takes; :func:`_glyph_source` hands it a window onto the
font's bytes instead (the subset is byte for byte the same).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigurationError

__all__ = ["subset_font", "font_names"]


def _tables(font: bytes) -> dict[str, bytes]:
    count = struct.unpack(">H", font[4:6])[0]
    out: dict[str, bytes] = {}
    for i in range(count):
        tag, _checksum, offset, length = struct.unpack(">4sLLL", font[12 + 16 * i : 28 + 16 * i])
        out[tag.decode("latin-1")] = font[offset : offset + length]
    return out


def _format4(pairs: list[tuple[int, int]]) -> bytes:
    """cmap format 4 for BMP ``(code, glyph)`` pairs sorted by code: runs of consecutive codes
    whose glyphs are consecutive too share a segment (one idDelta)."""
    segments: list[tuple[int, int, int]] = []  # (start, end, delta)
    for code, glyph in pairs:
        delta = (glyph - code) % 65536
        if segments and segments[-1][1] == code - 1 and segments[-1][2] == delta:
            start, _, _ = segments[-1]
            segments[-1] = (start, code, delta)
        else:
            segments.append((code, code, delta))
    segments.append((0xFFFF, 0xFFFF, 1))
    n = len(segments)
    search = 2 ** (n.bit_length() - 1)
    header = struct.pack(">HHHHHHH", 4, 16 + 8 * n, 0, 2 * n, 2 * search, search.bit_length() - 1, 2 * n - 2 * search)
    ends = struct.pack(f">{n}H", *(s[1] for s in segments))
    starts = struct.pack(f">{n}H", *(s[0] for s in segments))
    deltas = struct.pack(f">{n}H", *(s[2] for s in segments))
    offsets = struct.pack(f">{n}H", *([0] * n))
    return header + ends + b"\x00\x00" + starts + deltas + offsets


def _format12(pairs: list[tuple[int, int]]) -> bytes:
    groups: list[list[int]] = []  # [start, end, start glyph]
    for code, glyph in pairs:
        if groups and groups[-1][1] == code - 1 and groups[-1][2] + (code - groups[-1][0]) == glyph:
            groups[-1][1] = code
        else:
            groups.append([code, code, glyph])
    body = b"".join(struct.pack(">LLL", *g) for g in groups)
    return struct.pack(">HHLLL", 12, 0, 16 + len(body), 0, len(groups)) + body


def _cmap(pairs: list[tuple[int, int]]) -> bytes:
    bmp = [p for p in pairs if p[0] <= 0xFFFE]
    subtables = [((3, 1), _format4(bmp))]
    if len(bmp) < len(pairs):
        subtables.append(((3, 10), _format12(pairs)))
    offset = 4 + 8 * len(subtables)
    records, data = b"", b""
    for (platform, encoding), table in subtables:
        records += struct.pack(">HHL", platform, encoding, offset + len(data))
        data += table
    return struct.pack(">HH", 0, len(subtables)) + records + data


class _Window:
    """A table read in place: ``window[a:b]`` is the table's bytes a..b, copied from the font's
    bytes only then (reportlab's subsetter only slices the ``glyf`` table)."""

    def __init__(self, data: bytes, start: int) -> None:
        self._data, self._start = data, start

    def __getitem__(self, part: slice) -> bytes:
        return self._data[self._start + part.start : self._start + part.stop]


@functools.cache
def _glyph_source_type() -> Any:
    """reportlab's font file whose ``glyf`` table is a :class:`_Window` (made once: reportlab is
    imported only when a font is used)."""
    from reportlab.pdfbase.ttfonts import TTFontFile

    class GlyphSource(TTFontFile):  # type: ignore[misc]  # reportlab is untyped
        def get_table(self, tag: str) -> Any:
            if tag == "glyf":
                return _Window(self._ttf_data, self.get_table_pos(tag)[0])
            return super().get_table(tag)

    return GlyphSource


def _glyph_source(face: Any) -> Any:
    """The registered face for ``makeSubset``: its parsed tables shared, its read position its
    own (the subsetter moves it), its ``glyf`` table read in place."""
    source = object.__new__(_glyph_source_type())
    source.__dict__.update(face.__dict__)
    return source


def subset_font(font_name: str, text: Iterable[str]) -> bytes:
    """A TrueType font holding the glyphs of every character in ``text``, mapped by Unicode.

    :param font_name: a font registered with reportlab (:func:`trustsvc.licences.face_plan.register_font`).
    :raises ConfigurationError: the font is not a TrueType font reportlab can subset.
    """
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFontMaker

    face = pdfmetrics.getFont(font_name).face
    codes = sorted({ord(ch) for chunk in text for ch in chunk if ord(ch) >= 0x20})
    try:
        made = _glyph_source(face).makeSubset(codes)
    except Exception as exc:  # reportlab raises many types for fonts it cannot subset
        raise ConfigurationError(
            f"the licence font cannot be subset ({type(exc).__name__}: {exc})", code="font_unusable"
        ) from exc
    tables = _tables(made)
    cmap = tables["cmap"]
    entries = struct.unpack(">H", cmap[12 + 8 : 12 + 10])[0]  # format 6 subtable at offset 12: entryCount
    glyphs = struct.unpack(f">{entries}H", cmap[12 + 10 : 12 + 10 + 2 * entries])
    pairs = [(code, glyph) for code, glyph in zip(codes, glyphs, strict=True) if glyph]
    maker = TTFontMaker()
    for tag, data in tables.items():
        maker.add(tag, _cmap(pairs) if tag == "cmap" else data)
    return bytes(maker.makeStream())


def font_names(font_name: str) -> tuple[str, str]:
    """(font name, family name) of a registered font, as an OFD ``Font`` element names it."""
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(font_name).face
    name = face.name.decode("latin-1") if isinstance(face.name, bytes) else str(face.name)
    family = getattr(face, "familyName", name)
    family = family.decode("latin-1") if isinstance(family, bytes) else str(family)
    return name, family
