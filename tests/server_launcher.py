"""The one way tests start a real ``trustsvc serve`` or ``trustsvc demo`` process: in its own
process group, its output read line by line into a list (or thrown away), waited for until
/healthz says ok, stopped with SIGTERM to the whole group (SIGKILL after a grace period).

Used by the ``demo_server`` fixture (tests/conftest.py), the federation regions
(tests/federation), and the resilience kit (tests/resilience/server_kit.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence

__all__ = ["close_output", "free_port", "healthy", "kill", "launch", "stop", "wait_healthy"]

_readers: dict[int, threading.Thread] = {}
"""The thread reading each launched process's output, by pid (joined when it is stopped)."""


def free_port() -> int:
    """A TCP port free on the loopback interface just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(args: Sequence[str], env: Mapping[str, str], *, output: list[str] | None = None) -> subprocess.Popen[bytes]:
    """``python -m trustsvc.cli *args`` in a new session (its own process group). Its output
    (stdout and stderr together) is appended to ``output`` line by line; None: discarded."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "trustsvc.cli", *args],
        env=dict(env),
        stdout=subprocess.PIPE if output is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output is not None else subprocess.DEVNULL,
        start_new_session=True,
    )
    if output is not None:
        stream = proc.stdout
        assert stream is not None

        def pump() -> None:
            for raw in stream:
                output.append(raw.decode(errors="replace"))

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        _readers[proc.pid] = reader
    return proc


def healthy(url: str, timeout: float = 2.0) -> bool:
    """True when ``url``/healthz answers ``{"status": "ok"}``."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as resp:
            return bool(json.load(resp)["status"] == "ok")
    except OSError:
        return False


def wait_healthy(
    url: str,
    proc: subprocess.Popen[bytes] | None,
    *,
    deadline: float,
    what: str,
    output: Sequence[str] = (),
    interval: float = 0.3,
) -> None:
    """Return once ``url`` is healthy; RuntimeError (with the output so far) when ``proc`` exits
    or ``deadline`` (a :func:`time.monotonic` value) passes first."""
    while not healthy(url):
        if proc is None or proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up:\n" + "".join(output))
        time.sleep(interval)


def stop(proc: subprocess.Popen[bytes] | None, *, grace: float = 30.0) -> None:
    """SIGTERM the process group (graceful), SIGKILL after ``grace`` seconds; then finish
    reading its output and close the pipe. A group already gone is fine."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill(proc)
    except ProcessLookupError:
        proc.wait(timeout=grace)
    close_output(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group at once and reap the process."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def close_output(proc: subprocess.Popen[bytes]) -> None:
    """Finish reading a stopped process's output and close the pipe."""
    reader = _readers.pop(proc.pid, None)
    if reader is not None:
        reader.join(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
