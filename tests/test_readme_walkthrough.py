"""README "First licence in five minutes": its shell block(s), run as written.

The block is taken from README.md as it is (every fenced ``sh`` block of that section, in order)
and run by bash with ``set -euo pipefail`` in a fresh directory, with the venv's ``bin`` first on
``PATH``, no ``TRUSTSVC_*`` setting from outside and a free loopback port in ``PORT``. A wrong
command, flag or request in the README fails the run; each verification must print PASSED. The
block's own ``trap`` stops the server it starts, and this test kills whatever is left of the
script's process group, whatever happened.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SECTION = "First licence in five minutes"
VENV_BIN = Path(sys.executable).parent


def section_blocks(text: str, title: str) -> list[str]:
    """The fenced sh/bash blocks of the ``## title`` section, in order."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```$", match.group(1), flags=re.M | re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_script(script: str, workdir: Path, port: int, timeout: float = 120) -> Run:
    """Run ``script`` under ``bash`` with ``set -euo pipefail`` in ``workdir``; whatever it leaves
    running in its process group is killed afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTSVC_") and k != "DATABASE_URL"}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(port),
        TRUSTSVC_HOME=str(workdir / "first-licence" / "home"),
        PYTHONUNBUFFERED="1",
    )
    path = workdir / "walkthrough.sh"
    path.write_text("set -euo pipefail\n" + script, encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.Popen(
        ["bash", str(path)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        pytest.fail(
            f"the walkthrough ran longer than {timeout} s:\n{out.decode(errors='replace')}\n"
            f"{err.decode(errors='replace')}"
        )
    finally:
        _kill_group(proc.pid)
    return Run(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - started)


def _kill_group(pgid: int) -> None:
    """SIGTERM, then SIGKILL, to every process left in the script's session."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _needs_tools() -> None:
    for tool in ("bash", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"the walkthrough needs {tool}")
    if not (VENV_BIN / "trustsvc").exists():
        pytest.skip(f"no trustsvc command next to {sys.executable} (install the project: make install)")


@pytest.mark.slow
def test_first_licence_walkthrough_runs_as_written(tmp_path: Path) -> None:
    _needs_tools()
    blocks = section_blocks(README.read_text(encoding="utf-8"), SECTION)
    assert blocks, f"no sh block in README section '{SECTION}'"
    script = "\n".join(blocks)
    port = free_port()
    run = run_script(script, tmp_path, port)
    work = tmp_path / "first-licence"  # the block makes it and works in it
    log = work / "home" / "serve.log"
    context = (
        f"exit {run.returncode} after {run.seconds:.1f} s\n--- stdout\n{run.stdout[-6000:]}\n"
        f"--- stderr\n{run.stderr[-6000:]}\n--- serve.log\n"
        f"{log.read_text(errors='replace')[-3000:] if log.exists() else '(none)'}"
    )
    assert run.returncode == 0, context

    # every verification said PASSED: `trustsvc verify …` lines and the online POST /api/v1/verify
    verifications = len(re.findall(r"^\s*trustsvc verify\b", script, flags=re.M))
    verifications += len(re.findall(r"-X POST \S*/api/v1/verify\b", script))
    assert verifications >= 3, "the walkthrough should verify the PDF and the code"
    passed = [line for line in run.stdout.splitlines() if line.startswith("PASSED")]
    assert len(passed) == verifications, context

    # what the block promised is there, in the fresh home it made
    assert (work / "home" / "config.toml").is_file() and (work / "licence.pdf").read_bytes().startswith(b"%PDF-")
    assert (work / "licence-cli.pdf").read_bytes().startswith(b"%PDF-")
    assert re.search(r"^TS1:", run.stdout, flags=re.M), context
    # the block's trap stopped the server it started
    assert _port_closed(port), f"something still listens on {port} after the walkthrough"


def test_a_wrong_command_fails_the_walkthrough_run(tmp_path: Path) -> None:
    """The harness would notice a wrong README command: the first failing line stops the run."""
    _needs_tools()
    run = run_script('trustsvc seal make --no-such-flag\necho "not reached"\n', tmp_path, free_port(), timeout=60)
    assert run.returncode != 0 and "not reached" not in run.stdout
    run = run_script('false | cat\necho "not reached"\n', tmp_path, free_port(), timeout=60)
    assert run.returncode != 0 and "not reached" not in run.stdout


def test_the_section_has_one_runnable_block() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = section_blocks(text, SECTION)
    assert len(blocks) >= 1
    script = "\n".join(blocks)
    for needed in (
        "trustsvc init",
        "trustsvc department add",
        "trustsvc seal make",
        "trustsvc apikey create",
        "--types",
        "trustsvc serve",
        "/api/v1/licences",
        "/file",
        "/code",
        "trustsvc verify licence.pdf",
        'trustsvc verify "$CODE"',
        "trustsvc licence issue",
        "--data",
        "trap ",
    ):
        assert needed in script, f"the walkthrough lost {needed!r}"
