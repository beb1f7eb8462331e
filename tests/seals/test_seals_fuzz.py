"""Hostile bytes: no input makes a verifier raise, and no change to what we made passes.

* every single byte of a seal and of a signature we made, changed (each position once, with
  a seeded random new value): the report is FAILED. The one exception is the seal maker
  certificate inside a bare seal, which no signature covers: a change there that hides the
  certificate's issuer leaves the chain unbuildable, which is INDETERMINATE
  (NO_CERTIFICATE_CHAIN_FOUND), still never PASSED. In a signature the same certificate
  bytes are pinned by the maker-signed certList, so every change FAILS;
* random, truncated and multiply-mutated inputs (Hypothesis): never an exception, never an
  internal error, never PASSED;
* random mutations of an OFD zip: never an exception; PASSED only when the change left every
  file's content as it was (zip metadata such as timestamps is not signed).
"""

from __future__ import annotations

import io
import random
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sealkit import DOCUMENT, Hierarchy, unzip

from trustsvc.ofd import verify_ofd
from trustsvc.report import VerificationReport
from trustsvc.seals import SESFormatError, parse_seal, parse_ses_signature, verify_seal, verify_ses_signature

FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(data: bytes, position: int, rng: random.Random) -> bytes:
    changed = bytearray(data)
    changed[position] = (changed[position] + rng.randrange(1, 256)) % 256
    return bytes(changed)


def _no_internal_error(report: VerificationReport) -> None:
    assert all(c.name != "internal_error" for c in report.checks), report.message


def test_every_byte_of_our_seal(pki: Hierarchy, our_seal: bytes) -> None:
    rng = random.Random(20240601)
    cert_start = our_seal.rindex(pki.maker.cert)
    cert_range = range(cert_start, cert_start + len(pki.maker.cert))
    outcomes: dict[str, int] = {}
    for position in range(len(our_seal)):
        report = verify_seal(_mutate(our_seal, position, rng), trust=pki.trust)
        _no_internal_error(report)
        key = f"{report.indication.value}/{report.sub_indication}"
        outcomes[key] = outcomes.get(key, 0) + 1
        if report.indication.value != "FAILED":
            assert position in cert_range, (position, report.message)
            assert report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND", (position, report.message)
    assert "PASSED/None" not in outcomes
    assert outcomes.get("FAILED/FORMAT_FAILURE") and outcomes.get("FAILED/SIG_CRYPTO_FAILURE")


def test_every_byte_of_our_signature(pki: Hierarchy, our_signature: bytes) -> None:
    rng = random.Random(20240602)
    for position in range(len(our_signature)):
        report = verify_ses_signature(_mutate(our_signature, position, rng), original=DOCUMENT, trust=pki.trust)
        _no_internal_error(report)
        assert report.indication.value == "FAILED", (position, report.message)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_are_format_failures(data: bytes) -> None:
    for report in (verify_seal(data), verify_ses_signature(data, original=b"x"), verify_ofd(data)):
        assert report.indication.value == "FAILED" and report.sub_indication == "FORMAT_FAILURE"
    for parse in (parse_seal, parse_ses_signature):
        try:
            parse(data)
        except SESFormatError:
            pass


@FUZZ
@given(st.data())
def test_truncated_inputs_are_format_failures(pki: Hierarchy, our_seal: bytes, our_signature: bytes, data: st.DataObject) -> None:
    cut_seal = our_seal[: data.draw(st.integers(0, len(our_seal) - 1))]
    cut_signature = our_signature[: data.draw(st.integers(0, len(our_signature) - 1))]
    assert verify_seal(cut_seal, trust=pki.trust).sub_indication == "FORMAT_FAILURE"
    assert verify_ses_signature(cut_signature, trust=pki.trust).sub_indication == "FORMAT_FAILURE"


@FUZZ
@given(st.data())
def test_multiple_mutations_never_pass(pki: Hierarchy, our_seal: bytes, our_signature: bytes, data: st.DataObject) -> None:
    changes = data.draw(st.lists(st.tuples(st.integers(0, len(our_signature) - 1), st.integers(0, 255)), min_size=1, max_size=8))
    mutated = bytearray(our_signature)
    for position, value in changes:
        mutated[position] = value
    report = verify_ses_signature(bytes(mutated), original=DOCUMENT, trust=pki.trust)
    _no_internal_error(report)
    if bytes(mutated) != our_signature:
        assert report.indication.value == "FAILED", report.message
    seal_changes = data.draw(st.lists(st.tuples(st.integers(0, len(our_seal) - 1), st.integers(0, 255)), min_size=1, max_size=8))
    seal = bytearray(our_seal)
    for position, value in seal_changes:
        seal[position] = value
    seal_report = verify_seal(bytes(seal), trust=pki.trust)
    _no_internal_error(seal_report)
    if bytes(seal) != our_seal:
        assert seal_report.indication.value != "PASSED", seal_report.message


def _contents(data: bytes) -> dict[str, bytes] | None:
    try:
        return unzip(data)
    except Exception:  # noqa: BLE001 - any unreadable zip counts as "changed"
        return None


@FUZZ
@given(st.data())
def test_mutated_ofd_never_raises(pki: Hierarchy, our_ofd: bytes, data: st.DataObject) -> None:
    changes = data.draw(st.lists(st.tuples(st.integers(0, len(our_ofd) - 1), st.integers(0, 255)), min_size=1, max_size=4))
    mutated = bytearray(our_ofd)
    for position, value in changes:
        mutated[position] = value
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    report = verify_ofd(bytes(mutated), trust=pki.trust)
    _no_internal_error(report)
    if report.indication.value == "PASSED":
        assert _contents(bytes(mutated)) == unzip(our_ofd)


def test_every_stored_byte_of_a_small_ofd_member(pki: Hierarchy, our_ofd: bytes) -> None:
    """Flip each byte of a stored (uncompressed) member: the CRC or a digest always catches it."""
    files = unzip(our_ofd)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    stored = out.getvalue()
    target = files["Doc_0/Document.xml"]
    start = stored.index(target)
    rng = random.Random(7)
    for position in range(start, start + len(target)):
        report = verify_ofd(_mutate(stored, position, rng), trust=pki.trust)
        assert report.indication.value == "FAILED", position
