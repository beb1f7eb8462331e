"""The crashes the fuzzers found, each pinned as the smallest input that showed it.

1. OCSP request whose CertID hash algorithm has parameters that are no NULL: accepted by the
   lazy parse, then failed while being copied into the answer (internalError). Now
   malformedRequest.
2. A SubjectPublicKeyInfo with an empty BIT STRING (in a certificate inside a CMS): IndexError
   out of the key parser. Now UnsupportedAlgorithmError, and the CMS check fails.
3. An SES signature or seal with a GeneralizedTime of 9999-12-31: ``time + clock skew``
   overflowed (OverflowError → internal_error). Now compared by difference.
4. An OCSP response with nextUpdate / thisUpdate near 9999-12-31: the same overflow in its
   freshness check.
5. A peer trust list, signed by the pinned signer, whose next_update is 9999-12-31: ``next_update
   + grace`` overflowed in verify_trust_list (and would have wherever staleness is judged). Now
   refused as unreadable: times beyond 2199 are not accepted.
6. A service code (signed as a peer's would be) whose ``exp`` or ``iat`` is 2**40 - 1:
   ``fromtimestamp`` overflowed (500 at /api/v1/verify). Now a format error: beyond 2199 refused.
7. A holder whose ``id_type`` is an object or an array (``POST /api/v1/holder/codes``, found once
   the fuzz sent admin-keyed bodies seeded from valid ones): the set membership test raised
   TypeError (500). Now 422 ``invalid_holder_id_type``, in every holder route.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from asn1crypto import core, ocsp
from fuzz_der import Node, emit_tree, parse_tree
from fuzz_kit import signer_row

import hsm
from ca.cms import sign_cms, verify_cms
from ca.ocsp_client import verify_ocsp_response
from ca.ocsp_responder import OCSPResponder
from ca.revocation import RevocationStatus
from trustsvc.federation.trust_lists import TRUST_LIST_CONTENT_TYPE, current_trust_list, verify_trust_list
from trustsvc.formats.seals import verify_seal, verify_ses_signature
from trustsvc.ocsp import respond_ocsp

FAR = b"99991231235959Z"


def test_ocsp_request_with_non_null_hash_parameters_is_malformed(corpus: Any) -> None:
    request = ocsp.OCSPRequest.load(corpus.ocsp_request)
    cert_id = request["tbs_request"]["request_list"][0]["req_cert"]
    root = parse_tree(corpus.ocsp_request)
    # hash algorithm = SEQUENCE { OID sha1, <parameters> }: parameters become an OID
    alg = root.kids[0].kids[0].kids[0].kids[0].kids[0]
    assert core.ObjectIdentifier.load(emit_tree(alg.kids[0])).dotted == cert_id["hash_algorithm"]["algorithm"].dotted
    alg.kids[1] = Node(0, 1, 16, children=[])  # a SEQUENCE where NULL (or nothing) belongs
    answer = ocsp.OCSPResponse.load(respond_ocsp(corpus.service, emit_tree(root)))
    assert answer["response_status"].native == "malformed_request"


def test_public_key_with_empty_bit_string_is_refused() -> None:
    spki = bytes.fromhex("3017301306072a8648ce3d020106082a811ccf5501822d0300")  # SM2, BIT STRING ''
    with pytest.raises(hsm.UnsupportedAlgorithmError):
        hsm.load_public_key(spki)


def test_cms_whose_signer_key_is_an_empty_bit_string_fails_its_check(corpus: Any) -> None:
    signer_cert = corpus.certs["status-list-signer"]
    root = parse_tree(corpus.status_list)
    signed_data = root.kids[1].kids[0]
    certificates = next(c for c in signed_data.kids if c.class_ == 2 and c.tag == 0)
    cert = next(c for c in certificates.kids if emit_tree(c) == signer_cert)
    spki = next(
        c
        for c in cert.kids[0].kids
        if c.children
        and c.kids[0].children
        and emit_tree(c.kids[0].kids[0]) == core.ObjectIdentifier("1.2.840.10045.2.1").dump()
    )
    spki.kids[1] = Node(0, 0, 3, b"")
    result = verify_cms(emit_tree(root))
    assert not result.valid
    assert any(c.name == "cms.signature" and c.failed for c in result.checks)


def _resigned(der: bytes, signer: Any, time: bytes) -> bytes:
    """The seal / SES signature with every GeneralizedTime in its signed part set to ``time``,
    signed again with the real key (so only the date is odd)."""
    root = parse_tree(der)
    signed = root.kids[0]
    stack = [signed]
    while stack:
        node = stack.pop()
        if node.class_ == 0 and node.tag == 24 and node.children is None:
            node.contents = time
        stack.extend(node.children or ())
    root.kids[3] = Node(0, 0, 3, b"\x00" + signer.sign(emit_tree(signed)))
    del root.kids[4:]  # the time-stamp covered the old signature
    return emit_tree(root)


@pytest.mark.parametrize("time", [FAR, b"00010101000000Z"])
def test_ses_dates_at_the_ends_of_the_calendar_give_a_report(corpus: Any, department_signers: Any, time: bytes) -> None:
    maker, signer = department_signers
    seal_report = verify_seal(_resigned(corpus.seal, maker, time), trust=corpus.trust)
    signature_report = verify_ses_signature(
        _resigned(corpus.ses_signature, signer, time), original=corpus.signed_document, trust=corpus.trust
    )
    for report in (seal_report, signature_report):
        assert all(c.name != "internal_error" for c in report.checks), report.message
        assert not report.passed  # a seal valid until 9999 that was made then, or in year 1


def test_ocsp_response_dated_9999_is_judged_not_crashed(corpus: Any, department_signers: Any) -> None:
    from sqlalchemy import select

    from trustsvc.storage.models import CertificateRecord

    with corpus.service.db.reader() as s:
        ca_row = s.execute(select(CertificateRecord).where(CertificateRecord.slug == "11320000MB0000001G")).scalar_one()
    responder = OCSPResponder(corpus.service.keystore.signer(ca_row.key_ref), ca_row.der, [ca_row.der])
    far = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC)
    answer = responder.respond(
        corpus.ocsp_request,
        lambda _ca, _serial: RevocationStatus("good", source="test"),
        now=far,
        next_update=dt.timedelta(minutes=59),
    )
    # judged at 23:30 that day: thisUpdate is not in the future, so nextUpdate (23:59) is compared
    result = verify_ocsp_response(answer, issuer_cert=ca_row.der, now=far + dt.timedelta(minutes=30))
    assert any(c.name == "ocsp.freshness" and not c.failed for c in result.checks), result.checks


def test_peer_trust_list_with_next_update_9999_is_refused(corpus: Any) -> None:
    body = json.loads(verify_cms(current_trust_list(corpus.service).der).encapsulated_content or b"{}")
    body["next_update"] = "9999-12-31T23:59:59Z"
    row, issuer = signer_row(corpus.service, "trust-list-signer")
    content = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    der = sign_cms(
        content,
        signer=corpus.service.keystore.signer(row.key_ref),
        signer_cert=row.der,
        extra_certs=[issuer],
        detached=False,
        content_type=TRUST_LIST_CONTENT_TYPE,
    )
    checked = verify_trust_list(der, pin=hashlib.sha256(corpus.certs["root"]).hexdigest())
    assert not checked.accepted
    assert "2199" in checked.report.message


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_code_claim_times_beyond_the_calendar_are_refused_not_crashed(
    corpus: Any, code_signer: Any, claim: str
) -> None:
    """6. above: the region's own code signer stands in for a peer's."""
    from dataclasses import replace

    from api import create_app
    from trustsvc.codes.format import CodeFormatError, decode_code, sign_code

    signer, cert = code_signer
    real = decode_code(corpus.dynamic_code).claims
    text = sign_code(replace(real, **{claim: 2**40 - 1}), signer=signer, cert_der=cert)
    with pytest.raises(CodeFormatError, match=claim):
        decode_code(text)
    client = create_app(service=corpus.service).test_client()
    for body in ({"code": text}, {"code": text, "purpose": "fuzz"}):
        resp = client.post("/api/v1/verify", json=body)
        assert resp.status_code < 500, resp.get_data()[:300]
        report = resp.get_json()
        assert report["indication"] != "PASSED" and all(c["name"] != "internal_error" for c in report["checks"])


@pytest.mark.parametrize("id_type", [{"a": 1}, ["001"], 1, None])
@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/api/v1/holder/codes", {}),
        ("/api/v1/holder/presentations", {"licences": [{"id": "LICENCE", "fields": ["name"]}], "purpose": "fuzz"}),
        ("/api/v1/holder/consents", {"licences": ["LICENCE"], "purpose": "fuzz", "verifier": None}),
    ],
)
def test_holder_id_type_of_another_json_type_is_refused_not_crashed(
    corpus: Any, path: str, extra: dict[str, Any], id_type: Any
) -> None:
    """7. above."""
    from api import create_app
    from trustsvc.apikeys import create_api_key

    with corpus.service.db.transaction() as s:
        key = create_api_key(s, role="wallet", actor="fuzz-regression").token
    client = create_app(service=corpus.service).test_client()
    extra = json.loads(json.dumps(extra).replace("LICENCE", corpus.licence_id))
    body = {"holder": {"id_type": id_type, "id": "91320100MA1ABCDE0X"}, **extra}
    resp = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 422, resp.get_data()[:300]
    assert resp.get_json()["error"]["code"] == "invalid_holder_id_type"
