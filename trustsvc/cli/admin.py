"""``trustsvc department|apikey|audit|ca``: the region's departments, API keys, audit log and CA certificates."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .common import _actor, _database, _service
from .errors import handle_errors


@click.group()
def department() -> None:
    """Issuing departments."""


@department.command("add")
@click.option("--code", required=True, help="18-character unified social credit code (USCC).")
@click.option("--name", required=True, help="Department name, e.g. 江苏省市场监督管理局.")
@click.pass_context
@handle_errors
def department_add(ctx: click.Context, code: str, name: str) -> None:
    """Create a department's issuing CA, seal-maker and signer certificates."""
    from .. import pki

    result = pki.add_department(_service(ctx), code, name, actor=_actor())
    click.echo(
        json.dumps(
            {"created": result.created, "uscc": result.uscc, "name": result.name, "certificates": result.certificates},
            ensure_ascii=False,
            indent=2,
        )
    )


@click.group()
def apikey() -> None:
    """API keys (hashed at rest; shown once)."""


@apikey.command("create")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "issuer", "verifier", "peer", "wallet", "seal_manager"])
)
@click.option("--department", default=None, help="USCC of the department (issuer keys; optional for seal_manager).")
@click.option("--types", default="", help="Comma-separated licence type codes (issuer keys).")
@click.option("--label", default="", help="Free text to recognise the key by.")
@click.pass_context
@handle_errors
def apikey_create(ctx: click.Context, role: str, department: str | None, types: str, label: str) -> None:
    """Create an API key and print it once."""
    from ..apikeys import create_api_key

    service = _service(ctx)
    with service.db.transaction() as session:
        created = create_api_key(
            session,
            role=role,
            actor=_actor(),
            department_uscc=department,
            licence_types=[t for t in types.split(",") if t.strip()],
            label=label,
        )
    click.echo(created.token)
    if created.principal.role.value == "issuer" and not created.principal.licence_types:
        click.echo(
            "note: this issuer key has no licence types, so it can issue none; give them with "
            f"--types CODE,... (trustsvc apikey create --role issuer --department {department} "
            "--types CODE,...; codes: GET /api/v1/licence-types)",
            err=True,
        )


@apikey.command("revoke")
@click.argument("key_id")
@click.pass_context
@handle_errors
def apikey_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke an API key by its id (the part after ``tsk_``)."""
    from ..apikeys import revoke_api_key

    service = _service(ctx)
    with service.db.transaction() as session:
        revoke_api_key(session, key_id, actor=_actor())
    click.echo(f"revoked {key_id}")


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


_ROOT_PIN = click.option(
    "--root-sha256",
    default=None,
    help="Trust only checkpoints whose TSA certificate chains to this root (the region's published pin).",
)


@audit.command("verify")
@click.option(
    "--since-checkpoint",
    is_flag=True,
    help="Start at the newest valid signed checkpoint (trustsvc audit checkpoint) instead of row 1.",
)
@_ROOT_PIN
@click.pass_context
@handle_errors
def audit_verify(ctx: click.Context, since_checkpoint: bool, root_sha256: str | None) -> None:
    """Recompute the chain; exit 1 and name the first bad row when it does not hold. Shows
    progress (a bar on a terminal, plain lines otherwise) while it walks."""
    from ..audit import chain_length, verify_chain
    from ..audit_checkpoints import verify_since_checkpoint
    from .bulk import _Progress

    with _database(ctx).reader() as session, _Progress("audit rows checked", chain_length(session) or None) as bar:
        if since_checkpoint:
            checked = verify_since_checkpoint(
                session, root_sha256=root_sha256, progress=lambda done, _total: bar.update(done)
            )
            result = checked.chain
            _say_checkpoint(checked)
        else:
            result = verify_chain(session, progress=lambda done, _total: bar.update(done))
    if result.ok:
        click.echo(f"audit log intact: {result.rows} rows" + _from(result.from_seq))
        return
    click.echo(f"audit log BROKEN at row {result.bad_seq}: {result.problem}", err=True)
    sys.exit(1)


@audit.command("checkpoint")
@_ROOT_PIN
@click.pass_context
@handle_errors
def audit_checkpoint(ctx: click.Context, root_sha256: str | None) -> None:
    """Check the chain from the newest valid checkpoint and, when it holds, time-stamp the head
    with the region TSA as the new checkpoint (daily, e.g. from cron). Exit 1 when it is broken."""
    from ..apikeys import SystemActor
    from ..audit_checkpoints import make_checkpoint, verify_since_checkpoint
    from .bulk import _Progress

    service = _service(ctx)
    with service.db.reader() as session, _Progress("audit rows checked", None) as bar:
        checked = verify_since_checkpoint(session, root_sha256=root_sha256, progress=lambda done, _t: bar.update(done))
    _say_checkpoint(checked)
    if not checked.ok:
        click.echo(f"audit log BROKEN at row {checked.chain.bad_seq}: {checked.chain.problem}", err=True)
        click.echo("no checkpoint made", err=True)
        sys.exit(1)
    click.echo(f"audit log intact: {checked.chain.rows} rows" + _from(checked.chain.from_seq))
    made = make_checkpoint(service, actor=SystemActor(_actor()))
    click.echo(f"checkpoint at row {made.seq} (hash {made.hash}), time-stamped {made.stamped_at.isoformat()}")


def _from(seq: int) -> str:
    return f" checked from row {seq}" if seq > 1 else ""


def _say_checkpoint(checked: Any) -> None:
    for why in checked.passed_over:
        click.echo(f"passed over {why}", err=True)
    cp = checked.checkpoint
    if cp is None:
        click.echo("no valid checkpoint: the whole chain is checked", err=True)
    else:
        click.echo(
            f"from the checkpoint at row {cp.seq}, time-stamped {cp.stamped_at.isoformat()} "
            f"by a TSA under root {cp.root_sha256}",
            err=True,
        )


@click.group("ca")
def ca_group() -> None:
    """The region's CA certificates."""


@ca_group.command("list")
@click.pass_context
@handle_errors
def ca_list(ctx: click.Context) -> None:
    from .. import pki

    with _database(ctx).reader() as session:
        for row in pki.list_cas(session):
            click.echo(f"{row.slug}\t{row.sha256}\t{row.subject}")


@ca_group.command("export")
@click.argument("slug")
@click.option("--pem/--der", default=True)
@click.pass_context
@handle_errors
def ca_export(ctx: click.Context, slug: str, pem: bool) -> None:
    """Write a CA certificate (``root``, ``services`` or a department USCC) to stdout."""
    from asn1crypto import pem as pem_mod

    from .. import pki

    with _database(ctx).reader() as session:
        der = pki.get_ca(session, slug).der
    if pem:
        click.echo(pem_mod.armor("CERTIFICATE", der).decode(), nl=False)
    else:
        sys.stdout.buffer.write(der)
