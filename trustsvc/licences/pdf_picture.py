"""The seal picture as reportlab image XObjects, made once per picture and reused by every PDF.

Why: ``canvas.drawImage`` decodes the PNG, MD5s its pixels and deflates them (the RGB image and
its alpha as a soft mask) again for every document: about 12 ms of a ~50 ms licence PDF, for a
picture that is the same on every licence of a department. reportlab has no public API to share
an XObject between documents, so the XObjects are built once, by reportlab's own
``PDFImageXObject`` (the stream, dictionary and soft mask ``drawImage`` writes, under the names
it gives them), and each document gets a shallow copy registered as an externally defined form
(the extension point ``canvas.doForm`` documents), drawn where ``drawImage`` would draw it. The
page is byte for byte what ``drawImage`` writes.

The reportlab internals this touches (``canvas._doc`` and its ``idToObject``, ``ImageReader._dataA``,
``PDFImageXObject._smask``, ``utils._digester``) are the ones ``drawImage`` itself uses;
tests/licences/test_licence_render.py checks the bytes against ``drawImage``'s, so a reportlab
upgrade that moves them fails there, not in a licence.
"""

from __future__ import annotations

import copy
import functools
import io
from dataclasses import dataclass
from typing import Any

__all__ = ["PreparedPicture", "prepared_picture", "draw_picture"]


@dataclass(frozen=True)
class PreparedPicture:
    """A picture's image XObject (and soft mask), compressed; never registered in a document
    itself, only copies of it are."""

    name: str
    """The form name ``drawImage`` gives it (MD5 of its pixels and mask)."""
    image: Any
    """reportlab ``PDFImageXObject``."""
    smask: Any | None
    """reportlab ``PDFImageXObject`` of the alpha channel, if the picture has one."""
    width: int
    height: int


@functools.lru_cache(maxsize=32)
def prepared_picture(data: bytes) -> PreparedPicture:
    """``data`` (PNG, JPEG, ...) as reportlab embeds it with ``mask="auto"``, once per picture.

    Keyed by the bytes themselves (hashed by Python in microseconds, compared on a hit); 32
    pictures is more departments than one process signs for.

    :raises Exception: whatever Pillow or reportlab raise for bytes that are not a picture.
    """
    from reportlab.lib.utils import ImageReader, _digester
    from reportlab.pdfbase.pdfdoc import PDFImageXObject, pdfdocEnc

    reader = ImageReader(io.BytesIO(data))
    pixels = reader.getRGBData()
    alpha = reader._dataA
    name = _digester(pixels + (alpha.getRGBData() if alpha else b"auto"))
    image = PDFImageXObject(name, reader, mask="auto")
    image.name = name
    smask = getattr(image, "_smask", None)
    if smask is not None:
        del image._smask
    for xobject in (image, smask):
        if xobject is not None:
            # the ASCII85 text as the bytes reportlab would encode it to when writing (its
            # 'pdfdoc' codec runs at ~60 MB/s: 1.4 ms a document for this picture)
            xobject.streamContent = pdfdocEnc(xobject.streamContent)
    return PreparedPicture(name=name, image=image, smask=smask, width=image.width, height=image.height)


def _register(canvas: Any, picture: PreparedPicture) -> str:
    """Copies of the picture's XObjects in ``canvas``'s document (once per document), as
    ``drawImage`` registers them; the name ``doForm`` draws."""
    from reportlab.pdfbase.pdfdoc import PDFObjectReference

    doc = canvas._doc
    if doc.hasForm(picture.name):
        return picture.name
    image = copy.copy(picture.image)
    doc.addForm(picture.name, image)
    if picture.smask is not None:
        mask_name = doc.getXObjectName(picture.smask.name)
        if mask_name in doc.idToObject:
            image.smask = PDFObjectReference(mask_name)
        else:
            image.smask = doc.Reference(copy.copy(picture.smask), mask_name)
    return picture.name


def draw_picture(canvas: Any, picture: PreparedPicture, x: float, y: float, width: float, height: float) -> None:
    """Draw ``picture`` in the box (points), aspect ratio kept and centred, as
    ``drawImage(..., preserveAspectRatio=True)`` does."""
    from reportlab.lib.boxstuff import aspectRatioFix

    name = _register(canvas, picture)
    x, y, width, height, _ = aspectRatioFix(True, "c", x, y, width, height, picture.width, picture.height)
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(width, height)
    canvas.doForm(name)
    canvas.restoreState()
