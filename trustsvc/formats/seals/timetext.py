"""Reading the time texts that SES ``timeInfo`` and OFD ``SignatureDateTime`` carry in the wild.

Seen in real seals: ``200125073156Z`` (UTCTime text, the GM/T
0031-2014 form), ``20201010151120``, ``2020-04-22 16:22:44``, ``20221116112058Z``,
``20201004072855.302Z`` and ``2020-01-25T07:31:56.377Z``. A text without a zone designator is
read as China Standard Time (UTC+08:00), which is what the producers that omit it write; the
caller is told so, since it is a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from ...times import CHINA

__all__ = ["ParsedTimeText", "parse_time_text", "CHINA_STANDARD_TIME"]

CHINA_STANDARD_TIME = CHINA

_PATTERN = re.compile(
    r"""^(?:
        (?P<compact>(?P<cy>\d{2}|\d{4})(?P<cm>\d{2})(?P<cd>\d{2})(?P<cH>\d{2})(?P<cM>\d{2})(?P<cS>\d{2}))
      | (?P<iso>(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})[ T](?P<iH>\d{2}):(?P<iM>\d{2}):(?P<iS>\d{2}))
    )
    (?:[.,](?P<frac>\d{1,9}))?
    (?P<zone>Z|[+-]\d{2}:?\d{2})?$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class ParsedTimeText:
    value: datetime
    """Aware, in UTC."""
    form: str
    """``UTCTime``, ``GeneralizedTime`` or ``ISO 8601``: which family the text follows."""
    zone_assumed: bool
    """True when the text had no zone and UTC+08:00 was assumed."""


def parse_time_text(text: str) -> ParsedTimeText | None:
    """The time in ``text``, or ``None`` when it is none of the known forms."""
    match = _PATTERN.match(text.strip())
    if match is None:
        return None
    g = match.groupdict()
    if g["compact"]:
        year = int(g["cy"])
        if len(g["cy"]) == 2:  # X.680 UTCTime: 50..99 -> 19xx
            year += 1900 if year >= 50 else 2000
            form = "UTCTime"
        else:
            form = "GeneralizedTime"
        parts = (year, int(g["cm"]), int(g["cd"]), int(g["cH"]), int(g["cM"]), int(g["cS"]))
    else:
        form = "ISO 8601"
        parts = (int(g["iy"]), int(g["im"]), int(g["id"]), int(g["iH"]), int(g["iM"]), int(g["iS"]))
    micro = int((g["frac"] or "0").ljust(6, "0")[:6])
    zone = g["zone"]
    if zone is None:
        tz: timezone = CHINA_STANDARD_TIME
    elif zone == "Z":
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        value = datetime(*parts, micro, tzinfo=tz)
    except ValueError:
        return None
    return ParsedTimeText(value.astimezone(UTC), form, zone is None)
