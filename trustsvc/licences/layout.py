"""Licence face layouts: declarative tables read into frozen dataclasses. A licence type's file
carries its face as a ``[face]`` table, optionally on top of a shared base layout in
``trustsvc/licences/layouts/<name>.toml`` (package data, so an installed service has them).

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
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigurationError

__all__ = [
    "LAYOUT_DIR",
    "LicenceLayout",
    "PageLayout",
    "Colours",
    "FrameLayout",
    "TitleLayout",
    "BadgeLayout",
    "BodyLayout",
    "QRLayout",
    "IssuerLayout",
    "SealLayout",
    "IdentifierLayout",
    "NotesLayout",
    "load_layout",
    "layout_from_mapping",
    "read_layout_table",
    "merge_tables",
    "ROW_KINDS",
]

LAYOUT_DIR = Path(__file__).resolve().parent / "layouts"
"""Where the shared base layouts live (installed with the package)."""
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
    max_row_gap_pt: float = 0.0
    """Short bodies spread their rows down the face up to this gap (0: never spread), so a face
    with few fields does not leave its lower half empty."""
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
    """Baseline of the issuing authority's first line."""
    size_pt: float = 13.0
    date_gap_mm: float = 8.0
    width_mm: float = 60.0
    """Long authority names wrap (and shrink) within this width, centred on ``centre_x_mm``."""
    label: str = ""
    """Printed above the authority (e.g. 登记机关, 发证机关); empty: none."""


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
class NotesLayout:
    """Fixed lines a real face carries at its foot (where to check it, who designed the form)."""

    lines: tuple[str, ...] = ()
    """Lower left, above the identifier."""
    right_lines: tuple[str, ...] = ()
    """Lower right, right-aligned at ``right_mm`` from the page's right edge."""
    left_mm: float = 28.0
    right_mm: float = 20.0
    bottom_mm: float = 21.0
    """Baseline of the last line, from the page's bottom edge."""
    size_pt: float = 8.0


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
    notes: NotesLayout = NotesLayout()


_T = TypeVar("_T")
_SECTIONS: dict[str, type] = {
    "page": PageLayout,
    "colours": Colours,
    "frame": FrameLayout,
    "title": TitleLayout,
    "badge": BadgeLayout,
    "body": BodyLayout,
    "qr": QRLayout,
    "issuer": IssuerLayout,
    "seal": SealLayout,
    "identifier": IdentifierLayout,
    "notes": NotesLayout,
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
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and len(v) <= 200 for v in value):
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
    iss = layout.issuer
    if iss.centre_x_mm - iss.width_mm / 2 < 0 or iss.centre_x_mm + iss.width_mm / 2 > width or iss.top_mm >= height:
        raise _bad(layout.name, "[issuer] does not fit on the page")
    if layout.body.max_row_gap_pt and layout.body.max_row_gap_pt < layout.body.row_gap_pt:
        raise _bad(layout.name, "[body] max_row_gap_pt is 0 or at least row_gap_pt")
    if len(layout.notes.lines) > 4 or len(layout.notes.right_lines) > 4:
        raise _bad(layout.name, "[notes] holds at most 4 lines on each side")


def read_layout_table(name: str, directory: Path = LAYOUT_DIR) -> dict[str, Any]:
    """The raw table of the layout file ``<directory>/<name>.toml`` (unchecked).

    :raises ConfigurationError: ``licence_layout_missing`` or ``licence_layout_invalid``.
    """
    if not _NAME.match(name):
        raise _bad(name, "a layout name is lower-case letters, digits and underscores")
    path = directory / f"{name}.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"no licence layout {name!r} at {path}", code="licence_layout_missing") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(name, f"unreadable ({exc})") from exc


def merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base``: tables merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def layout_from_mapping(name: str, raw: Mapping[str, Any]) -> LicenceLayout:
    """A layout from its table (a layout file's, or a type file's ``[face]`` without ``base``),
    every key checked.

    :raises ConfigurationError: ``licence_layout_invalid`` naming the section and key.
    """
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise _bad(name, f"unknown section [{unknown[0]}]")
    sections: dict[str, Any] = {key: _section(name, key, cls, raw[key]) for key, cls in _SECTIONS.items() if key in raw}
    layout = LicenceLayout(name=name, **sections)
    _check(layout)
    return layout


@functools.lru_cache(maxsize=32)
def load_layout(name: str, directory: Path = LAYOUT_DIR) -> LicenceLayout:
    """The layout file called ``name``, read once per process.

    :raises ConfigurationError: code ``licence_layout_missing`` or ``licence_layout_invalid``.
    """
    return layout_from_mapping(name, read_layout_table(name, directory))
