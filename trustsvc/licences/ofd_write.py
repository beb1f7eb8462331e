"""Writing a licence face as an OFD package (GB/T 33190), from the same plan the PDF draws.

The package, as GB/T 36905 e-licence files and ofdrw lay it out::

    /OFD.xml                          DocInfo (title, author, keywords, CustomDatas: the licence's
                                      GB/T 36903 metadata, one CustomData per code, ZZBS the identifier)
    /Doc_0/Document.xml               page area, resources, the page, the attachments
    /Doc_0/PublicRes.xml              the font
    /Doc_0/Res/font_1.ttf             the CJK font, subset to the face's characters (Unicode cmap)
    /Doc_0/Pages/Page_0/Content.xml   one layer: frame, text, QR code (one filled path)
    /Doc_0/Attachs/Attachments.xml    the sealed metadata (JSON), its SES signature and the status entry
    /Doc_0/Tags/CustomTags.xml        the data index: which text objects print each metadata code's value
    /Doc_0/Signs/...                  written by :mod:`trustsvc.licences.ofd_sign`

Every XML part is built with lxml (never by string concatenation) and serialised once; the bytes
written are the bytes the seal's references digest. The seal picture is not drawn in the page
content: a reader draws it from the signature's ``Seal.esl`` at its ``StampAnnot``, so the
visible seal is the signed one.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

from .face_plan import PT_PER_MM, Box, FacePlan, QRModules, TextRun, text_width_pt
from .font_subset import font_names, subset_font

__all__ = [
    "OFD_NS",
    "OFD_MEDIA_TYPE",
    "OfdAttachment",
    "OfdParts",
    "build_ofd_parts",
    "xml_bytes",
    "ofd_element",
    "ofd_subelement",
    "zip_package",
    "DOC",
    "SIGNATURES_PATH",
    "PAGE_PATH",
    "TAG_TYPE",
    "TAG_NAMESPACE",
]

OFD_NS = "http://www.ofdspec.org/2016"
OFD_MEDIA_TYPE = "application/ofd"
DOC = "Doc_0"
PAGE_PATH = f"{DOC}/Pages/Page_0/Content.xml"
SIGNATURES_PATH = f"{DOC}/Signs/Signatures.xml"
TAG_TYPE = "eLicence"
TAG_NAMESPACE = "urn:trustsvc:e-licence:gbt36903"
"""The data index's vocabulary: element names are GB/T 36903 metadata codes."""
_FONT_ID, _PAGE_ID, _LAYER_ID = 1, 2, 3
_NSMAP = {"ofd": OFD_NS}


@dataclass(frozen=True)
class OfdAttachment:
    """A file carried in the document's attachments (``Attachments.xml``)."""

    name: str
    data: bytes
    format: str
    """The Attachment ``Format`` attribute: json, ses, ..."""
    usage: str
    """What it is for (the ``Usage`` attribute)."""


@dataclass(frozen=True)
class OfdParts:
    """An OFD package not yet zipped: member paths (no leading slash) and their bytes, in order."""

    files: tuple[tuple[str, bytes], ...]
    page_id: int
    """The page's ID (a StampAnnot's ``PageRef``)."""
    max_unit_id: int

    def with_files(self, extra: Iterable[tuple[str, bytes]]) -> OfdParts:
        return OfdParts(files=(*self.files, *extra), page_id=self.page_id, max_unit_id=self.max_unit_id)


def ofd_element(tag: str, attrib: dict[str, str] | None = None, *, text: str | None = None) -> etree._Element:
    element = etree.Element(f"{{{OFD_NS}}}{tag}", attrib or {}, nsmap=_NSMAP)
    if text is not None:
        element.text = text
    return element


def ofd_subelement(
    parent: etree._Element, tag: str, attrib: dict[str, str] | None = None, *, text: str | None = None
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{OFD_NS}}}{tag}", attrib or {})
    if text is not None:
        element.text = text
    return element


