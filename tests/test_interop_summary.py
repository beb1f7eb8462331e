"""The line every pytest run ends with: how many tests read the interop collection
(tests/conftest.py), counted whichever way a test finds the collection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A session fixture that reads the collection once (sm_vectors: the first test reads it, the
# second uses what it read), a test that opens files through a helper (no fixture), and a test
# that never touches the collection.
READERS = [
    "tests/hsm/test_hsm_vectors.py::test_sm3_every_interop_vector",
    "tests/hsm/test_hsm_vectors.py::test_sm2_z_vectors",
    "tests/hsm/test_hsm_decrypt.py::test_gmcert_envelope_key_decrypts_with_sign_key",
]
NON_READER = "tests/hsm/test_hsm_vectors.py::test_gbt32918_z_and_e"


def _pytest(interop_dir: Path) -> str:
    env = {**os.environ, "TRUSTSVC_INTEROP_DIR": str(interop_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *READERS, NON_READER],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("interop:")]
    assert len(lines) == 1, proc.stdout
    return lines[0]


def test_counts_the_tests_that_read_the_collection() -> None:
    root = Path(os.environ.get("TRUSTSVC_INTEROP_DIR") or REPO.parent / "shared" / "interop")  # as README says
    if not (root / "vectors").is_dir() or not (root / "cms").is_dir():
        pytest.skip(f"interop collection not found at {root} (set TRUSTSVC_INTEROP_DIR)")
    assert _pytest(root) == (
        f"interop: {len(READERS)} tests read {root} (set TRUSTSVC_INTEROP_DIR to use another collection)"
    )


def test_says_when_the_collection_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "no-interop-here"
    assert _pytest(missing) == (
        f"interop: no collection at {missing}: {len(READERS)} tests skipped for it "
        "(set TRUSTSVC_INTEROP_DIR to use one)"
    )
