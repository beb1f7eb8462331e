"""The ``trustsvc`` command line (DESIGN §5 / §5.1).

Errors print ``error: <code>: <message>`` on stderr and exit 1; usage errors exit 2 (click's
convention; ``verify`` uses 3 as DESIGN says, once it exists).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from hsm.errors import TrustSvcError
from hsm.pin import create_demo_pin_file

from .cli_errors import handle_errors
from .config import Config, base_url_warning, load_config, served_config, write_config
from .private_files import PRIVATE_UMASK

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


def _echo_json(obj: Any) -> None:
    """Print ``obj`` as the indented UTF-8 JSON every command that returns an object prints."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


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
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TRUSTSVC_HOME",
    help="Service home (config.toml, SQLite database, soft key store). Default ./var.",
)
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """trustsvc: SM2 trust service for e-licences, e-seals and service codes."""
    os.umask(PRIVATE_UMASK)  # everything this process (and serve's workers) writes: 0600 / 0700
    logging.basicConfig(
        level=os.environ.get("TRUSTSVC_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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


_HOST_HELP = "Listen address (default: TRUSTSVC_SERVER_HOST, else [server] host, else 127.0.0.1)."
_PORT_HELP = "Listen port (default: TRUSTSVC_SERVER_PORT, else [server] port, else 8000)."


@cli.command()
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
    from . import pki
    from .signin import resolve_session_secret

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


@cli.command()
@click.option("--host", default=None, help=_HOST_HELP)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help=_PORT_HELP)
@click.pass_context
@handle_errors
def demo(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Bootstrap the demo region 320000 when nothing is configured, then serve (``make run``)."""
    from . import pki
    from .apikeys import Role, create_api_key

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
        from .sealing import SealRequest, make_department_seal

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
    click.echo(
        json.dumps(
            {"created": result.created, "uscc": result.uscc, "name": result.name, "certificates": result.certificates},
            ensure_ascii=False,
            indent=2,
        )
    )


@cli.group()
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
    from .apikeys import create_api_key

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
    """Recompute the chain; exit 1 and name the first bad row when it does not hold. Shows
    progress (a bar on a terminal, plain lines otherwise) while it walks."""
    from .audit import chain_length, verify_chain
    from .cli_bulk import _Progress

    with _database(ctx).reader() as session, _Progress("audit rows checked", chain_length(session) or None) as bar:
        result = verify_chain(session, progress=lambda done, _total: bar.update(done))
    if result.ok:
        click.echo(f"audit log intact: {result.rows} rows")
        return
    click.echo(f"audit log BROKEN at row {result.bad_seq}: {result.problem}", err=True)
    sys.exit(1)


@cli.group()
def seal() -> None:
    """Electronic seals (GB/T 38540)."""


def _parse_time(value: str | None, what: str) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{what} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


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
    from .sealing import SealRequest, make_department_seal

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
                "valid_from": row.valid_start.isoformat(),
                "valid_until": row.valid_end.isoformat(),
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
    from .sealing import apply_seal

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
                "signing_time": applied.signing_time.isoformat(),
                "data_sm3": applied.data_sm3,
                "timestamped": applied.timestamped,
                "file": str(out),
            },
            indent=2,
        )
    )


@cli.group()
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
    from .errors import InvalidInputError
    from .licences.service import issue_licence, licence_json, request_from_json

    try:
        data = json.loads(data_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{data_file} is not UTF-8 JSON: {exc}", code="malformed_request") from None
    row = issue_licence(
        _service(ctx),
        request_from_json(data),
        principal_or_actor=_actor(),
        department_uscc=department,
        idempotency_key=idempotency_key,
    )
    _echo_json(licence_json(row))
    from .licences.files import ensure_licence_file

    try:  # the sealed PDF, in its own transaction: a failure leaves the issued licence as it is
        ensure_licence_file(_service(ctx), row.identifier, actor=_actor())
    except TrustSvcError as exc:
        click.echo(
            f"warning: licence issued, but its PDF was not made: {exc.code}: {exc.message} "
            f"(trustsvc licence file {row.identifier} --out FILE tries again)",
            err=True,
        )


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
    from .licences.files import FILE_FORMATS, ensure_licence_file

    made = ensure_licence_file(_service(ctx), identifier, actor=_actor(), media_type=FILE_FORMATS[fmt])
    out.write_bytes(made.content)
    click.echo(f"{made.sha256}  {out}")


@licence.command("show")
@click.argument("identifier")
@click.pass_context
@handle_errors
def licence_show(ctx: click.Context, identifier: str) -> None:
    """Print a licence as JSON (reads the database only: no key-store PIN needed)."""
    from .licences.service import get_licence, licence_json

    _echo_json(licence_json(get_licence(_database(ctx), identifier)))


@licence.command("revoke")
@click.argument("identifier")
@click.option("--reason", required=True, help="Why (kept with the licence and in the audit log).")
@click.pass_context
@handle_errors
def licence_revoke(ctx: click.Context, identifier: str, reason: str) -> None:
    """Revoke a licence."""
    from .licences.service import licence_json, revoke_licence

    row = revoke_licence(_service(ctx), identifier, principal_or_actor=_actor(), reason=reason)
    _echo_json(licence_json(row))


@licence.command("suspend")
@click.argument("identifier")
@click.option("--reason", default=None, help="Why (kept with the licence and in the audit log).")
@click.pass_context
@handle_errors
def licence_suspend(ctx: click.Context, identifier: str, reason: str | None) -> None:
    """Suspend an active licence (verifiers answer INDETERMINATE until it is reinstated)."""
    from .licences.service import licence_json, suspend_licence

    row = suspend_licence(_service(ctx), identifier, principal_or_actor=_actor(), reason=reason)
    _echo_json(licence_json(row))


@licence.command("reinstate")
@click.argument("identifier")
@click.option("--reason", default=None, help="Why (kept with the licence and in the audit log).")
@click.pass_context
@handle_errors
def licence_reinstate(ctx: click.Context, identifier: str, reason: str | None) -> None:
    """Reinstate a suspended licence."""
    from .licences.service import licence_json, reinstate_licence

    row = reinstate_licence(_service(ctx), identifier, principal_or_actor=_actor(), reason=reason)
    _echo_json(licence_json(row))


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
    from .errors import InvalidInputError
    from .licences.lifecycle import change_from_json
    from .licences.service import change_licence, licence_json

    data: Any = {}
    if data_file is not None:
        try:
            data = json.loads(data_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{data_file} is not UTF-8 JSON: {exc}", code="malformed_request") from None
    if holder_name is not None and isinstance(data, dict):
        data = {**data, "holder_name": holder_name}
    body = change_from_json(data)
    row = change_licence(
        _service(ctx), identifier, principal_or_actor=_actor(), fields=body.fields, holder_name=body.holder_name
    )
    _echo_json(licence_json(row))


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
    from .licences.lifecycle import renew_from_json
    from .licences.service import licence_json, renew_licence

    if no_end == (valid_until is not None):
        raise click.UsageError("give exactly one of --valid-until DATE and --no-end")
    body = renew_from_json({"valid_until": valid_until, "valid_from": valid_from})
    row = renew_licence(
        _service(ctx), identifier, principal_or_actor=_actor(), valid_until=body.valid_until, valid_from=body.valid_from
    )
    _echo_json(licence_json(row))


class _VerifyUsageError(click.UsageError):
    exit_code = 3


@cli.group("code")
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
    from .codes.render import code_png, code_svg
    from .codes.service import make_dynamic_code, static_code

    if ttl is not None and not dynamic:
        raise click.UsageError("--ttl applies to --dynamic codes")
    svc = _service(ctx)
    code = (
        make_dynamic_code(svc, identifier, principal_or_actor=_actor(), ttl=ttl)
        if dynamic
        else static_code(svc, identifier, principal_or_actor=_actor())
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
    from .signer_rotation import rotate_code_signer

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

    from .codes.material import write_code_cache

    path = write_code_cache(_service(ctx), directory, lifetime=dt.timedelta(hours=hours))
    click.echo(f"wrote {path} (fresh for {hours} h)")


class _VerifyCommand(click.Command):
    """Usage errors exit 3 here: 1 and 2 already mean FAILED and INDETERMINATE."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _VerifyUsageError(exc.format_message(), exc.ctx or ctx) from exc


_EXIT = {"PASSED": 0, "FAILED": 1, "INDETERMINATE": 2}
_MARK = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip", "warning": "warn"}


def _print_report(report: Any) -> None:
    """Print a report for people. Shapes differ by kind (an OFD's ``signatures`` is a list of
    reports, a licence PDF's is a count), so nothing here may assume one kind's shape."""
    data = report.as_dict()
    head = data["indication"] + (f" ({data['sub_indication']})" if data["sub_indication"] else "")
    click.echo(f"{head}: {data['message']}")
    signatures = data["object"].get("signatures")
    nested = signatures if isinstance(signatures, list) else []
    obj = {k: v for k, v in data["object"].items() if not (k == "signatures" and nested)}
    click.echo(f"  object: {json.dumps(obj, ensure_ascii=False)}")
    if data["signing_time"]:
        click.echo(f"  signing time: {data['signing_time']}")
    for sig in nested:
        if not isinstance(sig, dict):
            continue
        sub = f" ({sig['sub_indication']})" if sig.get("sub_indication") else ""
        raw = sig.get("object")
        sig_obj: dict[str, Any] = raw if isinstance(raw, dict) else {}
        click.echo(f"  signature {sig_obj.get('id', '')}: {sig.get('indication')}{sub}: {sig.get('message')}")
    for c in data["checks"]:
        click.echo(f"  [{_MARK.get(c['result'], c['result'])}] {c['name']}: {c['detail']}")
    for t in data["trust_path"]:
        click.echo(f"  trust: {json.dumps(t, ensure_ascii=False)}")
    for w in data["warnings"]:
        click.echo(f"  warning: {w}")
    for name, value in data["status_now"].items():  # e.g. a licence revoked since it was sealed
        click.echo(f"  now {name}: {json.dumps(value, ensure_ascii=False)}")


def _verify_snapshot(ctx: click.Context, cache_dir: Path | None) -> Any:
    """What `trustsvc verify` judges with, built once: the cache directory's material (codes,
    ``--cache``), else this region's database (its own namespace and every peer imported by
    pin), else nothing at all."""
    import datetime as dt

    from .snapshot import build_snapshot, empty_snapshot, load_snapshot_cache

    if cache_dir is not None:
        try:
            return load_snapshot_cache(cache_dir)
        except TrustSvcError as exc:
            click.echo(f"error: {exc.code}: {exc.message}", err=True)
            sys.exit(3)
    config = _config(ctx)
    if config.region is not None:
        try:
            return build_snapshot(_database(ctx), grace=dt.timedelta(seconds=config.trust.grace))
        except (TrustSvcError, SQLAlchemyError) as exc:
            log.warning("verifying without this region's trust: %s", getattr(exc, "message", type(exc).__name__))
    return empty_snapshot()


@cli.command(cls=_VerifyCommand)
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--at", "at", default=None, help="Judge 'now' at this ISO 8601 time instead.")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust this CA certificate (PEM or DER); repeatable.",
)
@click.option(
    "--cert",
    "certs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra certificate (not trusted): an intermediate, or the signer of a bare OFD signature.",
)
@click.option(
    "--original",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The signed document, for detached signatures (SES dataHash, detached CMS).",
)
@click.option(
    "--cache",
    "code_cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Service codes: verify offline with this cache (`trustsvc code cache DIR`) instead of "
    "this machine's database.",
)
@click.pass_context
def verify(
    ctx: click.Context,
    target: str,
    as_json: bool,
    at: str | None,
    anchors: tuple[Path, ...],
    certs: tuple[Path, ...],
    original: Path | None,
    code_cache_dir: Path | None,
) -> None:
    """Verify FILE (licence PDF, OFD, .esl seal, SES signature, CMS, certificate, a picture of a
    code's QR) or a code.

    Exit 0 PASSED, 1 FAILED, 2 INDETERMINATE, 3 usage error.
    """
    from ca.certs import load_certificates
    from ca.errors import CertificateError

    from .verifier import verify as verify_in_region
    from .verify import detect_kind

    try:
        now = _parse_time(at, "--at")
    except click.BadParameter as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(3)
    if target == "-":
        data = sys.stdin.buffer.read()
    elif target[:4].upper() == "TS1:":
        data = target.encode()
    elif Path(target).is_file():
        data = Path(target).read_bytes()
    else:
        click.echo(f"error: {target}: no such file (and not a TS1: code)", err=True)
        sys.exit(3)

    def read_certs(paths: tuple[Path, ...], option: str) -> list[bytes]:
        out: list[bytes] = []
        for path in paths:
            try:
                out += [c.der for c in load_certificates(path.read_bytes())]
            except CertificateError as exc:
                click.echo(f"error: {option} {path}: {exc.message}", err=True)
                sys.exit(3)
        return out

    anchor_ders = read_certs(anchors, "--anchor")
    extra_ders = read_certs(certs, "--cert")
    # one region verifier (trustsvc.verifier), each object in its issuer's namespace; --anchor
    # and --cert add a namespace of their own and path helpers
    snapshot = _verify_snapshot(ctx, code_cache_dir if detect_kind(data) in ("code", "picture") else None)
    report = verify_in_region(
        snapshot.with_given(anchor_ders, extra_ders),
        data,
        now=now,
        original=original.read_bytes() if original else None,
    )
    if as_json:
        _echo_json(report.as_dict())
    else:
        _print_report(report)
    sys.exit(_EXIT[report.indication.value])


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


# -- trust lists between regions (trustsvc.trust_lists, trustsvc.peers) -------------------------


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
    from .trust_lists import current_trust_list

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
    from .peers import import_peer

    outcome = import_peer(_service(ctx), source, pin, actor=_actor(), allow_file=True)
    _echo_json(outcome.as_dict())


@trust.command("peers")
@click.pass_context
@handle_errors
def trust_peers(ctx: click.Context) -> None:
    """List imported peers: pin, list sequence, freshness, last refresh outcome, status lists."""
    from .peers import list_peers

    _echo_json(list_peers(_service(ctx)))


@trust.command("refresh")
@click.option("--region", default=None, help="Only this peer region.")
@click.pass_context
@handle_errors
def trust_refresh(ctx: click.Context, region: str | None) -> None:
    """Re-fetch peers' trust lists and their issuers' status lists; exit 1 when any was refused
    or unreachable (the held list is kept until it goes stale)."""
    from .peers import refresh_peers

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
    from .signer_rotation import rotate_trust_list_signer

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
    from .grants import set_licence_types

    listed = set_licence_types(
        _service(ctx), department, [t.strip() for t in types.split(",") if t.strip()], actor=_actor()
    )
    click.echo(json.dumps({"department": department.upper(), "licence_types": listed}, indent=2))


from .cli_licence_types import licence_type  # noqa: E402 - it builds on the helpers above

cli.add_command(licence_type)

from .cli_lifecycle import DEPARTMENT_COMMANDS, SEAL_COMMANDS, cert  # noqa: E402 - it builds on the helpers above

cli.add_command(cert)
for _command in DEPARTMENT_COMMANDS:
    department.add_command(_command)
for _command in SEAL_COMMANDS:
    seal.add_command(_command)


from .cli_bulk import files, licence_import  # noqa: E402 - it builds on the helpers above

licence.add_command(licence_import)
cli.add_command(files)


def main() -> None:
    from .quiet import silence_dependency_warnings

    silence_dependency_warnings()
    cli(prog_name="trustsvc")


if __name__ == "__main__":
    main()