_sub = ofd_subelement


def xml_bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _n(value: float) -> str:
    """A coordinate in millimetres: up to three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _box(*values: float) -> str:
    return " ".join(_n(v) for v in values)


def _rgb(colour: str) -> str:
    return " ".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))


class _Ids:
    def __init__(self, start: int) -> None:
        self.last = start

    def next(self) -> str:
        self.last += 1
        return str(self.last)


@functools.lru_cache(maxsize=4096)
def _advance(char: str, font_name: str, size_pt: float, char_space_pt: float) -> str:
    """A character's advance in a ``DeltaX`` (mm), worded once: a face repeats its characters
    at a few sizes, and every licence its labels."""
    return _n((text_width_pt(char, font_name, size_pt) + char_space_pt) / PT_PER_MM)


def _text_object(layer: etree._Element, ids: _Ids, run: TextRun, font_name: str) -> str:
    """The run as a TextObject; its ID."""
    size_mm = run.size_pt / PT_PER_MM
    top = run.baseline_mm - size_mm
    object_id = ids.next()
    obj = _sub(
        layer,
        "TextObject",
        {
            "ID": object_id,
            "Boundary": _box(run.x_mm, top, run.width_mm + size_mm, size_mm * 1.4),
            "Font": str(_FONT_ID),
            "Size": _n(size_mm),
        },
    )
    _sub(obj, "FillColor", {"Value": _rgb(run.colour)})
    attrib = {"X": "0", "Y": _n(size_mm)}
    if len(run.text) > 1:
        attrib["DeltaX"] = " ".join(_advance(ch, font_name, run.size_pt, run.char_space_pt) for ch in run.text[:-1])
    _sub(obj, "TextCode", attrib, text=run.text)
    return object_id


def _path_object(layer: etree._Element, ids: _Ids, box: Box) -> None:
    lw = box.line_width_pt / PT_PER_MM
    half = lw / 2
    obj = _sub(
        layer,
        "PathObject",
        {
            "ID": ids.next(),
            "Boundary": _box(box.x_mm - half, box.top_mm - half, box.width_mm + lw, box.height_mm + lw),
            "LineWidth": _n(lw),
            "Stroke": "true",
            "Fill": "false",
        },
    )
    _sub(obj, "StrokeColor", {"Value": _rgb(box.colour)})
    x0, y0, x1, y1 = half, half, half + box.width_mm, half + box.height_mm
    _sub(
        obj,
        "AbbreviatedData",
        text=f"M {_n(x0)} {_n(y0)} L {_n(x1)} {_n(y0)} L {_n(x1)} {_n(y1)} L {_n(x0)} {_n(y1)} C",
    )


def _qr_object(layer: etree._Element, ids: _Ids, qr: QRModules) -> None:
    size = (len(qr.matrix) + 2 * qr.quiet) * qr.module_mm
    # every module edge's coordinate, worded once (a code has ~1,500 runs of 8 numbers each)
    width = max(len(qr.matrix), *(len(row) for row in qr.matrix))
    edge = [_n((i + qr.quiet) * qr.module_mm) for i in range(width + 1)]
    commands: list[str] = []
    for r, row in enumerate(qr.matrix):
        y0, y1 = edge[r], edge[r + 1]
        c = 0
        while c < len(row):  # one rectangle per horizontal run of dark modules
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            x0, x1 = edge[start], edge[c]
            commands.append(f"M {x0} {y0} L {x1} {y0} L {x1} {y1} L {x0} {y1} C")
    obj = _sub(
        layer,
        "PathObject",
        {
            "ID": ids.next(),
            "Boundary": _box(qr.x_mm, qr.top_mm, size, size),
            "Stroke": "false",
            "Fill": "true",
            "Rule": "NonZero",
        },
    )
    _sub(obj, "FillColor", {"Value": "0 0 0"})
    _sub(obj, "AbbreviatedData", text=" ".join(commands))


def _content(plan: FacePlan, ids: _Ids) -> tuple[bytes, dict[str, list[str]]]:
    """Content.xml, and the IDs of the text objects that print each metadata code's value."""
    tagged: dict[str, list[str]] = {}
    page = ofd_element("Page")
    area = _sub(page, "Area")
    _sub(area, "PhysicalBox", text=_box(0, 0, plan.width_mm, plan.height_mm))
    layer = _sub(_sub(page, "Content"), "Layer", {"ID": str(_LAYER_ID), "Type": "Body"})
    for box in plan.boxes:
        _path_object(layer, ids, box)
    for run in plan.texts:
        object_id = _text_object(layer, ids, run, plan.font_name)
        for code in run.codes:
            tagged.setdefault(code, []).append(object_id)
    if plan.qr is not None:
        _qr_object(layer, ids, plan.qr)
    return xml_bytes(page), tagged


