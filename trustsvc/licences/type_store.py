"""Where licence types come from and how their versions are kept.

Sources, in order: the national defaults shipped in ``trustsvc/licences/types/*.toml``, then the
region's own files in ``TRUSTSVC_HOME/licence-types/`` (``*.toml`` or ``*.json``; a file with the
code of a type already defined replaces it, or, with ``extends = "<code>"``, changes only the keys
it gives, e.g. one face colour), then definitions an admin adds through the API or ``trustsvc
licence-type add``.

The database keeps every definition a type has had (``licence_type_versions``: version 1, 2, ...
per code, never rewritten) and is the catalogue's truth: the newest version of each code is
current, and a licence records the version it was issued under, so it renders as issued after the
type changes. At start-up (:func:`sync_licence_types`) each file's definition is compared with
the database; a changed file becomes a new version, and a file that has not changed since it was
last recorded leaves a later API version current.

Reading the catalogue costs one indexed query (the newest row's id and digest); the parsed types
are cached per database until that row changes.
"""

from __future__ import annotations

import functools
import json
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit import AuditEvent, record
from ..errors import ConfigurationError, InvalidInputError
from ..storage.models import LicenceTypeVersionRecord, Region
from ..storage.trust_version import bump_trust_version
from .layout import merge_tables
from .typedef import DefinitionProblem, LicenceType, parse_definition

__all__ = [
    "NATIONAL_DIR",
    "HOME_DIR_NAME",
    "Catalogue",
    "national_types",
    "read_type_file",
    "file_definitions",
    "sync_licence_types",
    "add_licence_type",
    "load_catalogue",
    "held_catalogue",
    "catalogue_marker",
    "remember_catalogue",
    "remembered_catalogue",
    "type_versions",
]

NATIONAL_DIR = Path(__file__).resolve().parent / "types"
"""The national default types (package data)."""
HOME_DIR_NAME = "licence-types"
"""The region's own types: ``TRUSTSVC_HOME/licence-types/``."""
MAX_FILE_BYTES = 256 * 1024
_ORIGINS = ("national", "home", "api")


@dataclass(frozen=True)
class Catalogue:
    """The current version of every type, and every version ever recorded."""

    types: tuple[LicenceType, ...]
    history: Mapping[tuple[str, int], LicenceType] = field(default_factory=dict)
    marker: tuple[int, str] = (0, "")
    """(newest id, number) of the version rows this was built from (:func:`catalogue_marker`);
    (0, "") for the defaults."""

    @functools.cached_property
    def by_code(self) -> Mapping[str, LicenceType]:
        return {t.code: t for t in self.types}

    def version(self, code: str, version: int | None) -> LicenceType | None:
        """The type ``code`` as of ``version`` (None: the first recorded one, which licences
        issued before versions were kept were issued under)."""
        if version is None or version <= 0:
            first = min((v for c, v in self.history if c == code), default=None)
            return self.history.get((code, first)) if first is not None else self.by_code.get(code)
        return self.history.get((code, version))


# -- files -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FileDefinition:
    raw: Mapping[str, Any]
    template: str
    origin: str
    source: str


def read_type_file(path: Path) -> dict[str, Any]:
    """A type file's table (TOML, or JSON for ``.json``).

    :raises ConfigurationError: ``licence_type_invalid`` naming the file and why it is unreadable.
    """
    try:
        data = path.read_bytes()
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
        text = data.decode("utf-8")
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigurationError(
            f"licence type file {path}: (file): unreadable ({exc})", code="licence_type_invalid"
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"licence type file {path}: (top): a definition is a table", code="licence_type_invalid"
        )
    return raw


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".toml", ".json") and p.is_file())


def _parse(d: _FileDefinition) -> LicenceType:
    try:
        return parse_definition(d.raw, template=d.template, origin=d.origin)
    except DefinitionProblem as problem:
        raise problem.configuration_error(d.source) from None


