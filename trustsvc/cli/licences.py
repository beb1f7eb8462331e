"""``trustsvc licence issue|file|show|revoke|suspend|reinstate|change|renew``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hsm.errors import TrustSvcError

from ..apikeys import SystemActor
from ..licences import operations
from .common import _actor, _database, _echo_json, _service
from .errors import handle_errors


def _licence_json(row: Any) -> dict[str, Any]:
    """The API's licence object, links included: the command line prints what the API gives."""
    from api.shapes import licence_json

    return licence_json(row)


def _warn_no_file(issued: operations.Issued) -> None:
    """The licence stands; say on stderr that its PDF was not made (and how to try again)."""
    exc = issued.file_error
    if exc is None:
        return
    what = f"{exc.code}: {exc.message}" if isinstance(exc, TrustSvcError) else type(exc).__name__
    click.echo(
        f"warning: licence issued, but its PDF was not made: {what} "
        f"(trustsvc licence file {issued.record.identifier} --out FILE tries again)",
        err=True,
    )


@click.group()
def licence() -> None:
    """E-licences (电子证照): issue, show, and the lifecycle (suspend, reinstate, revoke, change, renew)."""


@licence.command("issue")
@click.option("--department", required=True, help="USCC of the issuing department.")
@click.option(
    "--data",
    "data_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON file: {"type", "holder": {"name", "id_type", "id"}, "fields", "valid_from", "valid_until"}.',
)
@click.option("--idempotency-key", default=None, help="Reissuing with the same key and data returns the same licence.")
@click.pass_context
@handle_errors
def licence_issue(ctx: click.Context, department: str, data_file: Path, idempotency_key: str | None) -> None:
    """Issue a licence and print it as JSON (the API's object)."""
    from ..errors import InvalidInputError
    from ..licences.service import request_from_json

    try:
        data = json.loads(data_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{data_file} is not UTF-8 JSON: {exc}", code="malformed_request") from None
    issued = operations.issue(
        _service(ctx),
        request_from_json(data),
        actor=SystemActor(_actor()),
        department_uscc=department,
        idempotency_key=idempotency_key,
    )
    _echo_json(_licence_json(issued.record))
    _warn_no_file(issued)


@licence.command("file")
@click.argument("identifier")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the sealed file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pdf", "ofd"]),
    default="pdf",
    show_default=True,
    help="PDF (SM2 signature) or OFD (GB/T 38540 seal).",
)
@click.pass_context
@handle_errors
def licence_file_cmd(ctx: click.Context, identifier: str, out: Path, fmt: str) -> None:
    """Write a licence's sealed PDF or OFD (made and stored on first use) to --out; print its SHA-256."""
    from ..licences.files import FILE_FORMATS, ensure_licence_file

    made = ensure_licence_file(_service(ctx), identifier, actor=_actor(), media_type=FILE_FORMATS[fmt])
    out.write_bytes(made.content)
    click.echo(f"{made.sha256}  {out}")


@licence.command("show")
@click.argument("identifier")
@click.pass_context
@handle_errors
def licence_show(ctx: click.Context, identifier: str) -> None:
    """Print a licence as JSON (reads the database only: no key-store PIN needed)."""
    from ..licences.service import get_licence

    _echo_json(_licence_json(get_licence(_database(ctx), identifier)))


@licence.command("revoke")
@click.argument("identifier")
@click.option("--reason", required=True, help="Why (kept with the licence and in the audit log).")
@click.pass_context
@handle_errors
def licence_revoke(ctx: click.Context, identifier: str, reason: str) -> None:
    """Revoke a licence."""
    from ..licences.service import revoke_licence

    row = revoke_licence(_service(ctx), identifier, principal_or_actor=SystemActor(_actor()), reason=reason)
    _echo_json(_licence_json(row))


@licence.command("suspend")
@click.argument("identifier")
@click.option("--reason", default=None, help="Why (kept with the licence and in the audit log).")
@click.pass_context
@handle_errors
def licence_suspend(ctx: click.Context, identifier: str, reason: str | None) -> None:
    """Suspend an active licence (verifiers answer INDETERMINATE until it is reinstated)."""
    from ..licences.service import suspend_licence

    row = suspend_licence(_service(ctx), identifier, principal_or_actor=SystemActor(_actor()), reason=reason)
    _echo_json(_licence_json(row))


@licence.command("reinstate")
@click.argument("identifier")
@click.option("--reason", default=None, help="Why (kept with the licence and in the audit log).")
@click.pass_context
@handle_errors
def licence_reinstate(ctx: click.Context, identifier: str, reason: str | None) -> None:
    """Reinstate a suspended licence."""
    from ..licences.service import reinstate_licence

    row = reinstate_licence(_service(ctx), identifier, principal_or_actor=SystemActor(_actor()), reason=reason)
    _echo_json(_licence_json(row))


@licence.command("change")
@click.argument("identifier")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='JSON file, the API body: {"fields": {...}, "holder_name": "..."}.',
)
@click.option("--holder-name", default=None, help="New holder name (overrides the file's).")
@click.pass_context
@handle_errors
def licence_change(ctx: click.Context, identifier: str, data_file: Path | None, holder_name: str | None) -> None:
    """变更: issue version +1 with changed fields or holder name; the old version is superseded."""
    from ..errors import InvalidInputError
    from ..licences.lifecycle import change_from_json

    data: Any = {}
    if data_file is not None:
        try:
            data = json.loads(data_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{data_file} is not UTF-8 JSON: {exc}", code="malformed_request") from None
    if holder_name is not None and isinstance(data, dict):
        data = {**data, "holder_name": holder_name}
    body = change_from_json(data)
    issued = operations.change(
        _service(ctx), identifier, actor=SystemActor(_actor()), fields=body.fields, holder_name=body.holder_name
    )
    _echo_json(_licence_json(issued.record))
    _warn_no_file(issued)


@licence.command("renew")
@click.argument("identifier")
@click.option("--valid-until", default=None, help="Last valid day, YYYY-MM-DD.")
@click.option("--no-end", is_flag=True, help="No end date (长期) instead of --valid-until.")
@click.option("--valid-from", default=None, help="First valid day, YYYY-MM-DD (default today).")
@click.pass_context
@handle_errors
def licence_renew(
    ctx: click.Context, identifier: str, valid_until: str | None, no_end: bool, valid_from: str | None
) -> None:
    """延续: issue version +1 with a new validity period; the old version is superseded."""
    from ..licences.lifecycle import renew_from_json

    if no_end == (valid_until is not None):
        raise click.UsageError("give exactly one of --valid-until DATE and --no-end")
    body = renew_from_json({"valid_until": valid_until, "valid_from": valid_from})
    issued = operations.renew(
        _service(ctx), identifier, actor=SystemActor(_actor()), valid_until=body.valid_until, valid_from=body.valid_from
    )
    _echo_json(_licence_json(issued.record))
    _warn_no_file(issued)
