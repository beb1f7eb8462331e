"""The soft key store: sealing, PIN handling, tamper detection, file modes, no plaintext keys."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

import hsm
from hsm.soft import SoftKeyStore, SoftSigner

PIN = "correct horse battery staple"


def _forms(scalar: bytes) -> list[bytes]:
    """Every way the scalar could show up in a file: raw, hex either case, and base64 at each
    of the three byte alignments it could sit at inside a longer base64 text."""
    needles = [scalar, scalar.hex().encode(), scalar.hex().upper().encode()]
    for pad in range(3):
        encoded = base64.b64encode(b"\x00" * pad + scalar)
        # drop the group that mixes in the padding, and the last group (mixes in what follows)
        stable = encoded[4 if pad else 0 : -4]
        needles += [stable, stable.replace(b"+", b"-").replace(b"/", b"_")]
    return needles


def _files_containing(directory: Path, scalar: bytes) -> list[str]:
    hits = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.name}: {needle[:12]!r}" for needle in _forms(scalar) if needle in data]
    return hits


def _handle_scalar(signer: hsm.Signer, scalar_of) -> bytes:
    assert isinstance(signer, SoftSigner)
    handle = signer._handle
    if signer.algorithm is hsm.KeyAlgorithm.SM2:
        return scalar_of(handle.pkcs8())
    return handle.private_numbers().private_value.to_bytes(32, "big")


def test_scalar_search_finds_a_planted_key(tmp_path: Path) -> None:
    """Control for the tests below: the search does find the scalar when it is there."""
    scalar = os.urandom(32)
    for i, text in enumerate(
        [scalar, scalar.hex().encode(), json.dumps({"k": base64.b64encode(b"ab" + scalar + b"cd").decode()}).encode()]
    ):
        (tmp_path / f"f{i}").write_bytes(b"prefix" + text + b"suffix")
        assert _files_containing(tmp_path, scalar), i
        (tmp_path / f"f{i}").unlink()
    assert not _files_containing(tmp_path, scalar)


@pytest.mark.parametrize("algorithm", list(hsm.KeyAlgorithm))
def test_private_key_never_on_disk_in_plaintext(keystore_dir: Path, scalar_of, algorithm) -> None:
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    refs = [store.create_key(f"k{i}", algorithm) for i in range(3)]
    for ref in refs:
        signer = SoftKeyStore(keystore_dir, PIN).signer(ref)  # unsealed from disk
        scalar = _handle_scalar(signer, scalar_of)
        assert scalar == _handle_scalar(store.signer(ref), scalar_of)
        assert _files_containing(keystore_dir, scalar) == []
        assert scalar not in repr(signer).encode()


def test_wrong_pin_is_a_clean_error(keystore_dir: Path) -> None:
    SoftKeyStore(keystore_dir, PIN, create=True).create_key("a")
    with pytest.raises(hsm.WrongPINError) as info:
        SoftKeyStore(keystore_dir, PIN + "x")
    assert info.value.code == "wrong_pin"
    assert PIN not in str(info.value)
    for wrong in (PIN[:-1], PIN + " ", PIN.upper(), "x"):
        with pytest.raises(hsm.WrongPINError):
            SoftKeyStore(keystore_dir, wrong, create=True)


def test_pin_with_nul_refused(keystore_dir: Path) -> None:
    """HMAC zero-pads short keys, so PIN and PIN + NUL would open the same store: refuse NUL."""
    SoftKeyStore(keystore_dir, PIN, create=True)
    for pin in (PIN.encode() + b"\x00", PIN + "\x00", b"\x00"):
        with pytest.raises(hsm.HSMError) as info:
            SoftKeyStore(keystore_dir, pin)
        assert info.value.code == "bad_pin"


def test_missing_or_empty_pin_and_missing_store(keystore_dir: Path) -> None:
    with pytest.raises(hsm.PINMissingError):
        SoftKeyStore(keystore_dir, "", create=True)
    with pytest.raises(hsm.KeyNotFoundError) as info:
        SoftKeyStore(keystore_dir, PIN)
    assert info.value.code == "keystore_missing"


@pytest.mark.parametrize("algorithm", list(hsm.KeyAlgorithm))
def test_reopened_store_signs_under_the_same_public_key(keystore_dir: Path, algorithm) -> None:
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    ref = store.create_key("dept-320000", algorithm)
    spki = store.public_key(ref)
    reopened = SoftKeyStore(keystore_dir, PIN.encode())
    signer = reopened.signer(ref)
    assert signer.key_ref == ref == "soft:dept-320000"
    assert signer.public_key == spki
    assert signer.algorithm is algorithm
    sig = signer.sign(b"licence")
    hsm.verify(spki, b"licence", sig)
    assert reopened.list_keys() == [ref]
    assert reopened.has_key(ref) and not reopened.has_key("soft:other")


@pytest.mark.parametrize("algorithm", list(hsm.KeyAlgorithm))
def test_a_digest_of_the_message_hash_signs_the_message(keystore_dir: Path, algorithm) -> None:
    """sign_digest over PublicKey.message_hash (fed in two parts, through a copy) is a signature
    of the whole message, as sign() makes it; another message or a short digest is refused."""
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    signer = store.signer(store.create_key("digest", algorithm))
    start = hsm.load_public_key(signer.public_key).message_hash()
    start.update(b"the seal, hashed once ")
    h = start.copy()
    h.update(b"then the licence")
    sig = signer.sign_digest(h.digest())
    hsm.verify(signer.public_key, b"the seal, hashed once then the licence", sig)
    hsm.verify_digest(signer.public_key, h.digest(), sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(signer.public_key, b"the seal, hashed once then another licence", sig)
    with pytest.raises(hsm.HSMError):
        signer.sign_digest(h.digest()[:31])


def test_sm2_soft_signer_custom_id(keystore_dir: Path) -> None:
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    signer = store.signer(store.create_key("a"))
    for sm2_id in (hsm.DEFAULT_SM2_ID, b"ALICE123@YAHOO.COM", b""):
        sig = signer.sign(b"msg", sm2_id=sm2_id)
        hsm.verify(signer.public_key, b"msg", sig, sm2_id=sm2_id)
        with pytest.raises(hsm.InvalidSignature):
            hsm.verify(signer.public_key, b"msg", sig, sm2_id=sm2_id + b"1")


def test_file_and_directory_modes(keystore_dir: Path) -> None:
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    store.create_key("a")
    store.create_key("b", hsm.KeyAlgorithm.ECDSA_P256)
    assert stat.S_IMODE(keystore_dir.stat().st_mode) == 0o700
    files = sorted(keystore_dir.iterdir())
    assert [p.name for p in files] == ["a.key", "b.key", "keystore.json"]  # no temp files left
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_create_key_on_existing_label(keystore_dir: Path) -> None:
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    ref = store.create_key("a")
    before = (keystore_dir / "a.key").read_bytes()
    with pytest.raises(hsm.KeyExistsError):
        store.create_key("a")
    with pytest.raises(hsm.KeyExistsError):
        SoftKeyStore(keystore_dir, PIN).create_key("a", hsm.KeyAlgorithm.ECDSA_P256)
    assert (keystore_dir / "a.key").read_bytes() == before
    assert store.list_keys() == [ref]


def test_missing_key_and_bad_references(keystore_dir: Path) -> None:
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    with pytest.raises(hsm.KeyNotFoundError):
        store.signer("soft:nope")
    for bad in ("nope", "pkcs11:a", "soft:../a", "soft:"):
        with pytest.raises(hsm.HSMError):
            store.signer(bad)
    with pytest.raises(hsm.HSMError):
        store.create_key("../escape")


# -- tampering -------------------------------------------------------------------------------------


def _fresh(keystore_dir: Path) -> tuple[SoftKeyStore, str, str]:
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    return store, store.create_key("a"), store.create_key("b")


def _assert_damaged(keystore_dir: Path, ref: str) -> None:
    with pytest.raises(hsm.HSMError) as info:
        SoftKeyStore(keystore_dir, PIN).signer(ref)
    assert info.value.code == "key_damaged", info.value


@pytest.mark.parametrize("field", ["sealed_private_key", "nonce", "public_key"])
def test_flipped_bit_in_sealed_key_detected(keystore_dir: Path, field: str) -> None:
    _, ref, _ = _fresh(keystore_dir)
    path = keystore_dir / "a.key"
    doc = json.loads(path.read_bytes())
    raw = bytearray(base64.b64decode(doc[field]))
    raw[len(raw) // 2] ^= 0x01
    doc[field] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(doc))
    _assert_damaged(keystore_dir, ref)


def test_flipped_byte_anywhere_in_key_file_detected(keystore_dir: Path) -> None:
    _, ref, _ = _fresh(keystore_dir)
    path = keystore_dir / "a.key"
    original = path.read_bytes()
    store = SoftKeyStore(keystore_dir, PIN)
    # every 3rd byte (JSON syntax, field names, values, base64 text), flipped in turn
    for pos in range(0, len(original), 3):
        data = bytearray(original)
        data[pos] ^= 0x20
        path.write_bytes(bytes(data))
        store.close()  # forget unsealed keys: the next signer() reads the file again
        with pytest.raises(hsm.HSMError) as info:
            store.signer(ref)
        assert info.value.code == "key_damaged", (pos, info.value)
    path.write_bytes(original)
    store.close()
    store.signer(ref)  # control: the untouched file opens


def test_swapped_key_files_detected(keystore_dir: Path) -> None:
    _, ref_a, ref_b = _fresh(keystore_dir)
    a, b = keystore_dir / "a.key", keystore_dir / "b.key"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    _assert_damaged(keystore_dir, ref_a)
    _assert_damaged(keystore_dir, ref_b)


def test_swapped_key_with_rewritten_reference_detected(keystore_dir: Path) -> None:
    """Even with the key_ref field edited to match, the AAD binds the sealed key to its label."""
    _, ref_a, _ = _fresh(keystore_dir)
    doc_b = json.loads((keystore_dir / "b.key").read_bytes())
    doc_b["key_ref"] = ref_a
    (keystore_dir / "a.key").write_text(json.dumps(doc_b))
    _assert_damaged(keystore_dir, ref_a)


def test_algorithm_field_tampering_detected(keystore_dir: Path) -> None:
    _, ref, _ = _fresh(keystore_dir)
    path = keystore_dir / "a.key"
    doc = json.loads(path.read_bytes())
    doc["algorithm"] = hsm.KeyAlgorithm.ECDSA_P256.value
    path.write_text(json.dumps(doc))
    _assert_damaged(keystore_dir, ref)


def test_garbage_key_file_is_damaged_not_a_crash(keystore_dir: Path) -> None:
    _, ref, _ = _fresh(keystore_dir)
    for garbage in (b"", b"\xff\xfe not json", b"[]", b'{"format": 1}'):
        (keystore_dir / "a.key").write_bytes(garbage)
        _assert_damaged(keystore_dir, ref)


def test_damaged_store_metadata(keystore_dir: Path) -> None:
    _fresh(keystore_dir)
    meta = keystore_dir / "keystore.json"
    doc = json.loads(meta.read_bytes())
    doc["kdf"]["salt"] = base64.b64encode(b"\x00" * 16).decode()
    meta.write_text(json.dumps(doc))
    with pytest.raises(hsm.WrongPINError):
        SoftKeyStore(keystore_dir, PIN)
    meta.write_text("{")
    with pytest.raises(hsm.HSMError) as info:
        SoftKeyStore(keystore_dir, PIN)
    assert info.value.code == "keystore_format"


def test_key_files_written_without_hard_links(keystore_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On filesystems without link(2) the store still creates 0600 files, exclusively."""
    import errno

    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    store = SoftKeyStore(keystore_dir, PIN, create=True)
    ref = store.create_key("a")
    with pytest.raises(hsm.KeyExistsError):
        SoftKeyStore(keystore_dir, PIN).create_key("a")
    assert sorted(p.name for p in keystore_dir.iterdir()) == ["a.key", "keystore.json"]
    for path in keystore_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    hsm.verify(store.public_key(ref), b"m", SoftKeyStore(keystore_dir, PIN).signer(ref).sign(b"m"))


@pytest.mark.parametrize("links", [True, False], ids=["link", "no-link"])
def test_writer_never_replaces_an_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool) -> None:
    """The guard against two processes creating the same key: the second write fails."""
    import errno

    from hsm.soft import _write_private

    if not links:

        def no_link(src, dst):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "k.key"
    _write_private(target, b"first")
    with pytest.raises(FileExistsError):
        _write_private(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]
