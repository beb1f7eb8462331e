"""Files at rest, in a process that embeds the service (no CLI umask): the config, the SQLite
database with its -wal and -shm, and the key store are made 0600 (directories 0700) under a
umask of 022; a database left readable by an older version is tightened when opened. The CLI and
``serve`` end to end: tests/resilience/test_files_at_rest.py."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustsvc import pki
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service
from trustsvc.private_files import private_dir, write_private
from trustsvc.storage import Database


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _not_private(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that is not 0700 (directory) / 0600 (file)."""
    wrong = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode != want:
            wrong.append(f"{path.relative_to(root)}: {mode:04o}")
    return wrong


def test_an_embedded_service_writes_only_private_files(tmp_path: Path, umask_022: None) -> None:
    home = tmp_path / "home"
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": "private-pin-1234"}
    write_config(home / "config.toml", {"region": {"code": "320000", "name": "江苏省"}})
    service = open_service(load_config(env), env, create_keystore=True)
    try:
        pki.init_region(service, "320000", "江苏省", actor="test")
        pki.add_department(service, "11320000MB0000001G", "江苏省市场监督管理局", actor="test")
        names = {p.name for p in home.iterdir()}
        assert {"config.toml", "trustsvc.db", "trustsvc.db-wal", "trustsvc.db-shm", "keys"} <= names, names
        assert _not_private(home) == []
    finally:
        service.close()


def test_an_existing_readable_database_is_tightened_when_opened(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "old.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        if (tmp_path / name).exists():
            os.chmod(tmp_path / name, 0o644)
    Database(f"sqlite:///{path}").dispose()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_helpers_keep_existing_directories_and_replace_files_atomically(tmp_path: Path, umask_022: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    target = private_dir(shared / "a" / "b")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # not ours to change
    assert stat.S_IMODE((shared / "a").stat().st_mode) == stat.S_IMODE(target.stat().st_mode) == 0o700
    write_private(target / "f", b"one")
    write_private(target / "f", b"two")
    assert (target / "f").read_bytes() == b"two" and stat.S_IMODE((target / "f").stat().st_mode) == 0o600
    assert [p.name for p in target.iterdir()] == ["f"]  # no temp file left behind
