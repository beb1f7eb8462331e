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
  file's content as it was (zip metadata such as timestamps is not signed);
* OFD packages changed inside (our package and the interop ones): XML attributes and texts set
  to hostile paths, names and numbers, elements dropped, duplicated or renamed, members
  dropped, renamed or with their bytes changed, then zipped again so every CRC is right: never
  an exception, never an internal error.

``TRUSTSVC_FUZZ_EXAMPLES=N`` (``make fuzz``) runs N cases per Hypothesis test.
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from xml.etree import ElementTree

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sealkit import DOCUMENT, Hierarchy, unzip

from trustsvc.formats.ofd import verify_ofd
from trustsvc.formats.report import VerificationReport
from trustsvc.formats.seals import SESFormatError, parse_seal, parse_ses_signature, verify_seal, verify_ses_signature

FUZZ = settings(
    max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 120),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


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
def test_truncated_inputs_are_format_failures(
    pki: Hierarchy, our_seal: bytes, our_signature: bytes, data: st.DataObject
) -> None:
    cut_seal = our_seal[: data.draw(st.integers(0, len(our_seal) - 1))]
    cut_signature = our_signature[: data.draw(st.integers(0, len(our_signature) - 1))]
    assert verify_seal(cut_seal, trust=pki.trust).sub_indication == "FORMAT_FAILURE"
    assert verify_ses_signature(cut_signature, trust=pki.trust).sub_indication == "FORMAT_FAILURE"


@FUZZ
@given(st.data())
def test_multiple_mutations_never_pass(
    pki: Hierarchy, our_seal: bytes, our_signature: bytes, data: st.DataObject
) -> None:
    changes = data.draw(
        st.lists(st.tuples(st.integers(0, len(our_signature) - 1), st.integers(0, 255)), min_size=1, max_size=8)
    )
    mutated = bytearray(our_signature)
    for position, value in changes:
        mutated[position] = value
    report = verify_ses_signature(bytes(mutated), original=DOCUMENT, trust=pki.trust)
    _no_internal_error(report)
    if bytes(mutated) != our_signature:
        assert report.indication.value == "FAILED", report.message
    seal_changes = data.draw(
        st.lists(st.tuples(st.integers(0, len(our_seal) - 1), st.integers(0, 255)), min_size=1, max_size=8)
    )
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
    except Exception:
        return None


@FUZZ
@given(st.data())
def test_mutated_ofd_never_raises(pki: Hierarchy, our_ofd: bytes, data: st.DataObject) -> None:
    changes = data.draw(
        st.lists(st.tuples(st.integers(0, len(our_ofd) - 1), st.integers(0, 255)), min_size=1, max_size=4)
    )
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


# -- structure-aware OFD mutations ----------------------------------------------------------------

_HOSTILE_VALUES = [
    "",
    " ",
    "/",
    "..",
    "../OFD.xml",
    "/Doc_0/../../x",
    "Doc_0/Signs/Sign_0/Signature.xml",
    "/OFD.xml",
    "Signs/Signatures.xml",
    "x" * 3000,
    "\t",
    "SM3",
    "1.2.156.10197.1.401",
    "1.2.840.113549.1.1.11",
    "Seal",
    "Sign",
    "2026-01-01",
    "20261301000000",
    "AAAA",
    "!!!!",
    "=",
    "-1",
    "0",
    "99999999999999999999",
    "1e99",
    "http://example.invalid/x",
    "C:\\x",
    "中文路径.xml",
]
_OFD_NAMES = [
    "Signature",
    "Signatures",
    "SignedInfo",
    "References",
    "Reference",
    "CheckValue",
    "SignedValue",
    "Seal",
    "BaseLoc",
    "DocRoot",
    "DocBody",
    "Provider",
    "SignatureMethod",
    "SignatureDateTime",
    "StampAnnot",
    "MaxSignId",
    "Other",
]


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist() if not i.filename.endswith("/")]


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members:
            z.writestr(name, content)
    return out.getvalue()


def _mutate_xml(content: bytes, draw) -> bytes:
    root = ElementTree.fromstring(content)
    elements = list(root.iter())
    target = elements[draw(st.integers(0, len(elements) - 1))]
    parents = {child: parent for parent in elements for child in parent}
    op = draw(st.sampled_from(["attribute", "attribute", "text", "drop", "duplicate", "rename"]))
    value = draw(st.sampled_from(_HOSTILE_VALUES) | st.text(max_size=20))
    if op == "attribute":
        name = draw(st.sampled_from(sorted(target.attrib) + ["ID", "Type", "BaseLoc", "FileRef", "Signature"]))
        target.set(name, value)
    elif op == "text":
        target.text = value
    elif op in ("drop", "duplicate") and target in parents:
        parent = parents[target]
        if op == "drop":
            parent.remove(target)
        else:
            parent.insert(list(parent).index(target), ElementTree.fromstring(ElementTree.tostring(target)))
    else:
        namespace = target.tag[: target.tag.index("}") + 1] if target.tag.startswith("{") else ""
        target.tag = namespace + draw(st.sampled_from(_OFD_NAMES))
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


@st.composite
def _ofd_mutant(draw, seeds: list[bytes]) -> bytes:
    members = _members(seeds[draw(st.integers(0, len(seeds) - 1))])
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(members) - 1))
        name, content = members[i]
        op = draw(st.sampled_from(["xml", "xml", "xml", "bytes", "drop", "rename"]))
        if op == "xml" and name.lower().endswith(".xml"):
            try:
                members[i] = (name, _mutate_xml(content, draw))
            except ElementTree.ParseError:
                pass
        elif op == "bytes" and content:
            changes = draw(
                st.lists(st.tuples(st.integers(0, len(content) - 1), st.integers(0, 255)), min_size=1, max_size=4)
            )
            changed = bytearray(content)
            for position, value in changes:
                changed[position] = value
            members[i] = (
                name,
                bytes(changed[: draw(st.integers(0, len(changed)))]) if draw(st.booleans()) else bytes(changed),
            )
        elif op == "drop" and len(members) > 1:
            members.pop(i)
        elif op == "rename":
            new = draw(
                st.sampled_from(
                    [
                        "OFD.xml",
                        "Doc_0/Signs/Signatures.xml",
                        "Doc_0/Document.xml",
                        "Doc_0/Signs/Sign_0/SignedValue.dat",
                        "Doc_0/Signs/Sign_0/Seal.esl",
                        "x/../OFD.xml",
                        "Doc_0/Pages/Page_9/Content.xml",
                    ]
                )
            )
            if new not in {n for n, _ in members}:
                members[i] = (new, content)
    return _zip(members)


def _interop_ofds() -> list[bytes]:
    from sealkit import interop_root

    folder = interop_root() / "ofd"
    names = [
        "ofdrw_SESV4SignDoc.ofd",
        "ofdrw_allprotected.ofd",
        "ofdrw_n_dms360_v1.ofd",
        "ofdrw_v4signed_baiwang_invoice.ofd",
        "ofdrw_DigitalSign.ofd",
    ]
    return [(folder / n).read_bytes() for n in names if (folder / n).is_file()]


@FUZZ
@given(st.data())
def test_ofd_structure_mutations_never_raise(pki: Hierarchy, our_ofd: bytes, data: st.DataObject) -> None:
    mutated = data.draw(_ofd_mutant([our_ofd, *_interop_ofds()]))
    _no_internal_error(verify_ofd(mutated, trust=pki.trust))
