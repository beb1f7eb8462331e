"""Structure-aware fuzzing of every reader of hostile bytes (issue 7 item 4).

The byte-level fuzz tests (tests/ca/test_ca_fuzz.py, tests/formats/test_seals_fuzz.py, the CMS,
TSA and OCSP ones in tests/ca, tests/codes/test_codes_format.py) flip, cut and insert bytes.
These feed the same readers well-formed DER whose inside is wrong (fuzz_der: a real value's
TLV tree with nodes changed, dropped, duplicated, swapped, retagged or grafted, re-encoded), COSE
and CBOR that decode, JSON signed by the real status-list key, and licence PDFs changed inside
their objects. The invariant everywhere: a report (no ``internal_error`` check) or the reader's
own error, never anything else.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from typing import Any

import base45
import cbor2
from asn1crypto import ocsp
from fuzz_der import Node, emit_tree, mutate_der, mutate_node, parse_tree
from fuzz_kit import fuzz, no_internal_error, pdf_mutant, seeds
from hypothesis import given
from hypothesis import strategies as st

import hsm
from ca import CAError, CertificateError, load_certificates, parse_certificate
from ca.cms import parse_signed_and_enveloped, sign_cms, verify_cms
from ca.tsa import build_request, parse_timestamp_response, verify_timestamp_token
from hsm import DEFAULT_SM2_ID, sm3
from hsm.encoding import signature_to_raw
from trustsvc.codes.format import CodeFormatError, decode_code, kid_for, sig_structure
from trustsvc.errors import InvalidInputError
from trustsvc.federation.snapshot import TrustSnapshot, build_snapshot
from trustsvc.formats.seals import SESFormatError, parse_seal, parse_ses_signature, verify_seal, verify_ses_signature
from trustsvc.licences.pdf_verify import verify_licence_pdf
from trustsvc.ocsp import respond_ocsp
from trustsvc.sealing import region_authority
from trustsvc.status_lists import STATUS_LIST_CONTENT_TYPE, verify_status_list
from trustsvc.verifier import OnlineCodes, verify_code
from trustsvc.verify import verify_bytes, verify_certificate_report, verify_cms_report

CA_ERRORS = (CAError, hsm.InvalidSignature)


# -- certificates -------------------------------------------------------------------------------


@fuzz(200)
@given(data=st.data())
def test_certificate_parser_and_report(corpus, data) -> None:
    der = data.draw(mutate_der(seeds(corpus, "cert")))
    for parse in (parse_certificate, load_certificates):
        try:
            parse(der)
        except CertificateError:
            pass
    no_internal_error(verify_certificate_report(der, trust=corpus.trust))


# -- CMS / GB/T 35275 ---------------------------------------------------------------------------


@fuzz(200)
@given(data=st.data(), detached=st.booleans())
def test_cms_parser_and_report(corpus, data, detached) -> None:
    der = data.draw(mutate_der(seeds(corpus, "cms")))
    content = b"x" if detached else None
    try:
        verify_cms(der, detached_content=content)
    except CA_ERRORS:
        pass
    try:
        parse_signed_and_enveloped(der)
    except CA_ERRORS:
        pass
    no_internal_error(verify_cms_report(der, trust=corpus.trust, detached=content))


@fuzz(150)
@given(data=st.data())
def test_timestamp_token_and_reply(corpus, data) -> None:
    token = data.draw(mutate_der([corpus.timestamp_token]))
    try:
        verify_timestamp_token(token, imprint=sm3(b"fuzz"))
    except CA_ERRORS:
        pass
    request = data.draw(mutate_der([build_request(b"fuzz", hash_algorithm="sm3", nonce=7)]))
    reply = parse_timestamp_response(region_authority(corpus.service).respond(request))
    assert "system_failure" not in reply.failure_info, reply.status_strings


# -- GB/T 38540 seals and signatures ------------------------------------------------------------


@fuzz(200)
@given(data=st.data())
def test_ses_parser_and_verifiers(corpus, data) -> None:
    der = data.draw(mutate_der(seeds(corpus, "ses")))
    for parse in (parse_seal, parse_ses_signature):
        try:
            parse(der)
        except SESFormatError:
            pass
    no_internal_error(verify_seal(der, trust=corpus.trust))
    no_internal_error(verify_ses_signature(der, original=corpus.signed_document, trust=corpus.trust))


@st.composite
def _resigned(draw: Any, der: bytes, signer: Any) -> bytes:
    """A seal or SES signature whose signed part (SES_SealInfo / TBS_Sign, the first element)
    was changed and then signed again with the real key: the signature verifies, so the
    verifier has to deal with the hostile content itself. A time-stamp is dropped."""
    root = parse_tree(der)
    assert root.children is not None and len(root.children) >= 4
    signed = mutate_node(draw, root.children[0])
    signature = signer.sign(emit_tree(signed))
    root.children[0] = signed
    root.children[3] = Node(0, 0, 3, b"\x00" + signature)
    del root.children[4:]
    return emit_tree(root)


@fuzz(150)
@given(data=st.data())
def test_ses_verifiers_on_validly_signed_hostile_content(corpus, department_signers, data) -> None:
    maker, signer = department_signers
    seal = data.draw(_resigned(corpus.seal, maker))
    no_internal_error(verify_seal(seal, trust=corpus.trust))
    signature = data.draw(_resigned(corpus.ses_signature, signer))
    no_internal_error(verify_ses_signature(signature, original=corpus.signed_document, trust=corpus.trust))


# -- status lists -------------------------------------------------------------------------------


@fuzz(200)
@given(data=st.data())
def test_status_list_verifier_on_mutants(corpus, data) -> None:
    der = data.draw(mutate_der([corpus.status_list]))
    verified = verify_status_list(der, trust=corpus.trust, issuer="11320000MB0000001G")
    no_internal_error(verified.report)
    if verified.trusted:  # only a change outside the signed content can still be trusted
        original = verify_status_list(corpus.status_list, trust=corpus.trust).status_list
        assert verified.status_list == original


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def _status_content(draw: Any, base: dict[str, Any]) -> bytes:
    """The real list's JSON with fields replaced, dropped or added (or not JSON at all)."""
    kind = draw(st.sampled_from(["fields", "fields", "fields", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(_JSON)).encode()
    body = dict(base)
    for key in draw(st.lists(st.sampled_from(sorted(base) + ["extra"]), min_size=1, max_size=4)):
        action = draw(st.sampled_from(["replace", "drop", "bitstring", "time"]))
        if action == "drop":
            body.pop(key, None)
        elif action == "bitstring":
            raw = draw(st.binary(max_size=64))
            body[key] = draw(
                st.sampled_from(
                    [
                        "u"
                        + __import__("base64").urlsafe_b64encode(__import__("gzip").compress(raw)).decode().rstrip("="),
                        "u" + __import__("base64").urlsafe_b64encode(raw).decode(),
                        "z" + raw.hex(),
                        "u",
                        "u!!",
                    ]
                )
            )
        elif action == "time":
            body[key] = draw(
                st.sampled_from(
                    [
                        "2026-13-01T00:00:00Z",
                        "0000-01-01T00:00:00Z",
                        "9999-12-31T23:59:59Z",
                        "2026-01-01",
                        "",
                        "2026-01-01T00:00:00+25:00",
                        "2026-01-01T00:00:00",
                    ]
                )
            )
        else:
            body[key] = draw(_JSON)
    if draw(st.booleans()):
        body["size"] = draw(st.sampled_from([0, -8, 7, 131072, 131072 * 2, 2**40, 8]))
    return json.dumps(body, ensure_ascii=False).encode()


@fuzz(150)
@given(data=st.data())
def test_status_list_verifier_on_validly_signed_content(corpus, status_signer, data) -> None:
    """Signed by the real status-list key: the verifier must read hostile content itself."""
    signer, cert, chain, base = status_signer
    content = data.draw(_status_content(base))
    der = sign_cms(
        content,
        signer=signer,
        signer_cert=cert,
        extra_certs=chain,
        detached=False,
        content_type=STATUS_LIST_CONTENT_TYPE,
    )
    verified = verify_status_list(der, trust=corpus.trust, issuer="11320000MB0000001G", min_sequence=1)
    no_internal_error(verified.report)
    if verified.status_list is not None:
        listed = verified.status_list
        assert listed.size % 131072 == 0 and listed.size > 0, listed.size
        for index in data.draw(st.lists(st.integers(-5, listed.size + 5), max_size=5)):
            try:
                assert listed.status_of(index) in ("active", "revoked", "suspended")
            except InvalidInputError:
                assert not 0 <= index < listed.size


# -- service codes ------------------------------------------------------------------------------

_CBOR = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.binary(max_size=20)
    | st.text(max_size=20)
    | st.floats(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(-3, 10) | st.sampled_from(["typ", "si", "d", "n"]), inner, max_size=5)
    ),
    max_leaves=16,
)


