"""Resilience fixtures: an empty database of each kind for a real server, and a registry that
stops every server a test started, whatever happened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_kit import Server


def reset_postgres(url: str) -> str:
    """Empty the session's PostgreSQL database (a fresh schema) and return its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def server_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite (WAL, the default) in the test's directory, or the session's PostgreSQL database
    emptied for this test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'trustsvc.db'}"
    return reset_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def pg_server_url(postgres_url: str) -> str:
    return reset_postgres(postgres_url)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Append every started server; all are stopped (and their groups reaped) at teardown."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()
