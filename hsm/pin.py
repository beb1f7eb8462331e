"""The key-store PIN: where it comes from, and a demo PIN file for first runs.

Why here: the PIN is the root secret of the soft key store, so the rules for reading it (refuse
a file others can read, no surprises with trailing newlines) live next to the store. ``hsm``
reads no environment itself: the caller passes ``TRUSTSVC_HSM_PIN`` / ``TRUSTSVC_HSM_PIN_FILE``
in, which keeps this testable and keeps configuration in one place (``trustsvc.config``).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .errors import HSMError, PINMissingError
from .soft import create_exclusive

__all__ = ["resolve_pin", "create_demo_pin_file", "PIN_ENV", "PIN_FILE_ENV"]

PIN_ENV = "TRUSTSVC_HSM_PIN"
PIN_FILE_ENV = "TRUSTSVC_HSM_PIN_FILE"

_MAX_PIN_FILE = 4096


def resolve_pin(*, pin: str | None, pin_file: str | os.PathLike[str] | None) -> bytes:
    """The PIN, from ``pin`` (the value of ``TRUSTSVC_HSM_PIN``) or else ``pin_file``.

    ``pin`` wins when both are given (an explicit value overrides a configured file, the usual
    env-over-config order; the file is then not read). A PIN file must be a regular file that
    group and others cannot access (``chmod 600``); one trailing newline (``\\n`` or
    ``\\r\\n``) is removed, as editors and ``echo`` add one. Empty values count as missing.

    :raises PINMissingError: neither is given, or the one given is empty or absent.
    :raises HSMError: the file is accessible to group or others (``pin_file_permissions``), or
        cannot be read (``pin_file_unreadable``).
    """
    if pin:
        return pin.encode("utf-8")
    if not pin_file:
        raise PINMissingError(
            f"the key store PIN is not set: set {PIN_ENV}, or {PIN_FILE_ENV} to the path of a "
            "file (mode 0600) holding it"
        )
    return _read_pin_file(Path(pin_file))


def _read_pin_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError as exc:
        raise PINMissingError(f"PIN file {path} ({PIN_FILE_ENV}) does not exist") from exc
    except OSError as exc:
        raise HSMError(f"cannot read PIN file {path}: {exc.strerror}", code="pin_file_unreadable") from exc
    try:
        # Check the file actually opened (fstat), not the name, so a swap cannot slip past.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise HSMError(f"PIN file {path} is not a regular file", code="pin_file_unreadable")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise HSMError(
                f"PIN file {path} is accessible to group or others (mode {mode:04o}); run: chmod 600 {path}",
                code="pin_file_permissions",
            )
        data = os.read(fd, _MAX_PIN_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_PIN_FILE:
        raise HSMError(f"PIN file {path} is larger than {_MAX_PIN_FILE} bytes", code="pin_file_unreadable")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise PINMissingError(f"PIN file {path} is empty")
    return data


def create_demo_pin_file(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` holding a fresh random PIN (mode 0600) unless it exists already.

    For demo mode and first runs only. Never overwrites (``O_CREAT | O_EXCL``, no following a
    planted symlink), so an existing PIN, and the key store sealed under it, is never lost.

    :returns: True when a new file was created (the caller should say where), False when
        ``path`` existed already.
    """
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        create_exclusive(target, (secrets.token_urlsafe(32) + "\n").encode("ascii"))
    except FileExistsError:
        return False
    return True
