"""Seals and signatures trustsvc makes, checked by the verifier and by independent paths
(gmalg, a pure-Python SM2; asn1crypto's typed classes; ``openssl asn1parse``), plus every
refusal of ``make`` and every verdict the verifier must reach on faulty inputs built by hand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gmalg
import pytest
from asn1crypto import core, x509
from sealkit import (
    DOCUMENT,
    FakeTSA,
    FixedRevocation,
    Hierarchy,
    bit_string,
    hand_signature,
    raw,
    seal_spec,
    v1_seal,
    v1_signature,
    v5_seal,
)

import hsm
from ca.certs import parse_certificate
from trustsvc.formats.report import VerificationReport
from trustsvc.formats.seals import (
    SealingError,
    SealPicture,
    make_seal,
    parse_seal,
    parse_ses_signature,
    sign_document,
    sign_document_parts,
    verify_seal,
    verify_ses_signature,
)
from trustsvc.formats.seals.asn1 import (
    ExtData,
    SESealV4,
    SESealV5,
    SESSignatureV4,
    SESSignatureV5,
    TBSSignV4,
    TBSSignV5,
)
from trustsvc.formats.trust import TrustContext

UTC = UTC
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"


def checks(report: VerificationReport) -> dict[str, str]:
    return {c.name: c.result for c in report.checks}


def _gmalg_rs(der: bytes) -> tuple[bytes, bytes]:
    r, s = hsm.decode_signature(der)
    return r.to_bytes((r.bit_length() + 7) // 8, "big"), s.to_bytes((s.bit_length() + 7) // 8, "big")


def _point(cert_der: bytes) -> bytes:
    return x509.Certificate.load(cert_der)["tbs_certificate"]["subject_public_key_info"]["public_key"].native


# -- made and verified -------------------------------------------------------------------------
def test_made_seal_passes_with_our_root(pki: Hierarchy, our_seal: bytes) -> None:
    report = verify_seal(our_seal, trust=pki.trust)
    assert report.indication.value == "PASSED", report.message
    assert report.object["version"] == "v4" and report.object["es_id"] == "32000020240001"
    assert report.object["maker"].endswith("CN=江苏省电子印章制作系统, organizationIdentifier=11320000MB0000001G")
    anchors = [t for t in report.trust_path if t["trust_anchor"]]
    assert anchors and anchors[0]["region"] == "320000" and anchors[0]["source"] == "local"
    assert report.status_now["seal"]["expired"] is False and report.status_now["seal.maker"]["expired"] is False


def test_made_signature_passes_and_reports_its_object(pki: Hierarchy, our_seal: bytes, our_signature: bytes) -> None:
    report = verify_ses_signature(our_signature, original=DOCUMENT, trust=pki.trust)
    assert report.indication.value == "PASSED", report.message
    obj = report.object
    assert obj["kind"] == "ses_signature" and obj["version"] == "v4" and obj["seal_name"] == "江苏省市场监督管理局"
    assert obj["vid"] == "trustsvc" and obj["property_info"] == PROPERTY
    assert obj["data_hash"] == hsm.sm3(DOCUMENT).hex()
    assert "江苏省市场监督管理局签章" in obj["signer"] and "江苏省电子印章制作系统" in obj["maker"]
    assert {"signer", "seal", "seal.maker"} <= set(report.status_now)
    assert {t["role"] for t in report.trust_path} == {"signer", "seal.maker"}
    parsed = parse_ses_signature(our_signature)
    assert parsed.seal.der == our_seal  # the seal goes into TBS_Sign byte for byte
    assert report.signing_time == parsed.time_info.value
    as_json = report.as_dict()
    assert as_json["indication"] == "PASSED" and as_json["signing_time"].endswith("Z")


def test_without_an_anchor_every_crypto_check_passes_but_trust_is_undecided(
    pki: Hierarchy, our_signature: bytes
) -> None:
    report = verify_ses_signature(our_signature, original=DOCUMENT, trust=pki.untrusted)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    got = checks(report)
    for name in ("signature.value", "signature.cert_list", "signature.data_hash", "seal.signature", "seal.validity"):
        assert got[name] == "passed", name


def test_gmalg_verifies_what_we_made(pki: Hierarchy, our_seal: bytes, our_signature: bytes) -> None:
    # Re-parsed with asn1crypto's typed classes, not trustsvc's parser.
    seal = SESealV4.load(our_seal)
    seal_info = seal["eseal_info"].dump()
    maker = gmalg.SM2(pk=_point(seal["cert"].native), uid=hsm.DEFAULT_SM2_ID)
    assert maker.verify(seal_info, *_gmalg_rs(seal["signed_value"].native))
    assert not maker.verify(seal_info + b"\x00", *_gmalg_rs(seal["signed_value"].native))

    sig = SESSignatureV4.load(our_signature)
    tbs = sig["to_sign"].dump()
    signer = gmalg.SM2(pk=_point(sig["cert"].native), uid=hsm.DEFAULT_SM2_ID)
    assert signer.verify(tbs, *_gmalg_rs(sig["signature"].native))
    assert sig["to_sign"]["eseal"].dump() == our_seal
    assert sig["to_sign"]["data_hash"].native == hsm.sm3(DOCUMENT)
    assert sig["signature_alg_id"].dotted == "1.2.156.10197.1.501"


def _big_png() -> bytes:
    """A seal picture of noise: its seal is over 64 KiB, so every length header is 3 bytes long."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (170, 170), os.urandom(170 * 170 * 3)).save(out, format="PNG")
    return out.getvalue()


