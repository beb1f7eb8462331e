"""Seal pictures: drawing the classic red round official seal, and accepting uploaded images.

The round seal (红色圆形公章) is a red ring, a five-pointed star in the middle, the
organisation name along the upper arc and optional horizontal text below the star (e.g.
"合同专用章"). Chinese text needs a CJK font; the first one found among the usual Debian
locations is used (``TRUSTSVC_SEAL_FONT`` names another), and none found is a clear
:class:`SealPictureError` (code ``font_missing``) naming the package to install.

Uploaded pictures are checked with Pillow (PNG, JPEG or GIF only; size limits before any
pixel is decoded) and always re-encoded to PNG from the bare pixels, which drops every
metadata chunk (EXIF, ICC, text) and anything appended to the file.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

from .errors import SealPictureError
from .model import SealPicture

__all__ = [
    "render_round_seal",
    "round_seal_picture",
    "load_uploaded_picture",
    "find_cjk_font",
    "FONT_CANDIDATES",
    "SEAL_RED",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
]

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming
    "/usr/share/fonts/truetype/arphic/ukai.ttc",  # fonts-arphic-ukai
)
SEAL_RED = (218, 28, 36, 255)
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_PIXELS = 2048 * 2048
_MAX_SIDE = 4096
_FORMATS = frozenset({"PNG", "JPEG", "GIF"})


def _pillow() -> Any:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:  # pragma: no cover - Pillow is a dependency
        raise SealPictureError("seal pictures need Pillow (pip install pillow)", code="pillow_missing") from exc
    return Image, ImageDraw, ImageFont


def find_cjk_font() -> Path:
    """The CJK font to draw with.

    :raises SealPictureError: code ``font_missing`` when none is installed.
    """
    override = os.environ.get("TRUSTSVC_SEAL_FONT")
    if override:
        path = Path(override)
        if not path.is_file():
            raise SealPictureError(f"TRUSTSVC_SEAL_FONT names {override}, which is not a file", code="font_missing")
        return path
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SealPictureError(
        "no CJK font found for drawing seals; install the Debian package fonts-wqy-zenhei "
        "(or fonts-noto-cjk / fonts-arphic-uming), or set TRUSTSVC_SEAL_FONT to a .ttf/.ttc file",
        code="font_missing",
    )


def _star(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.382
        angle = math.radians(-90 + i * 36)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def render_round_seal(name: str, *, center_text: str = "", size_px: int = 400) -> bytes:
    """PNG (transparent background) of a red round official seal for ``name``.

    :raises SealPictureError: ``font_missing``; ``bad_seal_text`` for an empty name or a
        size outside 64..4096 pixels.
    """
    if not isinstance(name, str) or not name.strip():
        raise SealPictureError("a seal picture needs a name", code="bad_seal_text")
    if not isinstance(size_px, int) or not 64 <= size_px <= _MAX_SIDE:
        raise SealPictureError("size_px must be between 64 and 4096", code="bad_seal_text")
    Image, ImageDraw, ImageFont = _pillow()
    font_path = find_cjk_font()
    name = name.strip()
    scale = 4  # draw large, then downsample: smooth edges without antialiasing support in draw
    side = size_px * scale
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = side / 2
    ring = side * 0.035
    margin = side * 0.02
    draw.ellipse((margin, margin, side - margin, side - margin), outline=SEAL_RED, width=round(ring))
    draw.polygon(_star(c, c, side * 0.16), fill=SEAL_RED)

    n = len(name)
    font_size = round(side * (0.12 if n <= 12 else 0.12 * 12 / n))
    font = ImageFont.truetype(str(font_path), font_size)
    radius = side / 2 - margin - ring - font_size * 0.62
    span = min(230.0, 25.0 * n) if n > 1 else 0.0
    for i, char in enumerate(name):
        theta = -span / 2 + (span * i / (n - 1) if n > 1 else 0.0)
        glyph = Image.new("RGBA", (font_size * 2, font_size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((font_size, font_size), char, font=font, fill=SEAL_RED, anchor="mm")
        glyph = glyph.rotate(-theta, resample=Image.Resampling.BICUBIC)
        x = c + radius * math.sin(math.radians(theta))
        y = c - radius * math.cos(math.radians(theta))
        image.alpha_composite(glyph, (round(x - font_size), round(y - font_size)))

    if center_text.strip():
        text = center_text.strip()
        small = ImageFont.truetype(str(font_path), round(side * min(0.085, 0.6 / max(len(text), 1))))
        draw.text((c, c + side * 0.25), text, font=small, fill=SEAL_RED, anchor="mm")

    image = image.resize((size_px, size_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def round_seal_picture(name: str, *, center_text: str = "", size_px: int = 400, diameter_mm: int = 42) -> SealPicture:
    """:func:`render_round_seal` as a :class:`SealPicture` (42 mm is the usual official seal)."""
    return SealPicture(
        "PNG", render_round_seal(name, center_text=center_text, size_px=size_px), diameter_mm, diameter_mm
    )


def load_uploaded_picture(data: bytes, *, width_mm: int = 40, height_mm: int = 40) -> SealPicture:
    """Check an uploaded PNG/JPEG/GIF and re-encode it as a metadata-free PNG.

    :raises SealPictureError: code ``bad_picture`` (not an accepted image, damaged, or over
        :data:`MAX_UPLOAD_BYTES` / :data:`MAX_UPLOAD_PIXELS`).
    """
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise SealPictureError("no picture data", code="bad_picture")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SealPictureError(f"picture is larger than {MAX_UPLOAD_BYTES} bytes", code="bad_picture")
    if width_mm <= 0 or height_mm <= 0:
        raise SealPictureError("picture display size must be positive (mm)", code="bad_picture")
    Image, _, _ = _pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as probe:
                kind, (width, height) = probe.format, probe.size
                if kind not in _FORMATS:
                    raise SealPictureError(f"pictures must be PNG, JPEG or GIF, not {kind}", code="bad_picture")
                if width > _MAX_SIDE or height > _MAX_SIDE or width * height > MAX_UPLOAD_PIXELS:
                    raise SealPictureError(f"picture of {width}x{height} pixels is too large", code="bad_picture")
                probe.verify()
            with Image.open(io.BytesIO(bytes(data))) as image:
                image.seek(0)
                rgba = image.convert("RGBA")
    except SealPictureError:
        raise
    except Exception as exc:
        raise SealPictureError(
            f"not a readable PNG, JPEG or GIF picture ({type(exc).__name__})", code="bad_picture"
        ) from exc
    clean = Image.frombytes("RGBA", rgba.size, rgba.tobytes())  # bare pixels: no metadata survives
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return SealPicture("PNG", out.getvalue(), width_mm, height_mm)
