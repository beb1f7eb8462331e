"""Time in one place: the China time zone every licence date is read in."""

from __future__ import annotations

import datetime as dt

__all__ = ["CHINA"]

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time (UTC+8, no daylight saving): issue dates, validity and the faces."""