def file_definitions(home: Path | None) -> dict[str, _FileDefinition]:
    """Every type the files define, by code: the national ones, then the home's on top.

    :raises ConfigurationError: ``licence_type_invalid`` with the file, the key and the reason.
    """
    out: dict[str, _FileDefinition] = {}
    for path in _files(NATIONAL_DIR):
        d = _FileDefinition(read_type_file(path), path.stem, "national", f"{path.name} (national default)")
        code = str(d.raw.get("code", ""))
        if code in out:
            raise ConfigurationError(
                f"licence type file {path}: code: {code} is also defined by {out[code].source}",
                code="licence_type_invalid",
            )
        out[code] = d
    if home is None:
        return out
    seen: dict[str, str] = {}
    for path in _files(home / HOME_DIR_NAME):
        raw = read_type_file(path)
        source = str(path)
        base_code = raw.pop("extends", None)
        if base_code is not None:
            if not isinstance(base_code, str) or base_code not in out:
                raise ConfigurationError(
                    f"licence type file {path}: extends: {base_code!r} is not a type defined before this file",
                    code="licence_type_invalid",
                )
            if "code" in raw and raw["code"] != base_code:
                raise ConfigurationError(
                    f"licence type file {path}: code: a file that extends {base_code} keeps its code",
                    code="licence_type_invalid",
                )
            base = out[base_code]
            d = _FileDefinition(merge_tables(base.raw, raw), base.template, "home", source)
        else:
            d = _FileDefinition(raw, path.stem, "home", source)
        code = str(d.raw.get("code", ""))
        if code in seen:
            raise ConfigurationError(
                f"licence type file {path}: code: {code} is also defined by {seen[code]}", code="licence_type_invalid"
            )
        seen[code] = source
        out[code] = d
    return out


@functools.lru_cache(maxsize=1)
def national_types() -> tuple[LicenceType, ...]:
    """The shipped defaults, parsed (version 0: not from a database), ordered by code."""
    return tuple(sorted((_parse(d) for d in file_definitions(None).values()), key=lambda t: t.code))


# -- the database --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2048)
def _from_row(definition: str, template: str, origin: str, version: int) -> LicenceType:
    try:
        return parse_definition(json.loads(definition), template=template, origin=origin, version=version)
    except DefinitionProblem as problem:  # a row written by an older release that this one reads differently
        raise ConfigurationError(
            f"licence type version {template} v{version} in the database: {problem}", code="licence_type_invalid"
        ) from None


_VERSIONS = cast(Table, LicenceTypeVersionRecord.__table__)
_MARKER = select(func.max(_VERSIONS.c.id), func.count(_VERSIONS.c.id))
"""Built once: every issuing batch reads it to see whether the catalogue changed."""


def catalogue_marker(session: Session) -> tuple[int, str]:
    """(newest id, number of rows) of the version rows, (0, "") while none is recorded: what a
    :class:`Catalogue` was built from, to tell whether it is still the database's.

    Not the newest row alone: on PostgreSQL two versions recorded at once may commit in the
    other order than their ids, and a reader between the two commits sees the higher id
    already; the lower one, committed after, still moves the count (version rows are only ever
    added)."""
    newest, rows = session.execute(_MARKER).one()
    return (int(newest), str(rows)) if newest is not None else (0, "")


_cache: dict[str, Catalogue] = {}
"""The catalogue each database (by URL without its password) was last read as."""
_remembered: dict[str, Catalogue] = {}
_lock = threading.Lock()


def _build(session: Session, marker: tuple[int, str]) -> Catalogue:
    rows = (
        session.execute(
            select(LicenceTypeVersionRecord).order_by(LicenceTypeVersionRecord.code, LicenceTypeVersionRecord.version)
        )
        .scalars()
        .all()
    )
    history: dict[tuple[str, int], LicenceType] = {}
    current: dict[str, LicenceType] = {}
    for row in rows:
        t = _from_row(row.definition, row.template, row.origin, row.version)
        history[(row.code, row.version)] = t
        current[row.code] = t
    return Catalogue(types=tuple(sorted(current.values(), key=lambda t: t.code)), history=history, marker=marker)


