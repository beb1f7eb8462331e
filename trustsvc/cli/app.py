"""The ``trustsvc`` command line: the root group and ``main()``; each command group lives in its
own module of this package (docs/architecture.md).

Errors print ``error: <code>: <message>`` on stderr and exit 1; usage errors exit 2 (click's
convention; ``verify`` uses 3).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from hsm.errors import TrustSvcError

from ..config import load_config
from ..private_files import PRIVATE_UMASK
from .admin import apikey, audit, ca_group, department
from .bulk import files, licence_import
from .codes import code_group
from .home import demo, init, migrate, selftest_cmd, serve
from .licence_types import licence_type
from .licences import licence
from .lifecycle import DEPARTMENT_COMMANDS, SEAL_COMMANDS, cert
from .seals import seal
from .trust import trust
from .verify import verify

__all__ = ["main", "cli"]


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


for _command in (init, serve, demo, migrate, selftest_cmd, verify):
    cli.add_command(_command)
for _group in (department, apikey, audit, ca_group, seal, licence, code_group, trust, licence_type, cert, files):
    cli.add_command(_group)
for _command in DEPARTMENT_COMMANDS:
    department.add_command(_command)
for _command in SEAL_COMMANDS:
    seal.add_command(_command)
licence.add_command(licence_import)


def main() -> None:
    from ..quiet import silence_dependency_warnings

    silence_dependency_warnings()
    cli(prog_name="trustsvc")
