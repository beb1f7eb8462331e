"""The ``trustsvc`` command line (DESIGN §5 / §5.1).

Errors print ``error: <code>: <message>`` on stderr and exit 1; usage errors exit 2 (click's
convention; ``verify`` uses 3 as DESIGN says, once it exists).
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hsm.errors import TrustSvcError
from hsm.pin import create_demo_pin_file

from .config import Config, load_config, write_config

__all__ = ["main", "cli"]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("trustsvc")

DEMO_REGION = ("320000", "江苏省")
DEMO_DEPARTMENT = ("11320000MB0000001G", "江苏省市场监督管理局")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no passwd entry in some containers
        return "cli"


def handle_errors(fn: F) -> F:
    """Turn domain errors into a one-line message and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TrustSvcError as exc:
            click.echo(f"error: {exc.code}: {exc.message}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _config(ctx: click.Context) -> Config:
    return ctx.obj["config"]  # type: ignore[no-any-return]


def _database(ctx: click.Context) -> Any:
    """The database alone (no key store needed), disposed when the command ends."""
    from .storage import Database

    if "service" in ctx.obj:
        return ctx.obj["service"].db
    if "db" not in ctx.obj:
        ctx.obj["db"] = Database(_config(ctx).database.url)
        ctx.call_on_close(ctx.obj["db"].dispose)
    return ctx.obj["db"]


def _service(ctx: click.Context, *, create_keystore: bool = False) -> Any:
    from .context import open_service

    if "service" not in ctx.obj:
        ctx.obj["service"] = open_service(_config(ctx), create_keystore=create_keystore)
        ctx.call_on_close(ctx.obj["service"].close)
    return ctx.obj["service"]


@click.group()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="TRUSTSVC_HOME",
              help="Service home (config.toml, SQLite database, soft key store). Default ./var.")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """trustsvc: SM2 trust service for e-licences, e-seals and service codes."""
    logging.basicConfig(level=os.environ.get("TRUSTSVC_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.ensure_object(dict)
    try:
        ctx.obj["config"] = load_config(home=home)
    except TrustSvcError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(1)


def _prepare_home(config: Config, region: str, name: str, demo: bool) -> Config:
    """Write config.toml (and in demo mode a PIN file) when the home has none yet."""
    if not config.config_path.exists():
        write_config(config.config_path, {"region": {"code": region, "name": name}}, demo=demo)
    config = load_config(home=config.home)
    if config.region is not None and config.region.code != region:
        raise click.ClickException(
            f"{config.config_path} is configured for region {config.region.code}, not {region}")
    if demo and "TRUSTSVC_HSM_PIN" not in os.environ and config.hsm.pin_file is None:
        pin_path = config.home / "hsm.pin"
        if create_demo_pin_file(pin_path):
            click.echo(f"demo mode: created a random key-store PIN in {pin_path} (mode 0600). "
                       "Use TRUSTSVC_HSM_PIN or TRUSTSVC_HSM_PIN_FILE outside the demo.", err=True)
    return config


@cli.command()
@click.option("--region", "region", required=True, help="GB/T 2260 region code, e.g. 320000.")
@click.option("--name", required=True, help="Region name, e.g. 江苏省.")
@click.option("--demo", is_flag=True, help="Demo mode: may create a PIN file under the home.")
@click.pass_context
@handle_errors
def init(ctx: click.Context, region: str, name: str, demo: bool) -> None:
    """Create the region root CA and the service keys (running it again changes nothing)."""
    from . import pki

    config = _prepare_home(_config(ctx), region, name, demo or _config(ctx).demo)
    ctx.obj["config"] = config
    service = _service(ctx, create_keystore=True)
    result = pki.init_region(service, region, name, actor=_actor())
    state = "initialised" if result.created else "already initialised (nothing changed)"
    click.echo(f"region {result.region_code} {result.region_name}: {state}")
    click.echo(f"pin (SHA-256 of the root CA certificate): {result.root_sha256}")


@cli.command()
@click.option("--host", default=None, help="Listen address (default from config, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default from config, 8000).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API and pages (gunicorn)."""
    from .serve import run_server

    service = _service(ctx)  # self-test, key store PIN and migrations checked before forking
    from . import pki

    with service.db.reader() as session:
        pki.get_region(session)
    config = _config(ctx)
    service.close()
    ctx.obj.pop("service", None)
    run_server(config, host=host or config.server.host, port=port or config.server.port,
               workers=workers or config.server.workers)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.pass_context
@handle_errors
def demo(ctx: click.Context, host: str, port: int) -> None:
    """Bootstrap the demo region 320000 when nothing is configured, then serve (``make run``)."""
    from . import pki
    from .apikeys import Role, create_api_key

    config = _config(ctx)
    key_file = config.home / "admin.key"
    if config.region is None:
        config = _prepare_home(config, *DEMO_REGION, demo=True)
        ctx.obj["config"] = config
        service = _service(ctx, create_keystore=True)
        pki.init_region(service, *DEMO_REGION, actor=_actor())
        pki.add_department(service, *DEMO_DEPARTMENT, actor=_actor())
        if not key_file.exists():
            with service.db.transaction() as session:
                created = create_api_key(session, role=Role.ADMIN, actor=_actor(), label="demo admin")
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(created.token + "\n")
        service.close()
        ctx.obj.pop("service", None)
    url = f"http://{host}:{port}"
    click.echo(f"trustsvc demo region {config.region.code if config.region else DEMO_REGION[0]} "
               f"serving on {url}  (health: {url}/healthz)")
    if key_file.exists():
        click.echo(f"admin API key: {key_file}  (use: Authorization: Bearer $(cat {key_file}))")
    ctx.invoke(serve, host=host, port=port, workers=None)


@cli.command()
@click.pass_context
@handle_errors
def migrate(ctx: click.Context) -> None:
    """Bring the database schema to the newest migration."""
    db = _database(ctx)
    db.migrate()
    click.echo(f"database {db.redacted_url()} is at the newest schema")


@cli.command("selftest")
@click.pass_context
@handle_errors
def selftest_cmd(ctx: click.Context) -> None:
    """Run the SM2/SM3 known-answer self-test."""
    from hsm.selftest import run_self_test

    result = run_self_test(_config(ctx).hsm.provider)
    click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    sys.exit(0 if result.passed else 1)


@cli.group()
def department() -> None:
    """Issuing departments."""


@department.command("add")
@click.option("--code", required=True, help="18-character unified social credit code (USCC).")
@click.option("--name", required=True, help="Department name, e.g. 江苏省市场监督管理局.")
@click.pass_context
@handle_errors
def department_add(ctx: click.Context, code: str, name: str) -> None:
    """Create a department's issuing CA, seal-maker and signer certificates."""
    from . import pki

    result = pki.add_department(_service(ctx), code, name, actor=_actor())
    click.echo(json.dumps({"created": result.created, "uscc": result.uscc, "name": result.name,
                           "certificates": result.certificates}, ensure_ascii=False, indent=2))


@cli.group()
def apikey() -> None:
    """API keys (hashed at rest; shown once)."""


@apikey.command("create")
@click.option("--role", required=True, type=click.Choice(["admin", "issuer", "verifier", "peer"]))
@click.option("--department", default=None, help="USCC of the department (issuer keys).")
@click.option("--types", default="", help="Comma-separated licence type codes (issuer keys).")
@click.option("--label", default="", help="Free text to recognise the key by.")
@click.pass_context
@handle_errors
def apikey_create(ctx: click.Context, role: str, department: str | None, types: str, label: str) -> None:
    """Create an API key and print it once."""
    from .apikeys import create_api_key

    service = _service(ctx)
    with service.db.transaction() as session:
        created = create_api_key(session, role=role, actor=_actor(), department_uscc=department,
                                 licence_types=[t for t in types.split(",") if t.strip()], label=label)
    click.echo(created.token)


@apikey.command("revoke")
@click.argument("key_id")
@click.pass_context
@handle_errors
def apikey_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke an API key by its id (the part after ``tsk_``)."""
    from .apikeys import revoke_api_key

    service = _service(ctx)
    with service.db.transaction() as session:
        revoke_api_key(session, key_id, actor=_actor())
    click.echo(f"revoked {key_id}")


@cli.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@click.pass_context
@handle_errors
def audit_verify(ctx: click.Context) -> None:
    """Recompute the chain; exit 1 and name the first bad row when it does not hold."""
    from .audit import verify_chain

    with _database(ctx).reader() as session:
        result = verify_chain(session)
    if result.ok:
        click.echo(f"audit log intact: {result.rows} rows")
        return
    click.echo(f"audit log BROKEN at row {result.bad_seq}: {result.problem}", err=True)
    sys.exit(1)


@cli.group("ca")
def ca_group() -> None:
    """The region's CA certificates."""


@ca_group.command("list")
@click.pass_context
@handle_errors
def ca_list(ctx: click.Context) -> None:
    from . import pki

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

    from . import pki

    with _database(ctx).reader() as session:
        der = pki.get_ca(session, slug).der
    if pem:
        click.echo(pem_mod.armor("CERTIFICATE", der).decode(), nl=False)
    else:
        sys.stdout.buffer.write(der)


@cli.group()
def trust() -> None:
    """Trust between regions."""


@trust.command("pin")
@click.pass_context
@handle_errors
def trust_pin(ctx: click.Context) -> None:
    """Print this region's pin: SHA-256 (hex) of its root CA certificate."""
    from . import pki

    with _database(ctx).reader() as session:
        pki.get_region(session)
        click.echo(pki.get_ca(session, "root").sha256)


def main() -> None:
    cli(prog_name="trustsvc")


if __name__ == "__main__":
    main()
