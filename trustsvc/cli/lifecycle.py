"""``trustsvc cert list|show|revoke|renew``, ``trustsvc department rekey`` and
``trustsvc seal list|show|suspend|reinstate|revoke|default``: the certificate and seal
lifecycle from the command line (the operator on the host acts as admin; every change is
audited under ``cli:<user>``). Each prints JSON; the same operations are in the API."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from . import common
from .errors import handle_errors

__all__ = ["cert", "DEPARTMENT_COMMANDS", "SEAL_COMMANDS"]


def _cli() -> Any:
    """The helpers every command group shares (trustsvc.cli.common)."""
    return common


def _service(ctx: click.Context) -> Any:
    return _cli()._service(ctx)


def _actor() -> str:
    return str(_cli()._actor())


def _parse_time(value: str | None, what: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{what} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _echo(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


@click.group()
def cert() -> None:
    """Certificates this region issued: list, show, revoke, renew."""


@cert.command("list")
@click.option("--department", default=None, help="Only this department's (USCC).")
@click.option("--current", is_flag=True, help="Only certificates in use (not replaced, not revoked).")
@click.option(
    "--expiring-within",
    "days",
    type=click.IntRange(0, 36500),
    default=None,
    help="Only those in use that expire within this many days (what to renew).",
)
@click.pass_context
@handle_errors
def cert_list(ctx: click.Context, department: str | None, current: bool, days: int | None) -> None:
    """List certificates with their status, validity and whether they may sign now."""
    from ..certificates import list_certificates

    _echo(list_certificates(_service(ctx), department=department, current_only=current, expiring_within_days=days))


@cert.command("show")
@click.argument("ident")
@click.pass_context
@handle_errors
def cert_show(ctx: click.Context, ident: str) -> None:
    """Show one certificate by name (e.g. USCC/signer, tsa), serial (hex) or SHA-256."""
    from ..certificates import certificate_json, find_certificate

    with _service(ctx).db.reader() as session:
        _echo(certificate_json(session, find_certificate(session, ident)))


@cert.command("revoke")
@click.argument("ident")
@click.option(
    "--reason",
    required=True,
    help="RFC 5280 reason: keyCompromise, cACompromise, affiliationChanged, superseded, "
    "cessationOfOperation, privilegeWithdrawn, unspecified.",
)
@click.option(
    "--compromised-at",
    default=None,
    help="ISO 8601 time from which the key is not trusted (keyCompromise/cACompromise only; default now).",
)
@click.pass_context
@handle_errors
def cert_revoke(ctx: click.Context, ident: str, reason: str, compromised_at: str | None) -> None:
    """Revoke a certificate; its CRL, OCSP, the trust list and the seals bound to it follow."""
    from ..certificates import revoke_certificate

    _echo(
        revoke_certificate(
            _service(ctx), ident, reason, actor=_actor(), compromised_at=_parse_time(compromised_at, "--compromised-at")
        )
    )


@cert.command("renew")
@click.argument("ident")
@click.option("--new-key", is_flag=True, help="Certify a new key (the old certificate is revoked as superseded).")
@click.pass_context
@handle_errors
def cert_renew(ctx: click.Context, ident: str, new_key: bool) -> None:
    """Renew a department's or a service's certificate before it expires (same key by default)."""
    from ..certificates import renew_certificate

    _echo(renew_certificate(_service(ctx), ident, new_key=new_key, actor=_actor()))


@click.command("rekey")
@click.argument("uscc")
@click.option("--compromised-at", required=True, help="ISO 8601 time from which the old signer key is not trusted.")
@click.option("--maker-compromised", is_flag=True, help="The seal-maker key was taken too.")
@click.option(
    "--no-reissue",
    is_flag=True,
    help="Do not re-issue the licences sealed with the old key since then (they are listed instead).",
)
@click.pass_context
@handle_errors
def department_rekey(
    ctx: click.Context, uscc: str, compromised_at: str, maker_compromised: bool, no_reissue: bool
) -> None:
    """After a key compromise: new keys and certificates, seals re-made, the old signer revoked."""
    from ..certificates import rekey_department

    at = _parse_time(compromised_at, "--compromised-at")
    assert at is not None  # a required option
    _echo(
        rekey_department(
            _service(ctx),
            uscc,
            compromised_at=at,
            actor=_actor(),
            maker_compromised=maker_compromised,
            reissue=not no_reissue,
        )
    )


@click.command("list")
@click.option("--department", default=None, help="Only this department's (USCC).")
@click.option("--status", type=click.Choice(["active", "suspended", "revoked", "superseded"]), default=None)
@click.pass_context
@handle_errors
def seal_list(ctx: click.Context, department: str | None, status: str | None) -> None:
    """List seals with their status, history and which is each department's default."""
    from ..seal_lifecycle import list_seals

    _echo(list_seals(_service(ctx), department=department, status=status))


@click.command("show")
@click.argument("esid")
@click.pass_context
@handle_errors
def seal_show(ctx: click.Context, esid: str) -> None:
    """Show one seal."""
    from ..seal_lifecycle import show_seal

    _echo(show_seal(_service(ctx), esid))


@click.command("suspend")
@click.argument("esid")
@click.option("--reason", required=True, help="Why (e.g. 印章挂失: reported lost).")
@click.pass_context
@handle_errors
def seal_suspend(ctx: click.Context, esid: str, reason: str) -> None:
    """挂失: stop a seal from now on (reinstate undoes it)."""
    from ..seal_lifecycle import suspend_seal

    _echo(suspend_seal(_service(ctx), esid, reason=reason, actor=_actor()))


@click.command("reinstate")
@click.argument("esid")
@click.option("--reason", default=None, help="Why (e.g. found).")
@click.pass_context
@handle_errors
def seal_reinstate(ctx: click.Context, esid: str, reason: str | None) -> None:
    """Lift a suspension from now on."""
    from ..seal_lifecycle import reinstate_seal

    _echo(reinstate_seal(_service(ctx), esid, reason=reason, actor=_actor()))


@click.command("revoke")
@click.argument("esid")
@click.option("--reason", required=True, help="Why (e.g. 注销: the seal is withdrawn).")
@click.option("--effective-at", default=None, help="ISO 8601 time it went missing (default now).")
@click.pass_context
@handle_errors
def seal_revoke(ctx: click.Context, esid: str, reason: str, effective_at: str | None) -> None:
    """注销: withdraw a seal for good."""
    from ..seal_lifecycle import revoke_seal

    _echo(
        revoke_seal(
            _service(ctx), esid, reason=reason, actor=_actor(), effective_at=_parse_time(effective_at, "--effective-at")
        )
    )


@click.command("default")
@click.argument("esid")
@click.option("--department", required=True, help="USCC of the department.")
@click.pass_context
@handle_errors
def seal_default(ctx: click.Context, esid: str, department: str) -> None:
    """Choose the seal a department's licences are sealed with from now on."""
    from ..seal_lifecycle import set_default_seal

    _echo(set_default_seal(_service(ctx), department, esid, actor=_actor()))


DEPARTMENT_COMMANDS = (department_rekey,)
SEAL_COMMANDS = (seal_list, seal_show, seal_suspend, seal_reinstate, seal_revoke, seal_default)
