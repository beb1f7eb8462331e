"""Helpers every command group shares: the actor, the home's config, database and service, JSON output."""

from __future__ import annotations

import getpass
import json
import logging
from typing import Any

import click

from ..config import Config

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
    from ..storage import Database

    if "service" in ctx.obj:
        return ctx.obj["service"].db
    if "db" not in ctx.obj:
        ctx.obj["db"] = Database(_config(ctx).database.url)
        ctx.call_on_close(ctx.obj["db"].dispose)
    return ctx.obj["db"]


def _service(ctx: click.Context, *, create_keystore: bool = False) -> Any:
    from ..context import open_service

    if "service" not in ctx.obj:
        ctx.obj["service"] = open_service(_config(ctx), create_keystore=create_keystore)
        ctx.call_on_close(ctx.obj["service"].close)
    return ctx.obj["service"]


def _parse_time(value: str | None, what: str) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{what} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