def _text(cose: bytes) -> str:
    return "TS1:" + base45.b45encode(zlib.compress(cose)).decode()


@st.composite
def _claims(draw: Any) -> dict[Any, Any]:
    """Claims near the real ones: each claim valid, absent or replaced by a hostile value."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    good: dict[Any, Any] = {
        1: "320000",
        2: "1.2.156.3005.2.11100000MB0143028R001.11320000MB0000001G.20260000001.1.X",
        6: now - 10,
        4: now + 600,
        "typ": draw(st.sampled_from(["static", "dynamic"])),
        7: bytes(16),
        "si": draw(st.integers(0, 300000)),
        "d": {"n": "营业执照", "h": "某公司"},
    }
    claims: dict[Any, Any] = {}
    for key, value in good.items():
        choice = draw(st.sampled_from(["keep", "keep", "drop", "hostile"]))
        if choice == "keep":
            claims[key] = value
        elif choice == "hostile":
            claims[key] = draw(_CBOR)
    return claims


@fuzz(200)
@given(data=st.data())
def test_code_decoder_on_cose_shapes(corpus, data) -> None:
    """COSE_Sign1 shapes around the real one: any tag, header, bucket type or length."""
    kid = data.draw(st.sampled_from([bytes(8), b"", bytes(9)]) | st.binary(max_size=10))
    header = data.draw(
        st.sampled_from([{1: -65537, 4: kid}, {1: -7, 4: kid}, {4: kid}, {1: -65537, 2: [1], 4: kid}])
        | st.dictionaries(st.integers(-2, 6), _CBOR, max_size=3)
    )
    protected = cbor2.dumps(header) if data.draw(st.booleans()) else data.draw(st.binary(max_size=12))
    payload = cbor2.dumps(data.draw(_claims()))
    parts = [
        protected,
        data.draw(st.sampled_from([{}, {4: kid}]) | _CBOR),
        payload,
        data.draw(st.binary(min_size=0, max_size=80)),
    ]
    parts = data.draw(st.sampled_from([parts, parts[:3], [*parts, b""], [parts]]))
    tag = data.draw(st.sampled_from([18, 18, 18, 98, 61]))
    text = _text(cbor2.dumps(cbor2.CBORTag(tag, parts)))
    try:
        decode_code(text)
    except CodeFormatError:
        pass


_SNAPSHOTS: dict[int, TrustSnapshot] = {}


def _snapshot_of(db) -> TrustSnapshot:
    """The corpus service's trust snapshot, built once (its trust material does not change)."""
    if id(db) not in _SNAPSHOTS:
        _SNAPSHOTS[id(db)] = build_snapshot(db, grace=dt.timedelta(days=1))
    return _SNAPSHOTS[id(db)]