def test_signatures_are_the_schema_encoding_around_the_seal_bytes(pki: Hierarchy, our_seal: bytes) -> None:
    """sign_document puts the DER together from its fields around the seal's own bytes and
    hashes around a cached hash of the seal: each result must be what asn1crypto's schema
    classes encode, verify under gmalg (its own SM3 and SM2), and say truly where its seal is
    and what its SHA-256 is. Seals of a few hundred bytes and of over 64 KiB, v4 and v5, property
    lengths from 1 to 300 and a time-stamp or none move the length headers; each seal is signed
    eight times, so the cached hashes are reused."""
    from trustsvc.formats.seals import make as make_module

    tsa = FakeTSA(datetime.now(UTC).replace(microsecond=0))
    v5 = v5_seal(pki, tsa.stamp(b"value"))
    big = make_seal(
        seal_spec(pki, picture=SealPicture("PNG", _big_png(), 42, 42)),
        maker_signer=pki.maker.signer,
        maker_cert=pki.maker.cert,
    )
    assert len(big) > 65_536
    signer = gmalg.SM2(pk=_point(pki.signer.cert), uid=hsm.DEFAULT_SM2_ID)
    when = datetime.now(UTC).replace(microsecond=0)
    hits = make_module._hashed_through_seal.cache_info().hits
    seen = 0
    for seal, tbs_class, signature_class, seal_class in (
        (our_seal, TBSSignV4, SESSignatureV4, SESealV4),
        (big, TBSSignV4, SESSignatureV4, SESealV4),
        (v5, TBSSignV5, SESSignatureV5, SESealV5),
    ):
        for prop in ("/a", "x" * 120, "y" * 300, "/a"):
            for stamper in (None, tsa.stamp):
                made = sign_document_parts(
                    DOCUMENT,
                    seal=seal,
                    signer=pki.signer.signer,
                    signer_cert=pki.signer.cert,
                    property_info=prop,
                    time=when,
                    timestamper=stamper,
                )
                back = signature_class.load(made.der)
                fields = {
                    "to_sign": tbs_class(
                        {
                            "version": 5 if tbs_class is TBSSignV5 else 4,
                            "eseal": seal_class.load(seal),
                            "time_info": when,
                            "data_hash": hsm.sm3(DOCUMENT),
                            "property_info": prop,
                        }
                    ),
                    "cert": pki.signer.cert,
                    "signature_alg_id": "1.2.156.10197.1.501",
                    "signature": back["signature"].native,
                }
                if stamper is not None:
                    fields["time_stamp"] = tsa.stamp(back["signature"].native)
                assert made.der == signature_class(fields).dump()
                assert made.der[made.seal_offset : made.seal_offset + len(seal)] == seal
                assert made.sha256 == hashlib.sha256(made.der).digest()
                tbs = back["to_sign"].dump()
                assert signer.verify(tbs, *_gmalg_rs(back["signature"].native))
                assert not signer.verify(tbs + b"\x00", *_gmalg_rs(back["signature"].native))
                seen += 1
    assert seen == 24
    # each seal's 8 signatures share 3 TBS starts (the properties; a time-stamp comes after
    # the TBS): 5 of them reuse a cached SM3 state, whatever the signatures' own lengths
    assert make_module._hashed_through_seal.cache_info().hits - hits >= 15


