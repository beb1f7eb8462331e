"""``trustsvc licence-type list|show|add``: the region's licence catalogue from the command line.

``add`` records a definition file as a new version in the database (the catalogue's truth), the
same as ``POST /api/v1/licence-types``; a file put in ``TRUSTSVC_HOME/licence-types/`` instead is
recorded at the next start. Either way a licence keeps the version it was issued under.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from . import common
from .errors import handle_errors

__all__ = ["licence_type"]


def _cli() -> Any:
    """The main command module (imported late: it registers this group when it loads)."""
    return common


def _echo_json(obj: Any) -> None:
    _cli()._echo_json(obj)


def _database(ctx: click.Context) -> Any:
    return _cli()._database(ctx)


def _catalogue(ctx: click.Context) -> Any:
    from sqlalchemy import select

    from ..licences.catalogue import catalogue_of
    from ..storage.models import Region

    db = _database(ctx)
    with db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
        return region.code if region else "", catalogue_of(region.code if region else "", session)


@click.group("licence-type")
def licence_type() -> None:
    """The licence catalogue: types as data, versioned."""


@licence_type.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the types as GET /api/v1/licence-types does.")
@click.pass_context
@handle_errors
def licence_type_list(ctx: click.Context, as_json: bool) -> None:
    """List the current licence types (code, version, holder kind, name)."""
    _, catalogue = _catalogue(ctx)
    if as_json:
        _echo_json([t.api_dict() for t in catalogue.types])
        return
    for t in catalogue.types:
        click.echo(f"{t.code}  v{t.version:<3} {t.holder.kind:<15} {t.origin:<8} {t.name}")


@licence_type.command("show")
@click.argument("code")
@click.option("--version", "version", type=click.IntRange(1, 999), default=None, help="An older version.")
@click.option("--schema", "schema_only", is_flag=True, help="Print only the request body's JSON Schema.")
@click.pass_context
@handle_errors
def licence_type_show(ctx: click.Context, code: str, version: int | None, schema_only: bool) -> None:
    """Print one type (CODE or its exact name): fields, schema and definition, as JSON."""
    from ..licences.catalogue import find_type, resolve_type

    region_code, catalogue = _catalogue(ctx)
    ltype = resolve_type(region_code, code)
    if version is not None:
        ltype = find_type(region_code, ltype.code, version=version)
    if schema_only:
        _echo_json(ltype.schema())
        return
    versions = sorted(v for c, v in catalogue.history if c == ltype.code)
    _echo_json(
        {
            **ltype.api_dict(),
            "template": ltype.template,
            "origin": ltype.origin,
            "definition": json.loads(ltype.definition),
            "versions": versions,
        }
    )


@licence_type.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--template", default=None, help="Short name of a new type (default: the file's name).")
@click.pass_context
@handle_errors
def licence_type_add(ctx: click.Context, file: Path, template: str | None) -> None:
    """Record FILE (TOML, or JSON for .json; ``extends = "CODE"`` changes only the keys given) as a
    new licence type or a new version of one, and print it."""
    from ..errors import ConfigurationError, InvalidInputError
    from ..licences.type_store import add_licence_type, read_type_file, sync_licence_types

    db = _database(ctx)
    db.migrate()
    sync_licence_types(db, _cli()._config(ctx).home)
    try:
        raw = read_type_file(file)
    except ConfigurationError as exc:
        raise InvalidInputError(exc.message, code="invalid_licence_type") from None
    if template is None and "extends" not in raw:
        template = file.stem.replace("-", "_").lower()
    actor = _cli()._actor()
    ltype, added = add_licence_type(
        db, raw, template=template, actor=actor, origin="api", source=f"{actor} {file.name}"
    )
    _echo_json(
        {
            "code": ltype.code,
            "name": ltype.name,
            "version": ltype.version,
            "template": ltype.template,
            "recorded": added,
        }
    )
