"""One SoftSigner shared by several threads (the web server's worker threads do this)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import hsm
from hsm.provider import SM2Provider
from hsm.soft import SoftKeyStore

THREADS = 4
PER_THREAD = 60


@pytest.mark.parametrize("algorithm", list(hsm.KeyAlgorithm))
def test_threads_share_one_signer(tmp_path, provider: SM2Provider, algorithm: hsm.KeyAlgorithm) -> None:
    store = SoftKeyStore(tmp_path / "ks", "pin", create=True)
    signer = store.signer(store.create_key("shared", algorithm))
    start = threading.Barrier(THREADS)

    def work(t: int) -> list[tuple[bytes, bytes, bytes]]:
        start.wait()  # all threads sign at the same time
        out = []
        for i in range(PER_THREAD):
            message = f"thread {t} message {i}".encode()
            sm2_id = hsm.DEFAULT_SM2_ID if i % 3 else f"id-{t}".encode()
            out.append((message, sm2_id, signer.sign(message, sm2_id=sm2_id)))
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = [item for chunk in pool.map(work, range(THREADS)) for item in chunk]
    assert len(results) == THREADS * PER_THREAD
    for message, sm2_id, sig in results:
        hsm.verify(signer.public_key, message, sig, sm2_id=sm2_id)
    # signatures are randomised: no two alike even for the same key
    assert len({sig for _, _, sig in results}) == len(results)


def test_threads_open_signers_concurrently(tmp_path) -> None:
    """Concurrent first use of the same key reference yields one working signer."""
    store = SoftKeyStore(tmp_path / "ks", "pin", create=True)
    ref = store.create_key("k")
    fresh = SoftKeyStore(tmp_path / "ks", "pin")
    start = threading.Barrier(THREADS)

    def get(_: int) -> hsm.Signer:
        start.wait()
        return fresh.signer(ref)

    with ThreadPoolExecutor(THREADS) as pool:
        signers = list(pool.map(get, range(THREADS)))
    assert all(s is signers[0] for s in signers)
    hsm.verify(signers[0].public_key, b"x", signers[0].sign(b"x"))


def test_threads_share_one_public_key_for_digest_verification(provider: SM2Provider) -> None:
    """One parsed public key verifying digests from several threads at once, good and bad
    signatures mixed: each answer is that signature's own (the OpenSSL binding keeps a verify
    context per thread and key, and a refusal leaves it usable)."""
    key = provider.generate()
    pub = provider.load_public(key.spki())
    point = hsm.parse_spki(key.spki()).point
    signed = []
    for i in range(8):
        message = f"message {i}".encode()
        signed.append((hsm.sm2_e(point, message), key.sign(message, hsm.DEFAULT_SM2_ID)))
    start = threading.Barrier(THREADS)

    def work(t: int) -> list[bool]:
        start.wait()
        answers = []
        for i in range(PER_THREAD):
            e, sig = signed[(t + i) % len(signed)]
            wrong = (i + t) % 3 == 0
            try:
                pub.verify_digest(hsm.sm3(e) if wrong else e, sig)
                answers.append(not wrong)
            except hsm.InvalidSignature:
                answers.append(wrong)
        return answers

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [a for chunk in pool.map(work, range(THREADS)) for a in chunk]
    assert len(answers) == THREADS * PER_THREAD and all(answers)
    e, sig = signed[0]
    pub.verify_digest(e, sig)  # and this thread's context still works after the others
