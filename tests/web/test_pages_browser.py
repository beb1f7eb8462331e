"""Pages rendered by a real headless Chromium (Debian `chromium`) against the live demo server.

Without Chromium these tests skip with the reason; in CI (`CI=true`) they fail instead, because
.ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    return path


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=90, check=False
    )


def test_index_and_developers_pages_render_region_and_cas(chromium: str, demo_server, tmp_path: Path) -> None:
    result = _run(chromium, tmp_path / "profile", "--dump-dom", f"{demo_server.url}/")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert '<h1 id="hero-title">江苏省电子证照信任服务</h1>' in dom
    assert 'href="/verify"' in dom and 'href="/console"' in dom and 'href="/api/v1/openapi.json"' in dom

    result = _run(chromium, tmp_path / "profile", "--dump-dom", f"{demo_server.url}/developers")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert dom.count("/api/v1/crl/") == 3  # root, services and the demo department's CA
    assert "11320000MB0000001G" in dom

    shot = tmp_path / "index.png"
    result = _run(
        chromium, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1024,700", f"{demo_server.url}/"
    )
    assert result.returncode == 0 and shot.stat().st_size > 5000, result.stderr[-2000:]
