"""poppler-utils (pdfsig, pdftotext, pdffonts, pdftoppm) for the licence PDF tests: an
independent reader of what we produce. Developers without it skip with the reason; in CI
(``CI=true``; ``make test`` installs Debian's poppler-utils) a missing tool fails instead."""

from __future__ import annotations

import os
import shutil

import pytest


def poppler_tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI (make test installs Debian's poppler-utils)")
        pytest.skip(f"{name} is not installed (Debian package poppler-utils)")
    return exe
