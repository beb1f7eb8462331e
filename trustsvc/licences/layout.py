"""Licence face layouts: one declarative TOML file per catalogue template name, in
``templates/licences/<name>.toml``, read into frozen dataclasses.

Why declarative: a department changes where the QR slot or the seal goes, or the colours,
without touching the renderer; and every key is checked when the layout loads (an unknown key
or a wrong type is a :class:`~trustsvc.errors.ConfigurationError` naming it), so a typo in a
layout fails the first render loudly instead of drawing a licence in the wrong place.
Distances are millimetres from the page's top-left corner; text sizes are points.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigurationError

__all__ = ["LAYOUT_DIR", "LicenceLayout", "PageLayout", "Colours", "FrameLayout", "TitleLayout", "BadgeLayout",
           "BodyLayout", "QRLayout", "IssuerLayout", "SealLayout", "IdentifierLayout", "load_layout", "ROW_KINDS"]

LAYOUT_DIR = Path(__file__).resolve().parents[2] / "templates" / "licences"
"""Where the layouts live (``templates/licences``)."""
ROW_KINDS = frozenset({"holder", "fields", "validity"})
"""Row groups the body may list: the holder (name and id), the type's fields, the validity."""
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_PAGE_SIZES = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}


@dataclass(frozen=True)
class PageLayout:
    size: str = "A4"
    landscape: bool = True

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) in millimetres."""
        short, long_ = _PAGE_SIZES[self.size]
        return (long_, short) if self.landscape else (short, long_)


@dataclass(frozen=True)
class Colours:
    frame: str = "#B8860B"
    title: str = "#B22222"
    text: str = "#1A1A1A"
    muted: str = "#555555"


@dataclass(frozen=True)
class FrameLayout:
    inset_mm: float = 8.0
    width_pt: float = 2.4
    inner_gap_mm: float = 2.2


@dataclass(frozen=True)
class TitleLayout:
    top_mm: float = 30.0
    size_pt: float = 32.0
    char_space_pt: float = 10.0
    text: str = ""
    """Empty: the licence type's name."""


@dataclass(frozen=True)
class BadgeLayout:
    field: str = ""
    """A field of the type shown under the title (empty: none)."""
    left_mm: float = 28.0
    top_mm: float = 42.0
    size_pt: float = 11.0


@dataclass(frozen=True)
class BodyLayout:
    left_mm: float = 28.0
    top_mm: float = 56.0
    width_mm: float = 178.0
    bottom_mm: float = 26.0
    """Distance of the body's lowest line from the page's bottom edge."""
    label_width_mm: float = 34.0
    size_pt: float = 12.0
    min_size_pt: float = 6.0
    """Long values shrink the whole body down to this size before the renderer gives up."""
    row_gap_pt: float = 5.0
    rows: tuple[str, ...] = ("holder", "fields", "validity")


@dataclass(frozen=True)
class QRLayout:
    left_mm: float = 228.0
    top_mm: float = 40.0
    size_mm: float = 40.0
    caption: str = "扫码核验"
    caption_size_pt: float = 9.0


@dataclass(frozen=True)
class IssuerLayout:
    centre_x_mm: float = 240.0
    top_mm: float = 150.0
    size_pt: float = 13.0
    date_gap_mm: float = 8.0


@dataclass(frozen=True)
class SealLayout:
    diameter_mm: float = 42.0


@dataclass(frozen=True)
class IdentifierLayout:
    left_mm: float = 28.0
    bottom_mm: float = 16.0
    size_pt: float = 8.0
    label: str = "证照标识"


@dataclass(frozen=True)
class LicenceLayout:
    name: str
    page: PageLayout = PageLayout()
    colours: Colours = Colours()
    frame: FrameLayout = FrameLayout()
    title: TitleLayout = TitleLayout()
    badge: BadgeLayout = BadgeLayout()
    body: BodyLayout = BodyLayout()
    qr: QRLayout = QRLayout()
    issuer: IssuerLayout = IssuerLayout()
    seal: SealLayout = SealLayout()
    identifier: IdentifierLayout = IdentifierLayout()


_T = TypeVar("_T")
_SECTIONS: dict[str, type] = {
    "page": PageLayout, "colours": Colours, "frame": FrameLayout, "title": TitleLayout, "badge": BadgeLayout,
    "body": BodyLayout, "qr": QRLayout, "issuer": IssuerLayout, "seal": SealLayout, "identifier": IdentifierLayout,
}


def _bad(name: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"licence layout {name}: {message}", code="licence_layout_invalid")


def _value(layout: str, where: str, kind: str, value: Any) -> Any:
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000:
            raise _bad(layout, f"{where} must be a number 0..1000")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _bad(layout, f"{where} must be true or false")
        return value
    if kind == "str":
        if not isinstance(value, str) or len(value) > 200:
            raise _bad(layout, f"{where} must be a string")
        return value
    if kind == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad(layout, f"{where} must be a list of strings")
        return tuple(value)
    raise AssertionError(kind)  # pragma: no cover - a field type this loader does not know


def _section(layout: str, section: str, cls: type[_T], raw: Any) -> _T:
    if not isinstance(raw, dict):
        raise _bad(layout, f"[{section}] must be a table")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise _bad(layout, f"unknown key [{section}] {key}")
        out[key] = _value(layout, f"[{section}] {key}", str(known[key].type), value)
    return cls(**out)


def _check(layout: LicenceLayout) -> None:
    if layout.page.size not in _PAGE_SIZES:
        raise _bad(layout.name, f"[page] size must be one of {', '.join(_PAGE_SIZES)}")
    for name in fields(Colours):
        if not _COLOUR.match(getattr(layout.colours, name.name)):
            raise _bad(layout.name, f"[colours] {name.name} must be #RRGGBB")
    unknown = [r for r in layout.body.rows if r not in ROW_KINDS]
    if unknown or not layout.body.rows:
        raise _bad(layout.name, f"[body] rows must be some of {', '.join(sorted(ROW_KINDS))}")
    if not 4 <= layout.body.min_size_pt <= layout.body.size_pt:
        raise _bad(layout.name, "[body] needs 4 <= min_size_pt <= size_pt")
    width, height = layout.page.size_mm
    if layout.body.left_mm + layout.body.width_mm > width or layout.body.top_mm + layout.body.bottom_mm >= height:
        raise _bad(layout.name, "[body] does not fit on the page")
    if layout.qr.left_mm + layout.qr.size_mm > width or layout.qr.top_mm + layout.qr.size_mm > height:
        raise _bad(layout.name, "[qr] does not fit on the page")


@functools.lru_cache(maxsize=32)
def load_layout(name: str, directory: Path = LAYOUT_DIR) -> LicenceLayout:
    """The layout called ``name`` (a catalogue type's ``template``), read once per process.

    :raises ConfigurationError: code ``licence_layout_missing`` or ``licence_layout_invalid``.
    """
    if not _NAME.match(name):
        raise _bad(name, "a layout name is lower-case letters, digits and underscores")
    path = directory / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"no licence layout {name!r} at {path}", code="licence_layout_missing") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(name, f"unreadable ({exc})") from exc
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise _bad(name, f"unknown section [{unknown[0]}]")
    sections: dict[str, Any] = {key: _section(name, key, cls, raw[key]) for key, cls in _SECTIONS.items() if key in raw}
    layout = LicenceLayout(name=name, **sections)
    _check(layout)
    return layout
