"""``trustsvc seal make|sign``: make a department's seal, apply one to a file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..times import iso_utc
from .common import _actor, _parse_time, _service
from .errors import handle_errors


@click.group()
def seal() -> None:
    """Electronic seals (GB/T 38540)."""


@seal.command("make")
@click.option("--department", required=True, help="USCC of the department whose seal this is.")
@click.option(
    "--default",
    "make_default",
    is_flag=True,
    help="Seal the department's licences with it from now on (its first seal always is).",
)
@click.option("--name", required=True, help="Seal name as registered, e.g. 江苏省市场监督管理局.")
@click.option("--type", "seal_type", type=int, default=1, show_default=True, help="Seal type (1 单位印章).")
@click.option(
    "--picture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PNG/JPEG/GIF image; default renders the red round seal.",
)
@click.option("--center-text", default="", help="Horizontal text under the star (e.g. 证照专用章).")
@click.option("--valid-from", default=None, help="ISO 8601 start (default now).")
@click.option("--valid-until", default=None, help="ISO 8601 end (default the signer certificate's end).")
@click.option("--digest-list", is_flag=True, help="List signer certificates by SM3 digest (certListType 2).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the .esl here.")
@click.pass_context
@handle_errors
def seal_make(
    ctx: click.Context,
    department: str,
    make_default: bool,
    name: str,
    seal_type: int,
    picture: Path | None,
    center_text: str,
    valid_from: str | None,
    valid_until: str | None,
    digest_list: bool,
    out: Path | None,
) -> None:
    """Make a department's seal (the seal-maker key signs it) and store it."""
    from ..sealing import SealRequest, make_department_seal

    row = make_department_seal(
        _service(ctx),
        SealRequest(
            department_uscc=department,
            name=name,
            seal_type=seal_type,
            valid_from=_parse_time(valid_from, "--valid-from"),
            valid_until=_parse_time(valid_until, "--valid-until"),
            cert_list_type=2 if digest_list else 1,
            picture=picture.read_bytes() if picture else None,
            center_text=center_text,
            make_default=make_default,
        ),
        actor=_actor(),
    )
    if out is not None:
        out.write_bytes(row.der)
    click.echo(
        json.dumps(
            {
                "esid": row.esid,
                "name": row.name,
                "department": department.upper(),
                "valid_from": iso_utc(row.valid_start),
                "valid_until": iso_utc(row.valid_end),
                "sha256": row.sha256,
                "file": str(out) if out else None,
            },
            ensure_ascii=False,
            indent=2,
        )
    )


@seal.command("sign")
@click.argument("esid")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--property-info", default=None, help="What is protected (default: the file name).")
@click.option("--no-timestamp", is_flag=True, help="Do not ask the region TSA for a time-stamp.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the SES_Signature (DER).",
)
@click.pass_context
@handle_errors
def seal_sign(
    ctx: click.Context, esid: str, file: Path, property_info: str | None, no_timestamp: bool, out: Path
) -> None:
    """Apply seal ESID to FILE: a GB/T 38540 v4 SES_Signature over its bytes."""
    from ..sealing import apply_seal

    applied = apply_seal(
        _service(ctx),
        esid,
        file.read_bytes(),
        actor=_actor(),
        property_info=property_info or file.name.encode("ascii", "replace").decode(),
        timestamp=not no_timestamp,
    )
    out.write_bytes(applied.signature)
    click.echo(
        json.dumps(
            {
                "esid": applied.esid,
                "signing_time": iso_utc(applied.signing_time),
                "data_sm3": applied.data_sm3,
                "timestamped": applied.timestamped,
                "file": str(out),
            },
            indent=2,
        )
    )
