"""``trustsvc code make|rotate-signer|cache``: service codes, and trust material for offline verification."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..apikeys import SystemActor
from .common import _actor, _service
from .errors import handle_errors


@click.group("code")
def code_group() -> None:
    """Service codes (TS1:): make them, and cache trust material for offline verification."""


@code_group.command("make")
@click.argument("identifier")
@click.option("--dynamic", is_flag=True, help="A short-lived, single-use dynamic code (default: the static code).")
@click.option(
    "--ttl", type=int, default=None, help="Dynamic code lifetime in seconds (30..900; default [codes] dynamic_ttl)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "png", "svg", "json"]), default="text", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not to stdout.")
@click.pass_context
@handle_errors
def code_make(ctx: click.Context, identifier: str, dynamic: bool, ttl: int | None, fmt: str, out: Path | None) -> None:
    """Print a licence's static service code, or make a dynamic one."""
    from ..codes.render import code_png, code_svg
    from ..codes.service import make_dynamic_code, static_code

    if ttl is not None and not dynamic:
        raise click.UsageError("--ttl applies to --dynamic codes")
    svc = _service(ctx)
    code = (
        make_dynamic_code(svc, identifier, principal_or_actor=SystemActor(_actor()), ttl=ttl)
        if dynamic
        else static_code(svc, identifier, principal_or_actor=SystemActor(_actor()))
    )
    data: bytes
    if fmt == "png":
        data = code_png(code.text)
    elif fmt == "svg":
        data = code_svg(code.text).encode("utf-8")
    elif fmt == "json":
        data = (json.dumps(code.as_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        data = (code.text + "\n").encode("ascii")
    if out is not None:
        out.write_bytes(data)
        if code.expires_at is not None:
            click.echo(f"{out}: {code.typ} code, expires {code.expires_at.isoformat()}", err=True)
    else:
        sys.stdout.buffer.write(data)


@code_group.command("rotate-signer")
@click.pass_context
@handle_errors
def code_rotate_signer(ctx: click.Context) -> None:
    """A new code-signer key and certificate sign new codes from now on; the old one stays in
    the trust list while its codes live (and [trust] code_signer_overlap)."""
    from ..federation.signer_rotation import rotate_code_signer

    click.echo(json.dumps(rotate_code_signer(_service(ctx), actor=_actor()).as_dict(), indent=2))


@code_group.command("cache")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 7),
    default=24,
    show_default=True,
    help="How long verifiers may rely on it (its next_update).",
)
@click.pass_context
@handle_errors
def code_cache(ctx: click.Context, directory: Path, hours: int) -> None:
    """Export trust material and signed status lists for offline code verification
    (`trustsvc verify 'TS1:…' --cache DIR`)."""
    import datetime as dt

    from ..codes.material import write_code_cache

    path = write_code_cache(_service(ctx), directory, lifetime=dt.timedelta(hours=hours))
    click.echo(f"wrote {path} (fresh for {hours} h)")
