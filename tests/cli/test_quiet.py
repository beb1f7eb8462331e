"""Operators never see a dependency's deprecation warning; developers still can (-W)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reportlab.pdfgen import canvas

ENTRY = "import sys; from trustsvc.cli import main; sys.argv[0] = 'trustsvc'; main()"


def _plain_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "plain.pdf"
    c = canvas.Canvas(str(path))
    c.drawString(100, 100, "unsigned")
    c.save()
    return path


def _verify(pdf: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env_free = [sys.executable, *options, "-c", ENTRY, "verify", str(pdf)]
    return subprocess.run(env_free, capture_output=True, text=True, timeout=120, check=False)


def test_verify_prints_no_dependency_warning(tmp_path: Path) -> None:
    done = _verify(_plain_pdf(tmp_path))
    assert done.returncode == 1, done.stderr  # FAILED: the PDF carries no signature
    assert "FAILED" in done.stdout
    assert "Warning" not in done.stderr, done.stderr


def test_developers_can_still_ask_for_them(tmp_path: Path) -> None:
    done = _verify(_plain_pdf(tmp_path), "-W", "default")
    assert "DeprecationWarning" in done.stderr