def _custom_tags() -> bytes:
    root = ofd_element("CustomTags")
    tag = _sub(root, "CustomTag", {"TypeID": TAG_TYPE, "NameSpace": TAG_NAMESPACE})
    _sub(tag, "FileLoc", text="Tag_Licence.xml")
    return xml_bytes(root)


def _tag_file(tagged: dict[str, list[str]]) -> bytes:
    """The face's data index: one element per GB/T 36903 code, naming the text objects that print
    its value (as e-invoices tag theirs), so a reader maps the face to the metadata."""
    root = etree.Element(f"{{{TAG_NAMESPACE}}}Licence", nsmap={"zz": TAG_NAMESPACE, "ofd": OFD_NS})
    for code, object_ids in tagged.items():
        element = etree.SubElement(root, f"{{{TAG_NAMESPACE}}}{code}")
        for object_id in object_ids:
            ofd_subelement(element, "ObjectRef", {"PageRef": str(_PAGE_ID)}, text=object_id)
    return xml_bytes(root)


def _ofd_xml(plan: FacePlan, identifier: str, custom_data: Sequence[tuple[str, str]], created: dt.datetime) -> bytes:
    root = ofd_element("OFD", {"Version": "1.1", "DocType": "OFD"})
    body = _sub(root, "DocBody")
    info = _sub(body, "DocInfo")
    _sub(info, "DocID", text=hashlib.sha256(identifier.encode()).hexdigest()[:32])
    _sub(info, "Title", text=plan.title)
    _sub(info, "Author", text=plan.author)
    _sub(info, "Subject", text=plan.subject)
    _sub(info, "CreationDate", text=created.date().isoformat())
    keywords = _sub(info, "Keywords")
    for word in plan.keywords:
        _sub(keywords, "Keyword", text=word)
    _sub(info, "Creator", text="trustsvc")
    _sub(info, "CreatorVersion", text="1")
    datas = _sub(info, "CustomDatas")
    for name, value in custom_data:
        _sub(datas, "CustomData", {"Name": name}, text=value)
    _sub(body, "DocRoot", text=f"{DOC}/Document.xml")
    _sub(body, "Signatures", text=SIGNATURES_PATH)
    return xml_bytes(root)


def _document_xml(plan: FacePlan, max_unit_id: int) -> bytes:
    root = ofd_element("Document")
    common = _sub(root, "CommonData")
    _sub(common, "MaxUnitID", text=str(max_unit_id))
    _sub(_sub(common, "PageArea"), "PhysicalBox", text=_box(0, 0, plan.width_mm, plan.height_mm))
    _sub(common, "PublicRes", text="PublicRes.xml")
    pages = _sub(root, "Pages")
    _sub(pages, "Page", {"ID": str(_PAGE_ID), "BaseLoc": "Pages/Page_0/Content.xml"})
    _sub(root, "Attachments", text="Attachs/Attachments.xml")
    _sub(root, "CustomTags", text="Tags/CustomTags.xml")
    return xml_bytes(root)


