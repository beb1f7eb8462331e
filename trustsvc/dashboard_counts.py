"""The dashboard's aggregate tables (migration 0014_dashboard_aggregates), as SQLAlchemy Core
tables: the dashboard reads only these, so its cost does not grow with the licences stored.

The first three are kept by database triggers on ``licences`` in the writer's transaction (see
the migration); on PostgreSQL each backend adds to its own ``shard`` row, so every reader sums
over ``shard``. ``verification_day_counts`` is written only by
:mod:`trustsvc.verification_counter` (increments flushed every few seconds).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, SmallInteger, String, Table

__all__ = [
    "Channel",
    "LicenceEvent",
    "licence_day_counts",
    "licence_status_counts",
    "licence_active_until",
    "verification_day_counts",
]

metadata = MetaData()


class LicenceEvent(StrEnum):
    """What the triggers count per day (``licence_day_counts.event``)."""

    ISSUED = "issued"  # a version-1 row
    CHANGED = "changed"  # a later version: a change or renewal
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"  # suspended → active
    REVOKED = "revoked"


class Channel(StrEnum):
    """How a licence was checked (``verification_day_counts.channel``)."""

    VERIFY = "verify"
    """A verification here (API or /verify page, keyed or anonymous)."""
    STATUS_LIST = "status_list"
    """A peer region fetched the issuer's signed status list (its verifiers then check offline)."""
    REDEEM = "redeem"
    """A peer region redeemed a holder code here for the licence (online, with its peer key)."""


licence_day_counts = Table(
    "licence_day_counts",
    metadata,
    Column("department_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("type_code", String(64), primary_key=True),
    Column("event", String(16), primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

licence_status_counts = Table(
    "licence_status_counts",
    metadata,
    Column("department_id", Integer, primary_key=True),
    Column("type_code", String(64), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

licence_active_until = Table(
    "licence_active_until",
    metadata,
    Column("department_id", Integer, primary_key=True),
    Column("valid_until", Date, primary_key=True),
    Column("type_code", String(64), primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("n", BigInteger, nullable=False),
)
"""Active licences by their last valid day: those before today (China) are expired now."""

verification_day_counts = Table(
    "verification_day_counts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("issuer", String(32), primary_key=True),
    Column("verifier", String(8), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("n", BigInteger, nullable=False),
)
"""Per China day, issuer (the licence's department USCC) and verifier (``""``: here; else the
peer region's code, as that peer's client states it)."""