@fuzz(200)
@given(claims=_claims())
def test_code_verifiers_on_validly_signed_claims(corpus, code_signer, claims) -> None:
    """Signed by the real code-signer key: offline and online verification read the claims."""
    signer, cert = code_signer
    protected = cbor2.dumps({1: -65537, 4: kid_for(cert)}, canonical=True)
    payload = cbor2.dumps(claims)
    raw = signature_to_raw(signer.sign(sig_structure(protected, payload), sm2_id=DEFAULT_SM2_ID))
    text = _text(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, raw])))
    db = corpus.service.db
    snapshot = _snapshot_of(db)
    no_internal_error(verify_code(snapshot, text))  # offline
    no_internal_error(verify_code(snapshot, text, online=OnlineCodes(db)))  # anonymous online: writes nothing


# -- licence PDFs -------------------------------------------------------------------------------


@fuzz(100)
@given(data=st.data())
def test_licence_pdf_verifier(corpus, data) -> None:
    mutated = data.draw(pdf_mutant(corpus.pdf))
    report = verify_licence_pdf(mutated, trust=corpus.trust)
    no_internal_error(report)
    assert not report.passed or mutated == corpus.pdf, report.message


# -- OCSP responder -----------------------------------------------------------------------------


@fuzz(150)
@given(data=st.data())
def test_ocsp_responder_answers_every_request(corpus, data) -> None:
    request = data.draw(mutate_der([corpus.ocsp_request]))
    answer = ocsp.OCSPResponse.load(respond_ocsp(corpus.service, request))
    assert answer["response_status"].native != "internal_error"


# -- the dispatcher -----------------------------------------------------------------------------


@fuzz(150)
@given(data=st.data())
def test_dispatcher_on_every_kind(corpus, data) -> None:
    der = data.draw(mutate_der(seeds(corpus, "cert") + seeds(corpus, "cms") + seeds(corpus, "ses")))
    no_internal_error(
        verify_bytes(der, trust=corpus.trust, original=data.draw(st.sampled_from([None, corpus.signed_document, b""])))
    )
