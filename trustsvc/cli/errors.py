"""How every ``trustsvc`` command reports a domain error: ``error: <code>: <message>`` on
stderr and exit status 1. One module that every command group imports, so none keeps a copy."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from hsm.errors import TrustSvcError

__all__ = ["handle_errors"]

F = TypeVar("F", bound=Callable[..., Any])


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
