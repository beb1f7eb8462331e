"""Shared fixtures: the interop directory, real databases (SQLite and PostgreSQL), an open
service in a temporary home, its department's seal, the app and its test client, API keys.

PostgreSQL: ``TRUSTSVC_TEST_DATABASE_URL`` names a server URL whose user may create databases
(default ``postgresql://postgres@127.0.0.1:5432/postgres``). Each test session creates its own
database and drops it afterwards. Without a server the PostgreSQL variants skip with the reason,
unless ``TRUSTSVC_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), where they fail instead.

Redis (the shared rate-limit store): ``TRUSTSVC_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``, set by ``.ci/run``, which starts ``redis-server`` when none
answers). Without a server the Redis tests skip with the reason, unless ``CI=true``, where they
fail instead.

Every run ends with one line saying how many tests read the interop collection (see the end of
this file).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def interop_path() -> Path:
    return Path(os.environ.get("TRUSTSVC_INTEROP_DIR") or REPO.parent / "shared" / "interop")


@pytest.fixture(scope="session")
def interop_dir() -> Path:
    path = interop_path()
    if not path.is_dir():
        pytest.skip(f"interop artifacts not found at {path} (set TRUSTSVC_INTEROP_DIR)")
    return path


def _pg_server_url() -> str:
    return os.environ.get("TRUSTSVC_TEST_DATABASE_URL", DEFAULT_PG)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    import psycopg
    from sqlalchemy.engine import make_url

    from trustsvc.storage import normalise_url

    server = _pg_server_url()
    name = f"trustsvc_test_{secrets.token_hex(4)}"
    plain = make_url(normalise_url(server)).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        if os.environ.get("TRUSTSVC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {server} is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL server at {server} ({type(exc).__name__}); set TRUSTSVC_TEST_DATABASE_URL")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(normalise_url(server)).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (answering PING); its counts outlive a run, so tests use fresh keys."""
    import redis

    url = os.environ.get("TRUSTSVC_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required here (CI=true) but {url} is unreachable: {exc}")
        pytest.skip(f"no Redis server at {url} ({type(exc).__name__}); set TRUSTSVC_TEST_REDIS_URL")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind; the PostgreSQL one is reset for every test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def service_env(home: Path, database_url: str) -> dict[str, str]:
    return {"TRUSTSVC_HOME": str(home), "DATABASE_URL": database_url, "TRUSTSVC_HSM_PIN": "test-pin-1234"}


@pytest.fixture
def service(service_env: dict[str, str]) -> Iterator[object]:
    """An open service with the region 320000 initialised and one department."""
    from trustsvc import pki
    from trustsvc.config import load_config, write_config
    from trustsvc.context import open_service

    home = Path(service_env["TRUSTSVC_HOME"])
    write_config(home / "config.toml", {"region": {"code": "320000", "name": "江苏省"}})
    config = load_config(service_env)
    svc = open_service(config, service_env, create_keystore=True)
    pki.init_region(svc, "320000", "江苏省", actor="test")
    pki.add_department(svc, "11320000MB0000001G", "江苏省市场监督管理局", actor="test")
    yield svc
    svc.close()


DEPT = "11320000MB0000001G"
"""The department every ``service`` has (江苏省市场监督管理局)."""


@pytest.fixture
def seal(service):
    """The department's seal (证照专用章), made once per test: what issuing needs."""
    from trustsvc.sealing import SealRequest, make_department_seal

    return make_department_seal(
        service, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章"), actor="test"
    )


@pytest.fixture
def app(service):
    from api import create_app

    return create_app(service=service)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_key(service):
    """A new API key's token: ``make_key("issuer", department=DEPT, types=[...])``."""
    from trustsvc.apikeys import create_api_key

    def make(role: str, *, department: str | None = None, types: list[str] | tuple[str, ...] = ()) -> str:
        with service.db.transaction() as s:
            return create_api_key(
                s, role=role, actor="test", department_uscc=department, licence_types=list(types)
            ).token

    return make