def _public_res(plan: FacePlan) -> bytes:
    name, family = font_names(plan.font_name)
    root = ofd_element("Res", {"BaseLoc": "Res"})
    fonts = _sub(root, "Fonts")
    font = _sub(fonts, "Font", {"ID": str(_FONT_ID), "FontName": name, "FamilyName": family})
    _sub(font, "FontFile", text=f"font_{_FONT_ID}.ttf")
    return xml_bytes(root)


def _attachments(attachments: Sequence[OfdAttachment], created: dt.datetime) -> bytes:
    root = ofd_element("Attachments")
    for n, item in enumerate(attachments, 1):
        element = _sub(
            root,
            "Attachment",
            {
                "ID": f"a{n}",
                "Name": item.name,
                "Format": item.format,
                "CreationDate": created.date().isoformat(),
                "Size": _n(len(item.data) / 1024),
                "Visible": "false",
                "Usage": item.usage,
            },
        )
        _sub(element, "FileLoc", text=item.name)
    return xml_bytes(root)


def build_ofd_parts(
    plan: FacePlan,
    *,
    identifier: str,
    custom_data: Sequence[tuple[str, str]],
    attachments: Sequence[OfdAttachment],
    created: dt.datetime,
) -> OfdParts:
    """The unsigned package of the planned face.

    :param custom_data: (name, value) pairs for ``DocInfo/CustomDatas`` (the GB/T 36903 codes).
    :param attachments: files for ``Attachments.xml`` (names are plain file names).
    :raises ConfigurationError: the font cannot be subset.
    """
    ids = _Ids(_LAYER_ID)
    content, tagged = _content(plan, ids)
    font = subset_font(plan.font_name, (run.text for run in plan.texts))
    files: list[tuple[str, bytes]] = [
        ("OFD.xml", _ofd_xml(plan, identifier, custom_data, created)),
        (f"{DOC}/Document.xml", _document_xml(plan, ids.last)),
        (f"{DOC}/PublicRes.xml", _public_res(plan)),
        (f"{DOC}/Res/font_{_FONT_ID}.ttf", font),
        (PAGE_PATH, content),
        (f"{DOC}/Attachs/Attachments.xml", _attachments(attachments, created)),
        (f"{DOC}/Tags/CustomTags.xml", _custom_tags()),
        (f"{DOC}/Tags/Tag_Licence.xml", _tag_file(tagged)),
    ]
    files += [(f"{DOC}/Attachs/{item.name}", item.data) for item in attachments]
    return OfdParts(files=tuple(files), page_id=_PAGE_ID, max_unit_id=ids.last)


_STORED_SUFFIXES = (".ses", ".esl", "/SignedValue.dat")
"""Members written as they are: the seal (``Seal.esl``) and the SES signatures that carry it are
mostly its PNG picture, already compressed: deflating their ~80 KB each saved 1-3 % and cost
1.5 ms a member."""
_DEFLATE_LEVEL = 4
"""zlib's level for the other members: the page's 85 KB (mostly the QR path) deflates in 0.6 ms
instead of 2 ms at zlib's default 6, the font subset in 0.5 instead of 0.65 ms, for 0.4 KB (0.1 %)
more a file."""


def zip_package(files: Sequence[tuple[str, bytes]], when: dt.datetime) -> bytes:
    """The OFD zip: ``OFD.xml`` first, every member deflated (:data:`_DEFLATE_LEVEL`) but the
    seal-bearing ones (:data:`_STORED_SUFFIXES`), stamped with ``when`` (so the same parts always
    zip to the same bytes)."""
    stamp = when.astimezone(dt.UTC).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files:
            method = zipfile.ZIP_STORED if path.endswith(_STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
            # the level is given here: a ZipInfo member takes zlib's default, not the ZipFile's
            zf.writestr(zipfile.ZipInfo(path, date_time=stamp), data, method, _DEFLATE_LEVEL)
    return out.getvalue()
