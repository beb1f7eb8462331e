"""Seal pictures: the drawn red round seal, uploaded pictures re-encoded, a missing font."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import pytest
from PIL import Image
from sealkit import Hierarchy, seal_spec

from trustsvc.formats.seals import (
    SealPictureError,
    load_uploaded_picture,
    make_seal,
    parse_seal,
    render_round_seal,
    verify_seal,
)
from trustsvc.formats.seals import picture as picture_module
from trustsvc.formats.seals.picture import find_cjk_font, round_seal_picture

try:
    find_cjk_font()
    HAVE_FONT = True
except SealPictureError:
    HAVE_FONT = False
# Developers without the font skip; CI (``make test`` installs fonts-wqy-zenhei) must not.
needs_font = pytest.mark.skipif(
    not HAVE_FONT and os.environ.get("CI") != "true", reason="no CJK font installed (Debian: fonts-wqy-zenhei)"
)


def _pixels(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """RGBA tuples (``getdata`` is deprecated in Pillow 13; this works in every version)."""
    data = image.convert("RGBA").tobytes()
    return [tuple(data[i : i + 4]) for i in range(0, len(data), 4)]  # type: ignore[misc]


def _is_red(pixel: tuple[int, int, int, int]) -> bool:
    r, g, b, a = pixel
    return a > 128 and r > 150 and g < 110 and b < 110


@needs_font
def test_round_seal_is_a_red_ring_with_text() -> None:
    png = render_round_seal("江苏省市场监督管理局", center_text="合同专用章", size_px=400)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (400, 400) and image.mode == "RGBA"
    pixels = image.load()
    # The ring: nearly every point on its centre line is red.
    radius = 400 * (0.5 - 0.02 - 0.0175)
    ring = [
        pixels[round(200 + radius * math.cos(t / 180 * math.pi)), round(200 + radius * math.sin(t / 180 * math.pi))]
        for t in range(360)
    ]
    assert sum(map(_is_red, ring)) >= 350
    # Inside and outside the ring, what is drawn is red; the rest is transparent.
    opaque = [p for p in _pixels(image) if p[3] > 128]
    assert sum(map(_is_red, opaque)) / len(opaque) > 0.9
    assert pixels[200, 200][3] > 128 and _is_red(pixels[200, 200])  # the star's centre
    assert pixels[2, 2][3] == 0  # a transparent corner
    plain = Image.open(io.BytesIO(render_round_seal("江苏省市场监督管理局", size_px=400)))
    lower = (120, 280, 280, 330)  # where the horizontal text goes
    with_text = sum(_is_red(p) for p in _pixels(image.crop(lower)))
    without = sum(_is_red(p) for p in _pixels(plain.crop(lower)))
    assert with_text > without + 200


@needs_font
def test_drawn_picture_goes_into_a_seal(pki: Hierarchy) -> None:
    picture = round_seal_picture("江苏省市场监督管理局")
    seal = make_seal(seal_spec(pki, picture=picture), maker_signer=pki.maker.signer, maker_cert=pki.maker.cert)
    parsed = parse_seal(seal)
    assert parsed.picture.type == "PNG" and parsed.picture.data == picture.data and parsed.picture.width == 42
    assert verify_seal(seal, trust=pki.trust).indication.value == "PASSED"


def test_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRUSTSVC_SEAL_FONT", raising=False)
    monkeypatch.setattr(picture_module, "FONT_CANDIDATES", ())
    with pytest.raises(SealPictureError) as err:
        render_round_seal("测试")
    assert err.value.code == "font_missing" and "fonts-wqy-zenhei" in err.value.message
    monkeypatch.setenv("TRUSTSVC_SEAL_FONT", str(tmp_path / "absent.ttc"))
    with pytest.raises(SealPictureError) as err:
        render_round_seal("测试")
    assert err.value.code == "font_missing"


def test_bad_seal_text_is_refused() -> None:
    for kwargs in ({"name": "  "}, {"name": "测试", "size_px": 10}):
        with pytest.raises(SealPictureError) as err:
            render_round_seal(**kwargs)  # type: ignore[arg-type]
        assert err.value.code == "bad_seal_text"


def _encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def test_uploaded_jpeg_is_re_encoded_without_metadata() -> None:
    image = Image.new("RGB", (64, 48), (200, 20, 30))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8298] = "secret copyright"  # Copyright
    jpeg = _encoded(image, "JPEG", exif=exif.tobytes(), quality=95)
    assert b"CameraMaker" in jpeg
    picture = load_uploaded_picture(jpeg + b"trailing junk", width_mm=30, height_mm=20)
    assert picture.type == "PNG" and (picture.width_mm, picture.height_mm) == (30, 20)
    assert picture.data.startswith(b"\x89PNG") and b"CameraMaker" not in picture.data and b"eXIf" not in picture.data
    decoded = Image.open(io.BytesIO(picture.data))
    assert decoded.size == (64, 48) and not decoded.info.get("exif")
    r, g, b, a = decoded.getpixel((10, 10))
    assert r > 180 and g < 60 and b < 60 and a == 255


def test_uploaded_png_and_gif_are_accepted() -> None:
    png = Image.new("RGBA", (20, 20), (255, 0, 0, 128))
    text = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    text.add_text("Comment", "tracking-id-123")
    with_text = _encoded(png, "PNG", pnginfo=text)
    assert b"tracking-id-123" in with_text
    assert b"tracking-id-123" not in load_uploaded_picture(with_text).data
    gif = _encoded(Image.new("P", (16, 16), 1), "GIF")
    assert Image.open(io.BytesIO(load_uploaded_picture(gif).data)).size == (16, 16)


def test_uploaded_pictures_refused() -> None:
    cases = [
        b"",
        b"not an image at all",
        _encoded(Image.new("RGB", (8, 8)), "BMP"),
        _encoded(Image.new("1", (5000, 2)), "PNG"),  # wider than 4096 pixels
        _encoded(Image.new("RGB", (8, 8)), "PNG")[:40],  # truncated
        b"\x89PNG\r\n\x1a\n" + bytes(picture_module.MAX_UPLOAD_BYTES),
    ]
    for data in cases:
        with pytest.raises(SealPictureError) as err:
            load_uploaded_picture(data)
        assert err.value.code == "bad_picture"
