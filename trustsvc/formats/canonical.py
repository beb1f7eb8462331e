"""Canonical JSON: the exact bytes that get signed (licence metadata, status lists, trust lists).

Sorted keys, no spaces, UTF-8 without escaping, so every signer and verifier of a structure
agrees on its bytes."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json"]


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