def test_a_wrong_cached_hash_is_caught_by_the_first_signature_made_on_it(
    pki: Hierarchy, our_seal: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first signature on each cached hash state is self-checked over the whole TBS hashed
    afresh: a state that is not the TBS's start never yields a signature."""
    import functools

    from trustsvc.formats.seals import make as make_module

    real = make_module._hashed_through_seal.__wrapped__

    def wrong(kind: str, spki: bytes, head: bytes, seal: bytes):  # type: ignore[no-untyped-def]
        held = real(kind, spki, head, seal)
        if kind == "signed":
            held.state.update(b"!")  # one byte the TBS does not have
        return held

    monkeypatch.setattr(make_module, "_hashed_through_seal", functools.lru_cache(maxsize=8)(wrong))
    with pytest.raises(SealingError) as info:
        sign_document(
            DOCUMENT, seal=our_seal, signer=pki.signer.signer, signer_cert=pki.signer.cert, property_info=PROPERTY
        )
    assert info.value.code == "signer_fault"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_parses_what_we_made(tmp_path: Path, pki: Hierarchy, our_seal: bytes) -> None:
    tsa = FakeTSA(datetime.now(UTC))
    signature = sign_document(
        DOCUMENT,
        seal=our_seal,
        signer=pki.signer.signer,
        signer_cert=pki.signer.cert,
        property_info=PROPERTY,
        timestamper=tsa.stamp,
    )
    for name, data in (("seal.esl", our_seal), ("SignedValue.dat", signature)):
        path = tmp_path / name
        path.write_bytes(data)
        result = subprocess.run(
            ["openssl", "asn1parse", "-inform", "DER", "-in", str(path), "-i"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert ":ES" in result.stdout and "GENERALIZEDTIME" in result.stdout and "SM2-with-SM3" in result.stdout
    assert "cont [ 0 ]" in result.stdout  # timeStamp as explicit [0]
    parsed = parse_ses_signature(signature)
    assert parsed.time_stamp is not None and not parsed.warnings
    report = verify_ses_signature(signature, original=DOCUMENT, trust=pki.trust, tst_verifier=tsa.verify)
    assert report.indication.value == "PASSED" and checks(report)["signature.timestamp"] == "passed"


def test_cert_list_of_sm3_digests(pki: Hierarchy) -> None:
    seal = make_seal(seal_spec(pki, cert_list_type=2), maker_signer=pki.maker.signer, maker_cert=pki.maker.cert)
    parsed = parse_seal(seal)
    assert parsed.cert_list.type == 2 and parsed.cert_list.digests[0].algorithm == "SM3"
    assert parsed.cert_list.digests[0].value == hsm.sm3(pki.signer.cert)
    signature = sign_document(
        DOCUMENT, seal=seal, signer=pki.signer.signer, signer_cert=pki.signer.cert, property_info=PROPERTY
    )
    report = verify_ses_signature(signature, original=DOCUMENT, trust=pki.trust)
    assert report.indication.value == "PASSED"
    assert "SM3 of the signer certificate" in next(c.detail for c in report.checks if c.name == "signature.cert_list")
    intruder = hand_signature(seal, pki.other_signer)
    assert verify_ses_signature(intruder, trust=pki.trust).sub_indication == "SIG_CONSTRAINTS_FAILURE"


# -- make refuses -------------------------------------------------------------------------------
def test_sign_document_refusals(pki: Hierarchy, our_seal: bytes) -> None:
    def code(**kwargs: object) -> str:
        args: dict[str, object] = {
            "seal": our_seal,
            "signer": pki.signer.signer,
            "signer_cert": pki.signer.cert,
            "property_info": PROPERTY,
        }
        args.update(kwargs)
        with pytest.raises(SealingError) as err:
            sign_document(DOCUMENT, **args)  # type: ignore[arg-type]
        return err.value.code

    assert code(signer=pki.other_signer.signer, signer_cert=pki.other_signer.cert) == "signer_not_in_seal"
    assert code(time=datetime.now(UTC) - timedelta(days=3)) == "outside_seal_validity"
    assert code(time=datetime.now(UTC) + timedelta(days=400)) == "outside_seal_validity"
    assert code(signer=pki.other_signer.signer) == "signer_key_mismatch"
    assert code(seal=v1_seal(pki)) == "unsupported_seal_version"
    broken = bytearray(our_seal)
    broken[our_seal.index(b"trustsvc")] ^= 0x20  # the vid, inside the signed SealInfo
    assert code(seal=bytes(broken)) == "seal_invalid"
    assert code(property_info="非ASCII") == "bad_property_info"
    listed = make_seal(
        seal_spec(pki, signer_certs=(pki.expired_signer.cert,)),
        maker_signer=pki.maker.signer,
        maker_cert=pki.maker.cert,
    )
    assert (
        code(seal=listed, signer=pki.expired_signer.signer, signer_cert=pki.expired_signer.cert)
        == "signer_certificate_invalid"
    )


def test_make_seal_refusals(pki: Hierarchy) -> None:
    with pytest.raises(SealingError) as err:
        make_seal(seal_spec(pki), maker_signer=pki.signer.signer, maker_cert=pki.maker.cert)
    assert err.value.code == "maker_key_mismatch"
    with pytest.raises(SealingError) as err:
        make_seal(
            seal_spec(pki, create_date=datetime(2019, 6, 1, tzinfo=UTC)),
            maker_signer=pki.maker.signer,
            maker_cert=pki.maker.cert,
        )
    assert err.value.code == "maker_certificate_invalid"  # the maker certificate did not exist yet
    for bad in ({"es_id": "印章"}, {"signer_certs": ()}, {"signer_certs": (b"junk",)}, {"cert_list_type": 3}):
        with pytest.raises(SealingError) as err:
            seal_spec(pki, **bad)
        assert err.value.code == "bad_seal_spec"
    with pytest.raises(SealingError):
        seal_spec(pki, valid_end=datetime.now(UTC) - timedelta(days=1))


# -- verdicts on faulty inputs built by hand --------------------------------------------------
def test_signer_not_in_cert_list_fails(pki: Hierarchy, our_seal: bytes) -> None:
    report = verify_ses_signature(hand_signature(our_seal, pki.other_signer), original=DOCUMENT, trust=pki.trust)
    assert report.indication.value == "FAILED" and report.sub_indication == "SIG_CONSTRAINTS_FAILURE"
    assert checks(report)["signature.value"] == "passed" and checks(report)["signature.cert_list"] == "failed"


def test_swapped_signer_certificate_fails(pki: Hierarchy, our_seal: bytes) -> None:
    # v4 keeps the signer certificate outside TBS_Sign: swapping it must not go unnoticed.
    swapped = hand_signature(our_seal, pki.signer, cert=pki.other_signer.cert)
    report = verify_ses_signature(swapped, original=DOCUMENT, trust=pki.trust)
    assert report.sub_indication == "SIG_CRYPTO_FAILURE" and checks(report)["signature.cert_list"] == "failed"


def test_other_document_fails_with_hash_failure(pki: Hierarchy, our_signature: bytes) -> None:
    report = verify_ses_signature(our_signature, original=DOCUMENT + b" ", trust=pki.trust)
    assert report.indication.value == "FAILED" and report.sub_indication == "HASH_FAILURE"


def _historic_seal(pki: Hierarchy) -> bytes:
    spec = seal_spec(
        pki,
        signer_certs=(pki.signer.cert, pki.expired_signer.cert),
        valid_start=datetime(2021, 1, 1, tzinfo=UTC),
        valid_end=datetime.now(UTC) + timedelta(days=30),
    )
    return make_seal(spec, maker_signer=pki.maker.signer, maker_cert=pki.maker.cert)


def test_signer_expired_at_signing_time_fails(pki: Hierarchy) -> None:
    late = hand_signature(_historic_seal(pki), pki.expired_signer, time=datetime(2022, 6, 1, tzinfo=UTC))
    report = verify_ses_signature(late, original=DOCUMENT, trust=pki.trust)
    assert report.indication.value == "FAILED" and report.sub_indication == "EXPIRED"
    assert checks(report)["signer.path[0].validity"] == "failed" and checks(report)["signature.value"] == "passed"


def test_signer_valid_at_signing_time_expired_now_is_a_warning(pki: Hierarchy) -> None:
    early = hand_signature(_historic_seal(pki), pki.expired_signer, time=datetime(2021, 6, 1, tzinfo=UTC))
    report = verify_ses_signature(early, original=DOCUMENT, trust=pki.trust)
    assert report.indication.value == "PASSED", report.message
    assert report.status_now["signer"]["expired"] is True
    assert checks(report)["signer.status_now"] == "warning"
    assert checks(report)["seal.created"] == "warning"  # the seal was made after that signing time


def test_revocation_before_and_after_signing(pki: Hierarchy, our_signature: bytes, our_seal: bytes) -> None:
    """The revocation rules of the README's table, for the signer's certificate."""
    signer = parse_certificate(pki.signer.cert)
    signed_at = parse_ses_signature(our_signature).time_info.value
    assert signed_at is not None

    def revoked(at: datetime, reason: str = "key_compromise") -> TrustContext:
        return pki.trust.__class__(
            anchors=pki.trust.anchors,
            intermediates=pki.trust.intermediates,
            revocation=FixedRevocation(signer.serial, at, reason),
        )

    # Signed after the revocation, whatever its reason: FAILED / REVOKED.
    for reason in ("key_compromise", "superseded"):
        report = verify_ses_signature(
            our_signature, original=DOCUMENT, trust=revoked(signed_at - timedelta(seconds=1), reason)
        )
        assert report.indication.value == "FAILED" and report.sub_indication == "REVOKED", reason
        assert report.status_now["signer"]["revocation_rule"] == "signed_after_revocation"

    later_on = signed_at + timedelta(days=1)
    # Signed before a revocation for another reason than a compromise: PASSED, with a warning.
    superseded = verify_ses_signature(
        our_signature, original=DOCUMENT, trust=revoked(signed_at + timedelta(seconds=1), "superseded"), now=later_on
    )
    assert superseded.indication.value == "PASSED", superseded.message
    assert checks(superseded)["signer.revocation_rule"] == "warning"
    assert superseded.status_now["signer"]["revocation_rule"] == "signed_before_revocation"
    assert superseded.status_now["signer"]["revoked"] is True and checks(superseded)["signer.status_now"] == "warning"

    # Before a key compromise, but only the signer's own claimed time says so: INDETERMINATE.
    claimed = verify_ses_signature(
        our_signature, original=DOCUMENT, trust=revoked(signed_at + timedelta(seconds=1)), now=later_on
    )
    assert claimed.indication.value == "INDETERMINATE" and claimed.sub_indication == "REVOKED_NO_POE"
    assert claimed.status_now["signer"]["revocation_rule"] == "no_poe_before_compromise"

    # Before a key compromise, proven by a time-stamp: PASSED, with a warning.
    stamped_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    tsa = FakeTSA(stamped_at)
    stamped_signature = sign_document(
        DOCUMENT,
        seal=our_seal,
        signer=pki.signer.signer,
        signer_cert=pki.signer.cert,
        property_info=PROPERTY,
        timestamper=tsa.stamp,
    )
    proven = verify_ses_signature(
        stamped_signature,
        original=DOCUMENT,
        trust=revoked(stamped_at + timedelta(seconds=1)),
        tst_verifier=tsa.verify,
        now=stamped_at + timedelta(days=1),
    )
    assert proven.indication.value == "PASSED", proven.message
    assert checks(proven)["signer.revocation_rule"] == "warning"
    assert proven.status_now["signer"]["revocation_rule"] == "poe_before_compromise"
    assert proven.status_now["signer"]["revoked"] is True and checks(proven)["signer.status_now"] == "warning"


def test_time_stamp_gives_the_signing_time(pki: Hierarchy, our_seal: bytes) -> None:
    stamped_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    tsa = FakeTSA(stamped_at)
    signature = sign_document(
        DOCUMENT,
        seal=our_seal,
        signer=pki.signer.signer,
        signer_cert=pki.signer.cert,
        property_info=PROPERTY,
        timestamper=tsa.stamp,
    )
    stamped = verify_ses_signature(signature, original=DOCUMENT, trust=pki.trust, tst_verifier=tsa.verify)
    assert stamped.signing_time == stamped_at and checks(stamped)["signature.timestamp.message_imprint"] == "passed"
    unchecked = verify_ses_signature(signature, original=DOCUMENT, trust=pki.trust)
    assert unchecked.indication.value == "PASSED" and checks(unchecked)["signature.timestamp"] == "skipped"
    other = FakeTSA(stamped_at)  # a verifier that does not know this token
    refused = verify_ses_signature(signature, original=DOCUMENT, trust=pki.trust, tst_verifier=other.verify)
    assert refused.indication.value == "FAILED" and checks(refused)["signature.timestamp"] == "failed"


def test_v5_seal_time_stamp_in_every_tagging(pki: Hierarchy) -> None:
    tsa = FakeTSA(datetime.now(UTC) + timedelta(seconds=5))
    unsigned = parse_seal(v5_seal(pki, None))
    token = tsa.stamp(unsigned.signed_value_raw)  # any token: the stub knows what it stamped
    for tagging in ("explicit", "implicit", "untagged"):
        seal = v5_seal(pki, token, tagging=tagging)
        parsed = parse_seal(seal)
        assert parsed.version == "v5" and parsed.time_stamp == token
        assert bool(parsed.warnings) == (tagging != "explicit")
        report = verify_seal(seal, trust=pki.trust, tst_verifier=lambda t, v: tsa.verify(t, unsigned.signed_value_raw))
        assert report.indication.value == "PASSED", (tagging, report.message)
        assert checks(report)["seal.timestamp"] == "passed"
    late = v5_seal(pki, token, create=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))
    order = verify_seal(late, trust=pki.trust, tst_verifier=lambda t, v: tsa.verify(t, unsigned.signed_value_raw))
    assert checks(order)["seal.timestamp.order"] == "failed"  # created after its own time-stamp


# -- tolerated vendor quirks (standards.md §1.8), each with a valid signature ------------------
def _passes_with_warning(report: VerificationReport, fragment: str) -> None:
    assert report.indication.value == "PASSED", report.message
    assert any(fragment in w for w in report.warnings), report.warnings


def test_raw_r_s_signature_is_converted(pki: Hierarchy, our_seal: bytes) -> None:
    signature = hand_signature(
        our_seal, pki.signer, encode_signature=lambda der: core.OctetBitString(hsm.signature_to_raw(der))
    )
    _passes_with_warning(verify_ses_signature(signature, original=DOCUMENT, trust=pki.trust), "raw 64-byte r||s")


def test_trailing_zero_stripped_bit_string_is_repadded(pki: Hierarchy, our_seal: bytes) -> None:
    # Sign until the DER signature ends in a zero octet, then store it the broken way.
    for attempt in range(4000):
        document = DOCUMENT + str(attempt).encode()
        signature = hand_signature(our_seal, pki.signer, document=document)
        der = parse_ses_signature(signature).signature
        assert der is not None
        if der.endswith(b"\x00"):
            break
    else:  # pragma: no cover - probability (255/256)^4000
        pytest.fail("no signature ending in a zero octet")
    tbs = parse_ses_signature(signature).signed_bytes
    stripped = raw(
        tbs, core.OctetString(pki.signer.cert), core.ObjectIdentifier("1.2.156.10197.1.501"), bit_string(der[:-1], 7)
    )
    assert parse_ses_signature(stripped).signature == der
    _passes_with_warning(verify_ses_signature(stripped, original=document, trust=pki.trust), "re-padded")


def test_unused_bits_on_a_complete_signature_fail(pki: Hierarchy, our_seal: bytes) -> None:
    flipped = hand_signature(our_seal, pki.signer, encode_signature=lambda der: bit_string(der, 7))
    report = verify_ses_signature(flipped, original=DOCUMENT, trust=pki.trust)
    assert report.indication.value == "FAILED" and report.sub_indication == "SIG_CRYPTO_FAILURE"


def test_v4_time_and_hash_encoding_quirks(pki: Hierarchy, our_seal: bytes) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    utc_time = hand_signature(our_seal, pki.signer, time_node=core.UTCTime(now))
    _passes_with_warning(verify_ses_signature(utc_time, original=DOCUMENT, trust=pki.trust), "not GeneralizedTime")
    octets = hand_signature(our_seal, pki.signer, data_hash_node=core.OctetString(hsm.sm3(DOCUMENT)))
    _passes_with_warning(
        verify_ses_signature(octets, original=DOCUMENT, trust=pki.trust), "OCTET STRING, not BIT STRING"
    )


def test_ext_datas_tagging_and_explicit_false(pki: Hierarchy, our_seal: bytes) -> None:
    ext = ExtData({"extn_id": "1.2.3.4", "critical": False, "extn_value": b"x"})
    explicit_false = raw(core.ObjectIdentifier("1.2.3.4"), core.Boolean(False), core.OctetString(b"x"))
    forms = {
        "explicit": core.SequenceOf(contents=ext.dump(), explicit=0).dump(),
        "implicit": core.SequenceOf(contents=ext.dump(), implicit=0).dump(),
        "untagged": raw(ext),
        "critical": core.SequenceOf(contents=explicit_false, explicit=0).dump(),
    }
    warnings = {
        "explicit": None,
        "implicit": "implicit [0]",
        "untagged": "untagged",
        "critical": "critical FALSE explicitly",
    }
    for form, node in forms.items():
        signature = hand_signature(our_seal, pki.signer, ext_datas_node=node)
        parsed = parse_ses_signature(signature)
        assert [e.oid for e in parsed.ext_datas] == ["1.2.3.4"], form
        report = verify_ses_signature(signature, original=DOCUMENT, trust=pki.trust)
        if warnings[form] is None:
            assert report.indication.value == "PASSED" and not parsed.warnings
        else:
            _passes_with_warning(report, warnings[form])


def test_gmt_0031_2014_seal_and_signature(pki: Hierarchy) -> None:
    seal = v1_seal(pki)
    parsed = parse_seal(seal)
    assert parsed.version == "v1" and not parsed.warnings
    assert verify_seal(seal, trust=pki.trust).indication.value == "PASSED"
    stamp = datetime.now(UTC).replace(microsecond=0)
    standard = v1_signature(pki, seal, time_text=stamp.strftime("%y%m%d%H%M%SZ"))
    report = verify_ses_signature(standard, original=DOCUMENT, trust=pki.trust)
    assert report.indication.value == "PASSED", report.message
    assert report.object["version"] == "v1" and report.signing_time == stamp and not report.warnings

    iso_text = v1_signature(pki, seal, time_text=stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"))  # dms360's form
    _passes_with_warning(verify_ses_signature(iso_text, original=DOCUMENT, trust=pki.trust), "non-standard text")
    generalized = v1_seal(pki, generalized_dates=True)
    _passes_with_warning(verify_seal(generalized, trust=pki.trust), "not UTCTime")


def test_identify_tells_seals_from_signatures(our_seal: bytes, our_signature: bytes, pki: Hierarchy) -> None:
    from trustsvc.formats.seals import identify

    assert identify(our_seal) == "seal" and identify(v1_seal(pki)) == "seal"
    assert identify(our_signature) == "signature"
    assert identify(b"") is None and identify(pki.signer.cert) is None and identify(b"\x30\x00") is None
