"""JSON documents made from the licence-type catalogue (``GET /api/v1/licence-types``, the
OpenAPI description), serialised once per catalogue.

The catalogue is an immutable object that is replaced when a type version is added, so the
body made from one stays right for as long as that object is the current one: a region with
hundreds of types would otherwise deep-copy every type's JSON Schema and encode megabytes on
each request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Response, current_app

__all__ = ["catalogue_document"]

_held: dict[str, tuple[object, bytes]] = {}
_lock = threading.Lock()


def catalogue_document(name: str, catalogue: object, build: Callable[[], Any]) -> Response:
    """The JSON response ``build()`` makes for ``catalogue``, encoded once while ``catalogue``
    (compared by identity, and held so its id cannot be reused) is current."""
    held = _held.get(name)
    if held is None or held[0] is not catalogue:
        body = current_app.json.dumps(build()).encode("utf-8") + b"\n"
        with _lock:
            _held[name] = held = (catalogue, body)
    return Response(held[1], mimetype="application/json")
