"""``api/`` parses, calls the domain and presents: it opens no database session of its own.

``lint-imports`` keeps SQLAlchemy out of ``api/``; this test catches the other way in, a view
reaching for ``service().db`` directly.
"""

from __future__ import annotations

import re
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"
DB_ACCESS = re.compile(r"\.db\.(reader|transaction)\(|\.execute\(")


def _offenders() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in sorted(API.rglob("*.py")):
        name = path.relative_to(API).as_posix()
        lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if DB_ACCESS.search(line)]
        if lines:
            found[name] = lines
    return found


def test_the_pattern_finds_a_session() -> None:
    assert DB_ACCESS.search("    with service().db.reader() as session:")
    assert DB_ACCESS.search("rows = session.execute(select(Region))")


def test_no_view_opens_a_database_session() -> None:
    assert _offenders() == {}
