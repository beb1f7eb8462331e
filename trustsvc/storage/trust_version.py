"""The trust version: a counter that moves whenever trust material changes.

Every process keeps an immutable trust snapshot (anchors, CAs, code signers, grants, status
lists) and rebuilds it only when this counter moves. The counter is bumped by a flush
listener in the *same transaction* as the change, so no write path can forget it and no
reader can see the change without the new version (or the new version without the change).

On PostgreSQL the same transaction also sends a notification (:data:`NOTIFY_CHANNEL`), so
listening processes need not wait for their next poll.

Watched tables are those a snapshot is built from; a licence row itself is not watched (its
status reaches verifiers through its issuer's status list, which is). A peer row's bookkeeping
columns (:data:`BOOKKEEPING`: when it was last fetched or attempted, and how that went) are
not trust material: every refresh writes them, and a refresh that brings nothing new must not
make every process rebuild its snapshot.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session

from .models import (
    CertificateRecord,
    CRLRecord,
    Department,
    LicenceTypeGrant,
    PeerStatusListRecord,
    Region,
    RetiredSignerRecord,
    SealRecord,
    SealStatusEventRecord,
    StatusListRecord,
    TrustListRecord,
    TrustPeerRecord,
    TrustVersion,
)

__all__ = [
    "WATCHED",
    "BOOKKEEPING",
    "NOTIFY_CHANNEL",
    "bump_trust_version",
    "read_trust_version",
    "watch_trust_changes",
    "subscribe_trust_changes",
]

WATCHED: tuple[type, ...] = (
    Region,
    CertificateRecord,
    CRLRecord,
    Department,
    LicenceTypeGrant,
    PeerStatusListRecord,
    RetiredSignerRecord,
    SealRecord,
    SealStatusEventRecord,
    StatusListRecord,
    TrustListRecord,
    TrustPeerRecord,
)
BOOKKEEPING: Mapping[type, frozenset[str]] = {
    TrustPeerRecord: frozenset({"fetched_at", "last_attempt_at", "status", "last_error"}),
}
"""Columns of watched tables that no snapshot reads: changing only these moves nothing."""
_FLAG = "trustsvc.trust_changed"


NOTIFY_CHANNEL = "trustsvc_trust_version"
"""On PostgreSQL every transaction that moves the counter also ``NOTIFY``s this channel
(delivered when it commits, never if it rolls back), so processes listening on it rebuild at
once instead of at their next poll of the counter (:mod:`trustsvc.federation.snapshot_holder`)."""


def bump_trust_version(session: Session) -> None:
    """Move the counter inside ``session``'s transaction (for Core writes the listener can't see)."""
    session.info[_FLAG] = True
    session.execute(update(TrustVersion).where(TrustVersion.id == 1).values(version=TrustVersion.version + 1))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def read_trust_version(session: Session) -> int:
    """The current counter (0 before the first change; -1 on a database not yet migrated)."""
    value = session.execute(select(TrustVersion.version).where(TrustVersion.id == 1)).scalar_one_or_none()
    return -1 if value is None else int(value)


def _changes_trust(session: Session, obj: Any) -> bool:
    if obj in session.new or obj in session.deleted:
        return True
    ignored = BOOKKEEPING.get(type(obj))
    if ignored is None:
        return session.is_modified(obj)
    # net changes only, as is_modified judges them (a value set to what it was is no change)
    return any(attr.history.has_changes() for attr in inspect(obj).attrs if attr.key not in ignored)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_FLAG):
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, WATCHED) and _changes_trust(session, obj):
            bump_trust_version(session)
            return


def _after_end(session: Session, *_args: Any) -> None:
    session.info.pop(_FLAG, None)


# In-process subscribers per database URL: a process that changed trust material sees it in its
# very next verification, without waiting for its poll of the counter (other processes poll).
_subscribers: dict[str, list[weakref.WeakMethod[Callable[[], None]]]] = {}
_subscribers_lock = threading.Lock()


def subscribe_trust_changes(url: str, callback: Callable[[], None]) -> None:
    """Call ``callback`` (a bound method, held weakly) after any commit in this process that
    moved the counter of the database at ``url``, whichever :class:`Database` object made it."""
    with _subscribers_lock:
        alive = [ref for ref in _subscribers.get(url, []) if ref() is not None]
        alive.append(weakref.WeakMethod(callback))  # type: ignore[arg-type]
        _subscribers[url] = alive


def _notify(url: str) -> None:
    with _subscribers_lock:
        refs = list(_subscribers.get(url, ()))
    for ref in refs:
        callback = ref()
        if callback is not None:
            callback()


def watch_trust_changes(session_factory: Any, url: str | None = None) -> None:
    """Install the listener on a sessionmaker (once per :class:`~trustsvc.storage.Database`);
    with ``url``, commits that moved the counter notify :func:`subscribe_trust_changes`."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_FLAG, None) and url is not None:
            _notify(url)

    event.listen(session_factory, "before_flush", _before_flush)
    event.listen(session_factory, "after_commit", after_commit)
    event.listen(session_factory, "after_rollback", _after_end)
