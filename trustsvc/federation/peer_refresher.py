"""The background refresher ``trustsvc serve`` runs: peers' trust lists and their issuers' status
lists, every ``[trust] refresh_interval`` seconds (0 turns it off).

Where it runs: one daemon thread per gunicorn worker, started by the ``post_worker_init`` hook
(never in the master, which forks, and never by ``create_app``, so tests and ``flask`` shells
get none). Workers coordinate through the database, not through each other: a worker refreshes
only when no peer was attempted within the interval, after a random jitter, so N workers make
about one refresh per interval (an occasional double refresh is harmless: every step is
idempotent and a list is stored only when it is newer). Within one refresh the peers are
fetched concurrently, each within its own deadline (:func:`trustsvc.federation.peers.refresh_peers`), so a
slow or hostile peer neither delays the others nor makes their lists go stale.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading

from sqlalchemy import func, select

from ..context import TrustService
from ..storage.models import TrustPeerRecord, utcnow
from .peers import refresh_peers

__all__ = ["PeerRefresher", "refresh_due"]

log = logging.getLogger(__name__)


def refresh_due(service: TrustService, now: dt.datetime, interval: float) -> bool:
    """Some peer exists and none was attempted within ``interval`` seconds."""
    with service.db.reader() as session:
        count, oldest_recent = session.execute(
            select(func.count(TrustPeerRecord.id), func.max(TrustPeerRecord.last_attempt_at))
        ).one()
    if not count:
        return False
    if oldest_recent is None:
        return True
    if oldest_recent.tzinfo is None:
        oldest_recent = oldest_recent.replace(tzinfo=dt.UTC)
    return bool(now - oldest_recent >= dt.timedelta(seconds=interval * 0.9))


class PeerRefresher(threading.Thread):
    """Refresh peers every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, service: TrustService, interval: float) -> None:
        super().__init__(name="trustsvc-peer-refresher", daemon=True)
        self._service = service
        self._interval = float(interval)
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        wait = random.uniform(0.05, 0.25) * self._interval
        while not self._stopped.wait(wait):
            try:
                if refresh_due(self._service, utcnow(), self._interval):
                    for outcome in refresh_peers(self._service):
                        log.info("peer %s: %s (%s)", outcome.region, outcome.outcome, outcome.message)
            except Exception:
                log.exception("peer refresh failed")
            wait = self._interval * random.uniform(1.0, 1.1)
