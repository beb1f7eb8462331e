"""Verification counts for the dashboard, kept in memory per process and flushed to
``verification_day_counts`` every few seconds, so counting costs the verify path one dictionary
increment under a lock and never a database write.

A statistic, not a record: the increments of the last few seconds are lost if the process dies
before its next flush (the audit log, not this, records keyed verifications). A peer region
names itself in a header nobody authenticates, so the value is only checked for shape (a
6-digit region code) and the keys one process holds between flushes are capped
(:data:`MAX_KEYS`); what does not fit is dropped and logged.

``trustsvc serve`` starts one flusher thread per worker (:meth:`VerificationCounter.start`) and
flushes on worker exit; without it (tests, shells) :meth:`VerificationCounter.flush` writes the
pending counts, which the dashboard does before it reads.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections import Counter
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from .dashboard_counts import Channel, verification_day_counts
from .formats.uscc import USCC_ALPHABET
from .storage.db import Database

__all__ = ["FLUSH_SECONDS", "MAX_KEYS", "VerificationCounter", "valid_region", "valid_issuer"]

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
MAX_KEYS = 5000
"""Distinct (day, issuer, verifier, channel) keys held between two flushes; more are dropped."""
_CHINA_OFFSET = 8 * 3600
_EPOCH = dt.date(1970, 1, 1)
_USCC = re.compile(f"^[{USCC_ALPHABET}]{{18}}$")
_REGION = re.compile(r"^[1-8][0-9]{5}$")

_Key = tuple[int, str, str, str]  # China day (days since 1970-01-01), issuer, verifier, channel


def valid_issuer(text: Any) -> bool:
    """The shape of a unified social credit code (the issuer part of a licence identifier)."""
    return isinstance(text, str) and bool(_USCC.match(text))


def valid_region(text: Any) -> bool:
    """The shape of a GB/T 2260 province-level-or-lower region code."""
    return isinstance(text, str) and bool(_REGION.match(text))


class VerificationCounter:
    """Per-process counts of verifications by day, issuer, verifying region and channel."""

    def __init__(self, db: Database, *, max_keys: int = MAX_KEYS) -> None:
        self._db = db
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._pending: Counter[_Key] = Counter()
        self._dropped = 0
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self, issuer: str, *, verifier: str = "", channel: Channel = Channel.VERIFY, now: float | None = None
    ) -> bool:
        """Count one check of a licence of ``issuer`` (a USCC) by ``verifier`` (``""``: here, or a
        peer's region code). Returns False (and counts nothing) for a value of the wrong shape or
        when the process already holds :data:`MAX_KEYS` other keys."""
        if not valid_issuer(issuer) or (verifier and not valid_region(verifier)):
            return False
        day = int(((time.time() if now is None else now) + _CHINA_OFFSET) // 86400)
        key = (day, issuer, verifier, channel.value)
        with self._lock:
            if key not in self._pending and len(self._pending) >= self._max_keys:
                self._dropped += 1
                return False
            self._pending[key] += 1
        return True

    def pending(self) -> int:
        with self._lock:
            return sum(self._pending.values())

    def flush(self) -> int:
        """Add the pending counts to the table (one upsert per key, in key order); on a database
        error they are kept for the next flush. Returns the number of keys written."""
        with self._lock:
            batch, self._pending = self._pending, Counter()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            log.warning("verification counts: %d increments dropped (more than %d keys)", dropped, self._max_keys)
        if not batch:
            return 0
        rows = [
            {"day": _EPOCH + dt.timedelta(days=day), "issuer": issuer, "verifier": verifier, "channel": channel, "n": n}
            for (day, issuer, verifier, channel), n in sorted(batch.items())
        ]
        try:
            with self._db.transaction() as session:
                dialect = session.get_bind().dialect.name
                ins = (postgresql if dialect == "postgresql" else sqlite).insert(verification_day_counts)
                stmt = ins.on_conflict_do_update(
                    index_elements=["day", "issuer", "verifier", "channel"],
                    set_={"n": verification_day_counts.c.n + ins.excluded.n},
                )
                for row in rows:
                    session.execute(stmt, row)
        except Exception:
            log.exception("verification counts not written; kept for the next flush")
            with self._lock:
                for key, n in batch.items():
                    if key in self._pending or len(self._pending) < self._max_keys:
                        self._pending[key] += n
            return 0
        return len(rows)

    def start(self, interval: float = FLUSH_SECONDS) -> VerificationCounter:
        """Flush every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(interval,), name="trustsvc-verification-counts", daemon=True
            )
            self._thread.start()
        return self

    def _run(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            self.flush()

    def stop(self) -> None:
        """Stop the flusher and write what is pending."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
