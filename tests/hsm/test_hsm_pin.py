"""PIN resolution (value or file) and the demo PIN file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import hsm
from hsm.pin import create_demo_pin_file, resolve_pin


def _pin_file(path: Path, content: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


def test_pin_value_is_used_as_utf8() -> None:
    assert resolve_pin(pin="1234-五六", pin_file=None) == "1234-五六".encode()


def test_neither_given_names_both_variables() -> None:
    for pin, pin_file in ((None, None), ("", None), (None, ""), ("", "")):
        with pytest.raises(hsm.PINMissingError) as info:
            resolve_pin(pin=pin, pin_file=pin_file)
        assert "TRUSTSVC_HSM_PIN" in info.value.message
        assert "TRUSTSVC_HSM_PIN_FILE" in info.value.message
        assert info.value.code == "pin_missing"


def test_value_wins_over_file_and_file_is_not_read(tmp_path: Path) -> None:
    f = _pin_file(tmp_path / "pin", b"from-file\n", 0o644)  # would be refused if read
    assert resolve_pin(pin="from-env", pin_file=f) == b"from-env"
    assert resolve_pin(pin="", pin_file=_pin_file(tmp_path / "ok", b"from-file\n")) == b"from-file"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"s3cret\n", b"s3cret"),
        (b"s3cret", b"s3cret"),
        (b"s3cret\r\n", b"s3cret"),
        (b"s3cret\n\n", b"s3cret\n"),  # exactly one newline is stripped
        (b" s3cret \n", b" s3cret "),  # nothing else
    ],
)
def test_pin_file_strips_one_trailing_newline(tmp_path: Path, content: bytes, expected: bytes) -> None:
    f = _pin_file(tmp_path / "pin", content)
    assert resolve_pin(pin=None, pin_file=f) == expected
    assert resolve_pin(pin=None, pin_file=str(f)) == expected


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610, 0o601, 0o620])
def test_pin_file_accessible_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    f = _pin_file(tmp_path / "pin", b"s3cret\n", mode)
    with pytest.raises(hsm.HSMError) as info:
        resolve_pin(pin=None, pin_file=f)
    assert info.value.code == "pin_file_permissions"
    assert str(f) in info.value.message and "chmod 600" in info.value.message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    f = _pin_file(tmp_path / "pin", b"s3cret\n", mode)
    assert resolve_pin(pin=None, pin_file=f) == b"s3cret"


def test_pin_file_missing_empty_or_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(hsm.PINMissingError):
        resolve_pin(pin=None, pin_file=tmp_path / "absent")
    for content in (b"", b"\n"):
        with pytest.raises(hsm.PINMissingError):
            resolve_pin(pin=None, pin_file=_pin_file(tmp_path / "empty", content))
    d = tmp_path / "dir"
    d.mkdir(mode=0o700)
    with pytest.raises(hsm.HSMError) as info:
        resolve_pin(pin=None, pin_file=d)
    assert info.value.code == "pin_file_unreadable"


def test_symlinked_pin_file_is_judged_by_its_target(tmp_path: Path) -> None:
    target = _pin_file(tmp_path / "target", b"s3cret\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert resolve_pin(pin=None, pin_file=link) == b"s3cret"
    os.chmod(target, 0o644)
    with pytest.raises(hsm.HSMError) as info:
        resolve_pin(pin=None, pin_file=link)
    assert info.value.code == "pin_file_permissions"


def test_demo_pin_file_created_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "home" / "hsm.pin"
    old_umask = os.umask(0o000)  # a permissive umask must not widen the mode
    try:
        assert create_demo_pin_file(path) is True
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    pin = resolve_pin(pin=None, pin_file=path)
    assert len(pin) >= 32 and first == pin + b"\n"
    assert create_demo_pin_file(path) is False
    assert path.read_bytes() == first
    other = tmp_path / "other.pin"
    assert create_demo_pin_file(other) is True
    assert other.read_bytes() != first  # random, not a fixed demo value


def test_demo_pin_file_does_not_follow_or_replace_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    link = tmp_path / "hsm.pin"
    link.symlink_to(victim)
    assert create_demo_pin_file(link) is False
    assert victim.read_bytes() == b"keep me"
    dangling = tmp_path / "dangling.pin"
    dangling.symlink_to(tmp_path / "nowhere")
    assert create_demo_pin_file(dangling) is False
    assert not (tmp_path / "nowhere").exists()


def test_demo_pin_opens_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "hsm.pin"
    create_demo_pin_file(path)
    pin = resolve_pin(pin=None, pin_file=path)
    store = hsm.SoftKeyStore(tmp_path / "ks", pin, create=True)
    store.create_key("a")
    assert hsm.SoftKeyStore(tmp_path / "ks", resolve_pin(pin=None, pin_file=path)).list_keys() == ["soft:a"]
