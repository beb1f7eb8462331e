"""Time in one place: the wire format of every time the service writes, and China's time zone.

Responses, signed lists and reports give instants as RFC 3339 UTC to the second
(``2026-01-31T12:00:00Z``, :func:`iso_utc`); licence dates are calendar days in China Standard
Time (:data:`CHINA`, :func:`china_today`).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import overload

__all__ = ["CHINA", "china_today", "iso_utc", "iso_utc_epoch", "past_in_china"]

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time (UTC+8, no daylight saving): issue dates, validity and the faces."""


@overload
def iso_utc(value: dt.datetime) -> str: ...
@overload
def iso_utc(value: None) -> None: ...
def iso_utc(value: dt.datetime | None) -> str | None:
    """``value`` as RFC 3339 UTC to the second with ``Z`` (fractions dropped); None stays None.

    The one shape of an instant in every response. A naive ``value`` (as SQLite gives back a
    stored time) is taken to be UTC already, never the machine's local time."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_epoch(seconds: int) -> str:
    """``iso_utc`` of whole POSIX seconds (a code's ``iat``/``exp``), at half the cost of going
    through a datetime: every code verification shows one or two."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def china_today(now: dt.datetime | None = None) -> dt.date:
    """The calendar day in China at ``now`` (default: the current instant)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(CHINA).date()


def past_in_china(day: dt.date | None, now: dt.datetime | None = None) -> bool:
    """True once ``day`` is over in China: the one "expired" rule for a licence valid until
    ``day`` (None: no end date, 长期, never past)."""
    return day is not None and day < china_today(now)