@dataclass(frozen=True)
class DemoServer:
    url: str
    home: Path
    output: list[str]
    """Lines the server printed so far (read after it stops for the full log)."""


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """`trustsvc demo` (what `make run` runs) on a free loopback port with a fresh home, served
    by gunicorn for real; stopped at the end of the session."""
    import time

    from server_launcher import free_port, launch, stop, wait_healthy

    port = free_port()
    home = tmp_path_factory.mktemp("demo") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTSVC_", "DATABASE_URL"))}
    env["TRUSTSVC_HOME"] = str(home)
    lines: list[str] = []
    proc = launch(["demo", "--port", str(port)], env, output=lines)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, deadline=time.monotonic() + 90, what="demo server", output=lines)
        yield DemoServer(url=url, home=home, output=lines)
    finally:
        stop(proc)


# -- how many tests read the interop collection (one line at the end of every run) ---------------
#
# Interop tests find the collection in several ways (the ``interop_dir`` fixtures here and in
# tests/ca, ``interop`` in tests/formats, ``interop_dir()`` / ``interop_root()`` helpers, the fuzz
# kit's ``INTEROP``), so they are counted by what they do rather than by how they ask: an audit
# hook notes every file opened or directory listed under the collection (and every subprocess
# given a path in it) while a test runs, and a test also counts when a fixture it uses read the
# collection while being set up (a session fixture reads once, for all the tests using it).

_INTEROP_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "subprocess.Popen"})


class _InteropUse:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefixes = tuple({str(root), str(root.resolve())})
        self.current: str | None = None
        self.fixtures: list[object] = []
        self.read_by: set[str] = set()
        self.reading_fixtures: set[int] = set()
        self.skipped: set[str] = set()

    def under(self, value: object) -> bool:
        if isinstance(value, (list, tuple)):
            return any(self.under(v) for v in value)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if not isinstance(value, str):
            return False
        return any(value == p or value.startswith(p + os.sep) for p in self.prefixes)

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        if event not in _INTEROP_EVENTS or self.current is None:
            return
        try:
            hit = self.under(args[1] if event == "subprocess.Popen" else args[0]) if args else False
        except Exception:  # an audit hook must never raise into the code it watches
            return
        if hit:
            self.read_by.add(self.current)
            if self.fixtures:
                self.reading_fixtures.add(id(self.fixtures[-1]))

    def closure_read(self, item: pytest.Item) -> bool:
        info = getattr(item, "_fixtureinfo", None)
        if info is None or not self.reading_fixtures:
            return False
        for name in getattr(item, "fixturenames", ()):
            defs = info.name2fixturedefs.get(name)
            if defs and id(defs[-1]) in self.reading_fixtures:
                return True
        return False

    # Hooks (registered as a plugin in pytest_configure, so that they also see fixtures set up
    # for the whole session, whose node lies above this conftest's directory).

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self.current = item.nodeid
        try:
            yield
        finally:
            self.current = None
            if self.closure_read(item):
                self.read_by.add(item.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: object) -> Iterator[None]:
        self.fixtures.append(fixturedef)
        try:
            yield
        finally:
            self.fixtures.pop()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and "interop" in str(report.longrepr).lower():
            self.skipped.add(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: object) -> None:
        write = terminalreporter.write_line  # type: ignore[attr-defined]
        n = len(self.read_by)
        if self.root.is_dir():
            write(f"interop: {n} {_tests(n)} read {self.root} (set TRUSTSVC_INTEROP_DIR to use another collection)")
        else:
            s = len(self.skipped)
            write(
                f"interop: no collection at {self.root}: {s} {_tests(s)} skipped for it"
                f"{f', {n} read part of it' if n else ''} (set TRUSTSVC_INTEROP_DIR to use one)"
            )


def _tests(n: int) -> str:
    return "test" if n == 1 else "tests"


SLOW_FIXTURES = frozenset({"demo_server", "browser", "servers"})
"""Fixtures that start a server process or a browser: every test using one is marked slow."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_configure(config: pytest.Config) -> None:
    import sys

    if not config.pluginmanager.has_plugin("trustsvc-interop-use"):
        use = _InteropUse(interop_path())
        sys.addaudithook(use.audit)
        config.pluginmanager.register(use, "trustsvc-interop-use")
