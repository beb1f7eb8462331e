"""``trustsvc init|serve|demo|migrate|selftest``: set up a home, serve it, check the crypto."""

from __future__ import annotations

import json
import os
import sys

import click

from hsm.pin import create_demo_pin_file

from ..config import Config, base_url_warning, load_config, served_config, write_config
from .common import DEMO_DEPARTMENT, DEMO_REGION, _actor, _config, _database, _service, log
from .errors import handle_errors


def _prepare_home(config: Config, region: str, name: str, demo: bool) -> Config:
    """Write config.toml (and in demo mode a PIN file) when the home has none yet."""
    if not config.config_path.exists():
        write_config(config.config_path, {"region": {"code": region, "name": name}}, demo=demo)
    config = load_config(home=config.home)
    if config.region is not None and config.region.code != region:
        raise click.ClickException(f"{config.config_path} is configured for region {config.region.code}, not {region}")
    if demo and "TRUSTSVC_HSM_PIN" not in os.environ and config.hsm.pin_file is None:
        pin_path = config.home / "hsm.pin"
        if create_demo_pin_file(pin_path):
            click.echo(
                f"demo mode: created a random key-store PIN in {pin_path} (mode 0600). "
                "Use TRUSTSVC_HSM_PIN or TRUSTSVC_HSM_PIN_FILE outside the demo.",
                err=True,
            )
    return config


@click.command()
@click.option("--region", "region", required=True, help="GB/T 2260 region code, e.g. 320000.")
@click.option("--name", required=True, help="Region name, e.g. 江苏省.")
@click.option("--demo", is_flag=True, help="Demo mode: may create a PIN file under the home.")
@click.pass_context
@handle_errors
def init(ctx: click.Context, region: str, name: str, demo: bool) -> None:
    """Create the region root CA and the service keys (running it again changes nothing)."""
    from .. import pki

    config = _prepare_home(_config(ctx), region, name, demo or _config(ctx).demo)
    ctx.obj["config"] = config
    service = _service(ctx, create_keystore=True)
    result = pki.init_region(service, region, name, actor=_actor())
    state = "initialised" if result.created else "already initialised (nothing changed)"
    click.echo(f"region {result.region_code} {result.region_name}: {state}")
    click.echo(f"pin (SHA-256 of the root CA certificate): {result.root_sha256}")


_HOST_HELP = "Listen address (default: TRUSTSVC_SERVER_HOST, else [server] host, else 127.0.0.1)."
_PORT_HELP = "Listen port (default: TRUSTSVC_SERVER_PORT, else [server] port, else 8000)."


@click.command()
@click.option("--host", default=None, help=_HOST_HELP)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help=_PORT_HELP)
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API and pages (gunicorn). Without [server] base_url the published URLs
    (trust list, status lists, CRL, OCSP) name the address served here."""
    from .serve import run_server

    config = served_config(_config(ctx), host=host, port=port)
    ctx.obj["config"] = config
    service = _service(ctx)  # self-test, key store PIN and migrations checked before forking
    from .. import pki
    from ..signin import resolve_session_secret

    with service.db.reader() as session:
        pki.get_region(session)
    if resolve_session_secret(config, os.environ) is None:  # a demo home's secret is created here, once
        click.echo(
            "note: the console (/console) is disabled: set TRUSTSVC_SECRET_KEY or [server] session_secret_file",
            err=True,
        )
    warning = base_url_warning(config)
    if warning is not None and not (config.demo or ctx.obj.get("demo_command")):
        log.warning("%s", warning)  # stderr through the CLI's logging set-up, and into the service log
    service.close()
    ctx.obj.pop("service", None)
    run_server(config, host=config.server.host, port=config.server.port, workers=workers or config.server.workers)


@click.command()
@click.option("--host", default=None, help=_HOST_HELP)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help=_PORT_HELP)
@click.pass_context
@handle_errors
def demo(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Bootstrap the demo region 320000 when nothing is configured, then serve (``make run``)."""
    from .. import pki
    from ..apikeys import Role, create_api_key

    ctx.obj["demo_command"] = True
    # the served address before anything is made: certificates made now carry its URLs
    config = served_config(_config(ctx), host=host, port=port)
    ctx.obj["config"] = config
    key_file = config.home / "admin.key"
    if config.region is None:
        config = served_config(_prepare_home(config, *DEMO_REGION, demo=True), host=host, port=port)
        ctx.obj["config"] = config
        service = _service(ctx, create_keystore=True)
        pki.init_region(service, *DEMO_REGION, actor=_actor())
        pki.add_department(service, *DEMO_DEPARTMENT, actor=_actor())
        from ..sealing import SealRequest, make_department_seal

        seal_row = make_department_seal(
            service, SealRequest(DEMO_DEPARTMENT[0], DEMO_DEPARTMENT[1], center_text="证照专用章"), actor=_actor()
        )
        click.echo(f"demo seal {seal_row.esid} made for {DEMO_DEPARTMENT[1]}")
        if not key_file.exists():
            with service.db.transaction() as session:
                created = create_api_key(session, role=Role.ADMIN, actor=_actor(), label="demo admin")
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(created.token + "\n")
    # Demo homes also get an issuer key for the console and one sample licence (both idempotent).
    issuer_file = config.home / "issuer.key"
    sample = None
    if config.demo:
        from .demo import ensure_issuer_key, ensure_sample_licence

        service = _service(ctx)
        ensure_issuer_key(service, issuer_file, DEMO_DEPARTMENT[0], actor=_actor())
        sample = ensure_sample_licence(service, DEMO_DEPARTMENT[0], actor=_actor())
    if "service" in ctx.obj:
        ctx.obj.pop("service").close()
    url = f"http://{config.server.host}:{config.server.port}"
    click.echo(
        f"trustsvc demo region {config.region.code if config.region else DEMO_REGION[0]} "
        f"serving on {url}  (health: {url}/healthz)"
    )
    if key_file.exists():
        click.echo(f"admin API key: {key_file}  (use: Authorization: Bearer $(cat {key_file}))")
    if issuer_file.exists():
        click.echo(f"issuer API key ({DEMO_DEPARTMENT[1]}): {issuer_file}")
        click.echo(f"issuer console: {url}/console  (sign in with the key in {issuer_file} or {key_file})")
    if sample is not None:
        click.echo(f"sample licence {sample.identifier}: {url}/licences/{sample.identifier}")
    ctx.invoke(serve, host=config.server.host, port=config.server.port, workers=None)


@click.command()
@click.pass_context
@handle_errors
def migrate(ctx: click.Context) -> None:
    """Bring the database schema to the newest migration."""
    db = _database(ctx)
    db.migrate()
    click.echo(f"database {db.redacted_url()} is at the newest schema")


@click.command("selftest")
@click.pass_context
@handle_errors
def selftest_cmd(ctx: click.Context) -> None:
    """Run the SM2/SM3 known-answer self-test."""
    from hsm.selftest import run_self_test

    result = run_self_test(_config(ctx).hsm.provider)
    click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    sys.exit(0 if result.passed else 1)
