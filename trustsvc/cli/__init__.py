"""Entry points: the ``trustsvc`` command line, the gunicorn server and the demo seed.

Nothing else imports this package (``lint-imports`` checks it); it sits above ``api/``.
``python -m trustsvc.cli`` and the ``trustsvc`` console script both run :func:`main`.
"""

from __future__ import annotations

from .app import cli, main

__all__ = ["cli", "main"]
