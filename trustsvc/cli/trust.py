"""``trustsvc trust``: the region's pin, its signed trust list, peers imported by pin, grants."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import _actor, _database, _echo_json, _service
from .errors import handle_errors


@click.group()
def trust() -> None:
    """Trust between regions."""


@trust.command("pin")
@click.pass_context
@handle_errors
def trust_pin(ctx: click.Context) -> None:
    """Print this region's pin: SHA-256 (hex) of its root CA certificate."""
    from .. import pki

    with _database(ctx).reader() as session:
        pki.get_region(session)
        click.echo(pki.get_ca(session, "root").sha256)


# -- trust lists between regions (trustsvc.federation.trust_lists, trustsvc.federation.peers) -------------------------


@trust.command("export")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the signed list (DER) here instead of stdout.",
)
@click.pass_context
@handle_errors
def trust_export(ctx: click.Context, out: Path | None) -> None:
    """Write this region's current signed trust list (CMS SignedData, DER)."""
    from ..federation.trust_lists import current_trust_list

    signed = current_trust_list(_service(ctx))
    if out is None:
        sys.stdout.buffer.write(signed.der)
    else:
        out.write_bytes(signed.der)
        click.echo(
            f"{out}: region {signed.trust_list.region_code} trust list sequence {signed.sequence}, "
            f"next update {signed.trust_list.next_update.isoformat()}, sha256 {signed.sha256}",
            err=True,
        )


@trust.command("import")
@click.argument("source")
@click.option(
    "--pin",
    required=True,
    help="SHA-256 (hex) of the peer's root CA certificate, from the peer out of band (`trustsvc trust pin` there).",
)
@click.pass_context
@handle_errors
def trust_import(ctx: click.Context, source: str, pin: str) -> None:
    """Import a peer region's trust list from URL (http(s); a bare base URL gets
    /api/v1/trust-list) or FILE, checked against PIN; refused lists change nothing."""
    from ..federation.peers import import_peer

    outcome = import_peer(_service(ctx), source, pin, actor=_actor(), allow_file=True)
    _echo_json(outcome.as_dict())


@trust.command("peers")
@click.pass_context
@handle_errors
def trust_peers(ctx: click.Context) -> None:
    """List imported peers: pin, list sequence, freshness, last refresh outcome, status lists."""
    from ..federation.peers import list_peers

    _echo_json(list_peers(_service(ctx)))


@trust.command("refresh")
@click.option("--region", default=None, help="Only this peer region.")
@click.pass_context
@handle_errors
def trust_refresh(ctx: click.Context, region: str | None) -> None:
    """Re-fetch peers' trust lists and their issuers' status lists; exit 1 when any was refused
    or unreachable (the held list is kept until it goes stale)."""
    from ..federation.peers import refresh_peers

    outcomes = refresh_peers(_service(ctx), region=region)
    _echo_json([o.as_dict() for o in outcomes])
    if any(o.outcome in ("refused", "unreachable") for o in outcomes):
        sys.exit(1)


@trust.command("rotate-signer")
@click.pass_context
@handle_errors
def trust_rotate_signer(ctx: click.Context) -> None:
    """Roll the trust-list signer: the first run announces a new one in the list; the next run
    (after peers refreshed) makes it sign. Peers follow without re-pinning."""
    from ..federation.signer_rotation import rotate_trust_list_signer

    result = rotate_trust_list_signer(_service(ctx), actor=_actor())
    click.echo(json.dumps(result.as_dict(), indent=2))


@trust.command("authorise")
@click.argument("department")
@click.option(
    "--types",
    required=True,
    help="Comma-separated licence type codes the department may sign "
    "(published in the trust list); 'catalogue' resets to all.",
)
@click.pass_context
@handle_errors
def trust_authorise(ctx: click.Context, department: str, types: str) -> None:
    """Set the licence types DEPARTMENT (USCC) may sign, as the trust list tells peers."""
    from ..federation.grants import set_licence_types

    listed = set_licence_types(
        _service(ctx), department, [t.strip() for t in types.split(",") if t.strip()], actor=_actor()
    )
    click.echo(json.dumps({"department": department.upper(), "licence_types": listed}, indent=2))
