"""On PostgreSQL a change to trust material wakes every other process's snapshot holder through
LISTEN/NOTIFY, well before its next poll of the trust-version counter; the poll stays the
fallback (SQLite, or a lost notification)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from trustsvc.federation.snapshot_holder import SnapshotHolder
from trustsvc.storage import Database
from trustsvc.storage.trust_version import bump_trust_version

DAY = dt.timedelta(days=1)
SLOW_POLL = 30.0
"""A poll interval far longer than the test waits: only a notification can explain a rebuild."""


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_committed_change_wakes_another_processs_holder_at_once(service, database_url) -> None:
    other = Database(database_url)  # another process's connection pool and holder
    holder = SnapshotHolder(other, grace=DAY, interval=SLOW_POLL).start()
    try:
        assert holder.current().version >= 0 and holder.builds == 1
        if not database_url.startswith("postgresql"):
            assert holder._listener is None  # SQLite: the poll alone
            return
        assert _wait(lambda: holder._listener is not None and holder._listener.is_alive(), 5)
        time.sleep(0.5)  # LISTEN issued
        with service.db.transaction() as session:
            bump_trust_version(session)
        assert _wait(lambda: holder.builds == 2, 1.0), "no rebuild within 1 s of the commit"
        # a rolled-back change notifies nobody
        with pytest.raises(RuntimeError), service.db.transaction() as session:
            bump_trust_version(session)
            raise RuntimeError("roll back")
        time.sleep(0.5)
        assert holder.builds == 2
    finally:
        holder.stop()
        other.dispose()
