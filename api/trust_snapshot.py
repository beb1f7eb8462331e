"""The process's trust snapshot for the views that verify.

``trustsvc serve`` starts one :class:`~trustsvc.federation.snapshot_holder.SnapshotHolder` per worker
(``post_worker_init``) and stores it under :data:`EXTENSION`; anywhere else (tests, ``flask``
shells) the first verification creates it and starts its poller, so every app verifies the
same way.
"""

from __future__ import annotations

import datetime as dt
import threading

from flask import Flask, current_app

from trustsvc.federation.snapshot import TrustSnapshot
from trustsvc.federation.snapshot_holder import SnapshotHolder

__all__ = ["EXTENSION", "snapshot_holder", "current_snapshot"]

EXTENSION = "trustsvc.snapshot"
_lock = threading.Lock()


def snapshot_holder(app: Flask | None = None) -> SnapshotHolder:
    """The app's holder, created (and its poller started) on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    holder = app.extensions.get(EXTENSION)
    if holder is None:
        with _lock:
            holder = app.extensions.get(EXTENSION)
            if holder is None:
                service = app.extensions["trustsvc"]
                holder = SnapshotHolder(service.db, grace=dt.timedelta(seconds=service.config.trust.grace)).start()
                app.extensions[EXTENSION] = holder
    return holder  # type: ignore[no-any-return]


def current_snapshot() -> TrustSnapshot:
    """The snapshot to verify with (no database access on the usual path)."""
    return snapshot_holder().current()