def _url(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def load_catalogue(session: Session) -> Catalogue:
    """The catalogue of the database ``session`` reads (the national defaults while none is
    recorded), rebuilt only when a version was added since the last call."""
    marker = catalogue_marker(session)
    key = _url(session)
    cached = _cache.get(key)
    if cached is not None and cached.marker == marker:
        return cached
    built = Catalogue(types=national_types()) if marker == (0, "") else _build(session, marker)
    with _lock:
        _cache[key] = built
    return built


def held_catalogue(url: str) -> Catalogue | None:
    """The catalogue this process last read from the database at ``url`` (rendered without its
    password), without reading it again; None before the first read. It may be stale: a caller
    that acts on it compares its :attr:`~Catalogue.marker` with :func:`catalogue_marker` in the
    transaction that writes (issuance does, once per batch)."""
    return _cache.get(url)


def remember_catalogue(region_code: str, catalogue: Catalogue) -> None:
    """Keep ``catalogue`` as this process's catalogue of ``region_code``, for callers that ask
    by region code alone."""
    if region_code:
        with _lock:
            _remembered[region_code] = catalogue


def remembered_catalogue(region_code: str) -> Catalogue | None:
    return _remembered.get(region_code)


def type_versions(session: Session, code: str) -> list[LicenceTypeVersionRecord]:
    """Every recorded version of ``code``, oldest first."""
    return list(
        session.execute(
            select(LicenceTypeVersionRecord)
            .where(LicenceTypeVersionRecord.code == code)
            .order_by(LicenceTypeVersionRecord.version)
        ).scalars()
    )


def _record_version(
    session: Session, t: LicenceType, *, origin: str, source: str, actor: str, force: bool = False
) -> LicenceType | None:
    """Store ``t`` as the next version of its code unless nothing changed; the stored type."""
    versions = type_versions(session, t.code)
    latest = versions[-1] if versions else None
    if latest is not None and latest.digest == t.digest:
        return None
    if not force and latest is not None:
        files = [v for v in versions if v.origin != "api"]
        if files and files[-1].digest == t.digest and origin != "api":
            return None  # the file has not changed since it was recorded; a later API version stays current
    number = latest.version + 1 if latest is not None else 1
    if number > 999:
        raise InvalidInputError(f"licence type {t.code} has reached version 999", code="licence_type_versions_full")
    session.add(
        LicenceTypeVersionRecord(
            code=t.code,
            version=number,
            name=t.name,
            template=t.template,
            origin=origin,
            source=source[:300],
            definition=t.definition,
            digest=t.digest,
        )
    )
    session.flush()
    # the trust snapshot lists each department's types (all of them, without grants): rebuild it
    bump_trust_version(session)
    if origin != "national":
        record(
            session,
            AuditEvent(
                actor=actor,
                action="licence_type.version",
                object_type="licence_type",
                object_id=t.code,
                details={
                    "version": number,
                    "name": t.name,
                    "origin": origin,
                    "source": source[:300],
                    "digest": t.digest,
                },
            ),
        )
    return _from_row(t.definition, t.template, origin, number)


def sync_licence_types(db: Any, home: Path | None, *, actor: str = "system") -> list[LicenceType]:
    """Record, as new versions, the file definitions that changed since they were last recorded
    (all of them the first time); the types recorded.

    :raises ConfigurationError: a malformed file (``licence_type_invalid``, naming the file,
        the key and the reason): the service does not start with it.
    """
    parsed = [(_parse(d), d) for d in file_definitions(home).values()]
    added: list[LicenceType] = []
    for attempt in range(3):
        try:
            with db.transaction() as session:
                added = [
                    t
                    for t in (
                        _record_version(session, t, origin=d.origin, source=d.source, actor=actor) for t, d in parsed
                    )
                    if t is not None
                ]
            break
        except IntegrityError:  # another process recorded the same versions first
            if attempt == 2:
                raise
    with db.reader() as session:
        catalogue = load_catalogue(session)
        region = session.execute(select(Region)).scalars().first()
    if region is not None:
        remember_catalogue(region.code, catalogue)
    return added


def add_licence_type(
    db: Any, raw: Mapping[str, Any], *, template: str | None, actor: str, origin: str = "api", source: str = ""
) -> tuple[LicenceType, bool]:
    """Validate and record a definition (a new type, or a new version of one); (the type as
    recorded, whether a version was added: False when it is identical to the current one).

    ``extends`` (a code) lays the definition on the current version of that type.

    :raises InvalidInputError: ``invalid_licence_type`` with ``field`` the offending key.
    """
    if origin not in _ORIGINS:
        raise ValueError(origin)
    raw = dict(raw)
    base_code = raw.pop("extends", None)
    with db.reader() as session:
        catalogue = load_catalogue(session)
    if base_code is not None:
        base = catalogue.by_code.get(base_code) if isinstance(base_code, str) else None
        if base is None:
            raise InvalidInputError(
                f"extends: {base_code!r} is not a licence type of this catalogue",
                code="invalid_licence_type",
                field="extends",
            )
        raw = merge_tables(json.loads(base.definition), raw)
        template = template or base.template
    if template is None:
        existing = catalogue.by_code.get(str(raw.get("code", "")))
        template = existing.template if existing is not None else None
    if template is None:
        raise InvalidInputError(
            "a new licence type needs a short name (template): lower-case letters, digits and _",
            code="invalid_licence_type",
            field="template",
        )
    try:
        t = parse_definition(raw, template=template, origin=origin)
    except DefinitionProblem as problem:
        raise InvalidInputError(
            f"{problem.where}: {problem.reason}", code="invalid_licence_type", field=problem.where
        ) from None
    with db.transaction() as session:
        stored = _record_version(session, t, origin=origin, source=source or actor, actor=actor, force=True)
        current = load_catalogue(session)
        region = session.execute(select(Region)).scalars().first()
    if region is not None:
        remember_catalogue(region.code, current)
    if stored is None:
        return current.by_code[t.code], False
    return stored, True


def read_type_versions(db: Any, code: str) -> list[LicenceTypeVersionRecord]:
    """:func:`type_versions` in a read-only session of its own."""
    with db.reader() as session:
        return type_versions(session, code)
