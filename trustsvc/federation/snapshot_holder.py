"""One :class:`~trustsvc.federation.snapshot.TrustSnapshot` per process, kept current.

:meth:`SnapshotHolder.current` hands out the snapshot without touching the database, so a
verification's trust material costs nothing per request. It changes in three ways:

* a daemon poller reads the trust-version counter every ``interval`` (0.5 s) and rebuilds when
  it moved, so every process on one database (every gunicorn worker, every host on one
  PostgreSQL) converges on a change within about a second; it also rebuilds when a held peer
  list goes stale by time;
* on PostgreSQL a second daemon thread ``LISTEN``s on the channel every counter move notifies
  (:data:`~trustsvc.storage.trust_version.NOTIFY_CHANNEL`) and wakes the poller at once, so
  other processes follow a change in milliseconds; the poll stays, for a notification lost
  while the listening connection was down;
* a commit *in this process* that moved the counter (an import, a revocation, a new status
  list) marks the snapshot dirty at once, and the next :meth:`current` rebuilds before it
  answers: whoever changed trust material sees the change in its very next verification;
* :meth:`refresh` checks the counter now (tests, the CLI).

The poller holds the holder weakly and ends when the holder is gone or :meth:`stop` is called;
it also ends when the database is disposed (the service closed). It is started by ``trustsvc
serve`` in each worker, or lazily by the web app on first use.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import weakref
from collections.abc import Callable

from sqlalchemy.engine import make_url

from ..storage import Database
from ..storage.models import utcnow
from ..storage.trust_version import NOTIFY_CHANNEL, subscribe_trust_changes
from .snapshot import BuildCache, TrustSnapshot, build_snapshot

__all__ = ["SnapshotHolder", "POLL_INTERVAL"]

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
"""Seconds between two reads of the trust-version counter."""


class SnapshotHolder:
    """The current snapshot of one database, shared by every thread of the process."""

    def __init__(
        self,
        db: Database,
        *,
        grace: dt.timedelta,
        interval: float = POLL_INTERVAL,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._db = db
        self._grace = grace
        self._interval = interval
        self._clock = clock
        self._cache = BuildCache()
        self._lock = threading.Lock()
        # Changes this process committed: a counter, not a flag, so a snapshot knows whether it was
        # built after the newest of them (a flag cleared when a rebuild *starts* would let a
        # reader take the old snapshot while the new one is still being built).
        self._change_counter = itertools.count(1)
        self._changes = 0
        self._built_after = 0
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._snapshot: TrustSnapshot | None = None
        self.builds = 0
        subscribe_trust_changes(db.url, self._changed_here)

    def _changed_here(self) -> None:
        self._changes = next(self._change_counter)

    def current(self) -> TrustSnapshot:
        """The snapshot to verify with: no database access unless this process changed trust
        material since the last build (or nothing was built yet)."""
        snapshot = self._snapshot
        if snapshot is None or self._built_after != self._changes:
            return self._rebuild(force=False, if_dirty=snapshot is not None)
        return snapshot

    def refresh(self, *, force: bool = False) -> TrustSnapshot:
        """Rebuild when the counter moved (or a peer list went stale by time, or ``force``)."""
        return self._rebuild(force=force, if_dirty=False)

    def _due(self, snapshot: TrustSnapshot) -> bool:
        if self._db.trust_version() != snapshot.version:
            return True
        rebuild_at = snapshot.rebuild_at
        return rebuild_at is not None and self._clock() >= rebuild_at

    def _rebuild(self, *, force: bool, if_dirty: bool) -> TrustSnapshot:
        with self._lock:
            snapshot = self._snapshot
            changes = self._changes
            if snapshot is not None and if_dirty and self._built_after == changes:
                return snapshot  # another thread rebuilt it while this one waited
            if snapshot is None or force or if_dirty or changes != self._built_after or self._due(snapshot):
                snapshot = build_snapshot(self._db, grace=self._grace, now=self._clock(), cache=self._cache)
                self._snapshot, self._built_after = snapshot, changes
                self.builds += 1
                log.debug("trust snapshot version %s built in %.3f s", snapshot.version, snapshot.build_seconds)
            return snapshot

    # -- the poller ------------------------------------------------------------------------------

    def start(self) -> SnapshotHolder:
        """Start the poller thread (once); returns ``self``."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_poll,
                    args=(weakref.ref(self), self._stopped, self._wake, self._interval),
                    name="trustsvc-snapshot",
                    daemon=True,
                )
                self._thread.start()
                if make_url(self._db.url).get_backend_name() == "postgresql":
                    self._listener = threading.Thread(
                        target=_listen,
                        args=(weakref.ref(self), self._stopped, self._wake, self._db.url),
                        name="trustsvc-snapshot-listen",
                        daemon=True,
                    )
                    self._listener.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    @property
    def closed(self) -> bool:
        """Stopped, or its database was disposed (the service closed)."""
        return self._stopped.is_set() or getattr(self._db, "closed", False)

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _poll(
    ref: weakref.ReferenceType[SnapshotHolder], stopped: threading.Event, wake: threading.Event, interval: float
) -> None:
    failures = 0
    while True:
        wake.wait(interval * min(1 + failures, 20))
        wake.clear()
        if stopped.is_set():
            return
        holder = ref()
        if holder is None or holder.closed:
            return
        try:
            holder.refresh()
            failures = 0
        except Exception:
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                log.warning("trust snapshot refresh failed (%d in a row)", failures, exc_info=True)
        del holder


def _listen(
    ref: weakref.ReferenceType[SnapshotHolder], stopped: threading.Event, wake: threading.Event, url: str
) -> None:
    """Wake the poller whenever PostgreSQL delivers a trust-version notification; reconnect
    (and wake it, since a notification may have been missed) after any failure."""
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    failures = 0
    while not stopped.is_set():
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                wake.set()
                failures = 0
                while not stopped.is_set():
                    holder = ref()
                    if holder is None or holder.closed:
                        return
                    del holder
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        wake.set()
        except Exception:
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                log.warning(
                    "trust-version notifications unavailable (%d in a row); polling only", failures, exc_info=True
                )
            stopped.wait(min(30.0, 1.0 * failures))
