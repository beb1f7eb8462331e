"""Files at rest are the service user's alone: the database (holder ids, the audit log, key
hashes), the key store, config, PIN and key files and exports are created 0600 and their
directories 0700, whatever the umask of whoever runs the command.

The CLI (and so ``serve`` and its workers) also runs with :data:`PRIVATE_UMASK`, which covers
files made by libraries (prometheus' per-worker files, SQLite's own); the helpers here make the
service's own files private in any process, e.g. one that embeds the service.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "private_dir", "write_private", "private_database_file"]

PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents, each mode 0700; directories that exist already
    keep their mode (they may be shared ones such as /srv)."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)  # mkdir's mode passes through the umask
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` (mode 0600) atomically: a temp file beside it, fsync, rename; a reader
    never sees a half-written file, and an existing one is replaced."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def private_database_file(path: Path) -> None:
    """Make the SQLite database ``path`` 0600 before SQLite opens it: created empty if absent
    (SQLite would create it with the umask), tightened if one of ours is readable by others.
    SQLite gives the ``-wal`` and ``-shm`` files it creates the main file's mode; existing ones
    are tightened here too."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        pass
    else:
        os.fchmod(fd, 0o600)
        os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            info = file.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077:
            os.chmod(file, stat.S_IMODE(info.st_mode) & 0o700)
