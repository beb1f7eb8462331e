"""Trust lists in one process (no servers): the format, the pin check, rollback, staleness,
rotation, authorisation and the background refresher."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from federation_helpers import department_uscc, open_region
from sqlalchemy import select

from ca.cms import verify_cms
from ca.results import Indication
from trustsvc import pki
from trustsvc.apikeys import SystemActor
from trustsvc.config import load_config
from trustsvc.errors import ConfigurationError, InvalidInputError
from trustsvc.federation.authorisation import check_licence_authorisation
from trustsvc.federation.grants import set_licence_types
from trustsvc.federation.peer_refresher import PeerRefresher
from trustsvc.federation.peers import import_peer, list_peers, refresh_peers
from trustsvc.federation.signer_rotation import rotate_code_signer, rotate_trust_list_signer
from trustsvc.federation.snapshot import build_snapshot
from trustsvc.federation.trust_lists import (
    TRUST_LIST_CONTENT_TYPE,
    TRUST_LIST_FORMAT,
    current_trust_list,
    sign_trust_list,
    trust_list_entries,
    verify_trust_list,
)
from trustsvc.formats.report import ReportBuilder
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE, NATIONAL_TYPES
from trustsvc.licences.identifier import LicenceIdentifier
from trustsvc.storage.models import CertificateRecord
from trustsvc.verifier import verify as verify_in_region

DAY = dt.timedelta(days=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("trust-lists")
    a = open_region(base / "a", "320000")
    b = open_region(base / "b", "220000")
    with a.db.reader() as session:
        pin = pki.get_ca(session, "root").sha256
    yield {"a": a, "b": b, "pin": pin, "base": base}
    a.close()
    b.close()


def _resign(
    svc: Any,
    *,
    sequence: int,
    issued: dt.datetime | None = None,
    lifetime: dt.timedelta = DAY,
    signer_svc: Any = None,
    entries_svc: Any = None,
    **entry_changes: Any,
) -> bytes:
    """Sign ``entries_svc``'s (default ``svc``'s) entries with ``signer_svc``'s (default ``svc``'s) signer."""
    issued = issued or _now()
    source = entries_svc or svc
    with source.db.reader() as session:
        entries = {**trust_list_entries(source, session, issued), **entry_changes}
    signer = signer_svc or svc
    with signer.db.reader() as session:
        der, _ = sign_trust_list(
            signer, session, entries, sequence=sequence, issued_at=issued, next_update=issued + lifetime
        )
    return der


def test_the_list_is_signed_canonical_json_naming_every_issuer_and_its_types(regions) -> None:
    a = regions["a"]
    signed = current_trust_list(a)
    cms = verify_cms(signed.der)
    assert cms.content_type == TRUST_LIST_CONTENT_TYPE and all(not c.failed for c in cms.checks)
    content = cms.encapsulated_content
    doc = json.loads(content)
    assert content == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert doc["format"] == TRUST_LIST_FORMAT and doc["region"] == {"code": "320000", "name": "江苏省"}
    tl = signed.trust_list
    assert tl.root_pins == {regions["pin"]}
    issuer = tl.issuer(department_uscc("320000"))
    assert issuer is not None and issuer.licence_types == {t.code for t in NATIONAL_TYPES}  # no grants: all
    assert issuer.status_list_url.endswith(f"/api/v1/status/{issuer.uscc}") and issuer.seal_makers
    assert [role for role, _ in tl.trust_list_signers] == ["current"]
    assert [c.state for c in tl.code_signers] == ["current"]
    # unchanged entries: the same list; a change: the next sequence at once
    assert current_trust_list(a).sha256 == signed.sha256
    pki.add_department(a, department_uscc("320100"), "南京市市场监督管理局", actor="test")
    newer = current_trust_list(a)
    assert newer.sequence == signed.sequence + 1 and len(newer.trust_list.issuers) == 2
    # half-way to next_update, a fresh list even without changes (a region of its own: this one is in the future)
    c = open_region(regions["base"] / "c", "360000", department=False)
    try:
        first = current_trust_list(c)
        assert current_trust_list(c, now=first.refresh_at - dt.timedelta(seconds=1)).sequence == first.sequence
        assert current_trust_list(c, now=first.refresh_at + dt.timedelta(seconds=1)).sequence == first.sequence + 1
    finally:
        c.close()


def test_the_pin_and_the_signer_are_checked(regions) -> None:
    a, b, pin = regions["a"], regions["b"], regions["pin"]
    der = current_trust_list(a).der
    ok = verify_trust_list(der, pin=pin)
    assert ok.accepted and ok.report.indication is Indication.PASSED
    wrong = verify_trust_list(der, pin="ab" * 32)
    assert wrong.reason == "trust_list_pin_mismatch" and not wrong.accepted
    forged = _resign(a, sequence=99, signer_svc=b, entries_svc=a)  # A's entries, B's trust-list signer
    refused = verify_trust_list(forged, pin=pin)
    assert refused.reason == "trust_list_signer_untrusted", refused.report.message
    tampered = bytearray(der)
    at = bytes(der).find(b"320000")
    tampered[at : at + 6] = b"320001"
    assert verify_trust_list(bytes(tampered), pin=pin).reason in ("trust_list_bad_signature", "trust_list_invalid")
    assert verify_trust_list(b"not a list", pin=pin).reason == "trust_list_invalid"


def test_a_wrong_pin_never_shows_the_pin_the_peer_has(regions, caplog: pytest.LogCaptureFixture) -> None:
    """A refused import must not offer the peer's actual root fingerprint for copying: not in the
    report, the CLI's output, the API's answer or the logs. It says only that the pin does not match."""
    import http.server
    import threading

    from click.testing import CliRunner
    from federation_helpers import PIN

    from api import create_app
    from trustsvc.apikeys import create_api_key
    from trustsvc.cli import cli

    a, b, actual, base = regions["a"], regions["b"], regions["pin"], regions["base"]
    wrong = "ab" * 32
    der = current_trust_list(a).der

    def leaks(text: str) -> bool:
        return actual in text.lower() or actual[:16] in text.lower()

    checked = verify_trust_list(der, pin=wrong)
    assert checked.reason == "trust_list_pin_mismatch"
    assert "does not match the pin given" in checked.report.message
    assert not leaks(json.dumps(checked.report.as_dict()))

    path = base / "a-wrong-pin.cms"
    path.write_bytes(der)
    with caplog.at_level("DEBUG"):
        out = CliRunner().invoke(
            cli,
            ["trust", "import", str(path), "--pin", wrong],
            env={"TRUSTSVC_HOME": str(base / "b"), "TRUSTSVC_HSM_PIN": PIN},
        )
    assert out.exit_code == 1, out.output
    assert "error: trust_list_pin_mismatch:" in out.output and "does not match the pin given" in out.output
    assert not leaks(out.output)

    class Serve(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/cms")
            self.send_header("Content-Length", str(len(der)))
            self.end_headers()
            self.wfile.write(der)

        def log_message(self, *args: object) -> None:
            pass

    with b.db.transaction() as s:
        admin = create_api_key(s, role="admin", actor="test").token
    server = http.server.HTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level("DEBUG"):
            resp = (
                create_app(service=b)
                .test_client()
                .post(
                    "/api/v1/trust/peers",
                    json={"url": f"http://127.0.0.1:{server.server_port}", "pin": wrong},
                    headers={"Authorization": f"Bearer {admin}"},
                )
            )
    finally:
        server.shutdown()
        server.server_close()
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "trust_list_pin_mismatch"
    assert "does not match the pin given" in resp.get_json()["error"]["message"]
    assert not leaks(resp.get_data(as_text=True))
    assert not any(leaks(r.getMessage()) for r in caplog.records)


def test_rollback_equivocation_and_unchanged(regions) -> None:
    a, pin = regions["a"], regions["pin"]
    held_der = current_trust_list(a).der
    held = verify_trust_list(held_der, pin=pin).trust_list
    assert held is not None
    older = _resign(a, sequence=held.sequence - 1)
    assert verify_trust_list(older, pin=pin, held=held, held_der=held_der).reason == "trust_list_rollback"
    same = verify_trust_list(held_der, pin=pin, held=held, held_der=held_der)
    assert same.accepted and same.unchanged
    other = _resign(a, sequence=held.sequence, base_url="https://elsewhere.example")
    assert verify_trust_list(other, pin=pin, held=held, held_der=held_der).reason == "trust_list_equivocation"
    newer = verify_trust_list(_resign(a, sequence=held.sequence + 1), pin=pin, held=held, held_der=held_der)
    assert newer.accepted and not newer.unchanged


def test_a_list_past_next_update_and_grace_is_stale(regions) -> None:
    a, pin = regions["a"], regions["pin"]
    signed = current_trust_list(a)
    nu = signed.trust_list.next_update
    within = verify_trust_list(signed.der, pin=pin, now=nu + dt.timedelta(hours=1), grace=DAY)
    assert within.accepted and any(
        c.name == "trust_list.freshness" and c.result == "warning" for c in within.report.checks
    )
    stale = verify_trust_list(signed.der, pin=pin, now=nu + DAY + dt.timedelta(seconds=1), grace=DAY)
    assert stale.reason == "trust_list_stale" and stale.report.sub_indication == "TRUST_LIST_STALE"


def test_verifications_relying_on_a_stale_peer_are_indeterminate(regions) -> None:
    a, b, pin, base = regions["a"], regions["b"], regions["pin"], regions["base"]
    signed = current_trust_list(a)
    path = base / "a-list.cms"
    path.write_bytes(signed.der)
    outcome = import_peer(b, str(path), pin, actor="test", allow_file=True)
    assert outcome.outcome in ("imported", "updated", "unchanged") and outcome.region == "320000"
    with a.db.reader() as session:
        cert = session.execute(
            select(CertificateRecord.der).where(CertificateRecord.slug == f"{department_uscc('320000')}/signer")
        ).scalar_one()
    snapshot = build_snapshot(b.db, grace=DAY)
    report = verify_in_region(snapshot, cert)
    anchor = [t for t in report.trust_path if t.get("trust_anchor")][-1]
    assert report.indication is Indication.PASSED and anchor["region"] == "320000"
    assert anchor["list_sequence"] == signed.sequence and anchor["source"] == "trust list"
    assert anchor["namespace"] == "peer:320000" and anchor["stale"] is False
    later = signed.trust_list.next_update + DAY + dt.timedelta(minutes=1)
    peer = snapshot.namespace("peer:320000")
    assert peer is not None and not peer.stale(dt.datetime.now(dt.UTC)) and peer.stale(later)
    stale = verify_in_region(snapshot, cert, now=later)  # staleness is judged at the verification time
    assert (stale.indication, stale.sub_indication) == (Indication.INDETERMINATE, "TRUST_LIST_STALE")
    assert "region 320000" in stale.message and "stale" in stale.message
    assert list_peers(b, now=later)[0]["stale"] is True


def test_rotation_is_announced_before_use_and_peers_follow(regions) -> None:
    a, pin = regions["a"], regions["pin"]
    before_der = current_trust_list(a).der
    before = verify_trust_list(before_der, pin=pin).trust_list
    step1 = rotate_trust_list_signer(a, actor="test")
    assert step1.step == "announced"
    announcing = current_trust_list(a)
    assert announcing.sequence == step1.trust_list_sequence
    assert sorted(r for r, _ in announcing.trust_list.trust_list_signers) == ["current", "next"]
    assert verify_cms(announcing.der).signer_cert_der is not None
    step2 = rotate_trust_list_signer(a, actor="test")
    assert step2.step == "activated" and step2.current_sha256 == step1.announced_sha256
    switched = current_trust_list(a)
    signer = verify_cms(switched.der).signer_cert_der
    assert signer is not None and pki.parse_certificate(signer).sha256 == step2.current_sha256
    # a peer holding the announcing list follows; one holding an older list does not, until re-imported
    assert verify_trust_list(switched.der, pin=pin, held=announcing.trust_list, held_der=announcing.der).accepted
    missed = verify_trust_list(switched.der, pin=pin, held=before, held_der=before_der)
    assert missed.reason == "trust_list_signer_not_announced"
    assert verify_trust_list(switched.der, pin=pin, held=before, held_der=before_der, require_announced=False).accepted
    # the code signer: the new one is current, the old one still listed as retired
    code = rotate_code_signer(a, actor="test")
    states = {c.state: pki.parse_certificate(c.cert).sha256 for c in current_trust_list(a).trust_list.code_signers}
    assert states == {"current": code.current_sha256, "retired": code.retired_sha256}


def test_an_issuer_is_listed_only_with_its_granted_types(regions) -> None:
    a = regions["a"]
    uscc = department_uscc("320000")
    assert set_licence_types(a, uscc, [BUSINESS_LICENCE.code], actor="test") == [BUSINESS_LICENCE.code]
    issuer = current_trust_list(a).trust_list.issuer(uscc)
    assert issuer is not None and issuer.licence_types == {BUSINESS_LICENCE.code}
    with pytest.raises(InvalidInputError) as err:
        set_licence_types(a, uscc, ["11100000MB0143028R999"], actor="test")
    assert err.value.code == "unknown_licence_type"
    # the check itself: the anchor reached, the list behind it, the identifier's type and issuer
    builder = ReportBuilder("test")
    builder.trust_path.append(
        {"role": "signer", "trust_anchor": True, "sha256": "ab" * 32, "region": "320000", "list_sequence": 7}
    )
    from trustsvc.formats.trust import TrustContext

    trust = TrustContext(authorisations={"ab" * 32: {uscc: frozenset({BUSINESS_LICENCE.code})}})
    food = LicenceIdentifier(FOOD_BUSINESS_LICENCE.code, uscc, "20260000001", 1).text
    check_licence_authorisation(builder, trust, food, roles=("signer",))
    report = builder.build()
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "SIG_CONSTRAINTS_FAILURE")
    assert "sequence 7" in report.message and FOOD_BUSINESS_LICENCE.code in report.message
    ok = ReportBuilder("test")
    ok.trust_path.extend(builder.trust_path)
    check_licence_authorisation(
        ok, trust, LicenceIdentifier(BUSINESS_LICENCE.code, uscc, "20260000001", 1).text, roles=("signer",)
    )
    assert ok.build().passed
    assert set_licence_types(a, uscc, ["catalogue"], actor="test") == sorted(t.code for t in NATIONAL_TYPES)


def test_refresh_keeps_the_held_list_when_the_source_fails(regions) -> None:
    a, b, pin, base = regions["a"], regions["b"], regions["pin"], regions["base"]
    path = base / "a-refresh.cms"
    path.write_bytes(current_trust_list(a).der)
    import_peer(b, str(path), pin, actor="test", allow_file=True)
    held = list_peers(b)[0]["sequence"]
    path.write_bytes(_resign(a, sequence=1))  # a replay appears at the source
    [outcome] = refresh_peers(b)
    assert outcome.outcome == "refused" and outcome.message.startswith("trust_list_rollback")
    peer = list_peers(b)[0]
    assert (peer["sequence"], peer["status"]) == (held, "refused") and "rollback" in peer["last_error"]
    path.unlink()
    [outcome] = refresh_peers(b)
    assert outcome.outcome == "unreachable" and list_peers(b)[0]["sequence"] == held


def test_the_background_refresher_follows_a_newer_list(regions) -> None:
    a, b, pin, base = regions["a"], regions["b"], regions["pin"], regions["base"]
    path = base / "a-bg.cms"
    first = current_trust_list(a)
    path.write_bytes(first.der)
    import_peer(b, str(path), pin, actor="test", allow_file=True)
    pki.add_department(a, department_uscc("320200"), "无锡市市场监督管理局", actor="test")
    newer = current_trust_list(a)
    assert newer.sequence > first.sequence
    path.write_bytes(newer.der)
    refresher = PeerRefresher(b, 0.2)
    refresher.start()
    try:
        deadline = time.monotonic() + 30
        while list_peers(b)[0]["sequence"] != newer.sequence and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        refresher.stop()
        refresher.join(timeout=10)
    assert list_peers(b)[0]["sequence"] == newer.sequence


def test_trust_settings_are_validated(tmp_path: Path) -> None:
    env = {"TRUSTSVC_HOME": str(tmp_path)}
    cfg = load_config(env)
    assert (cfg.trust.grace, cfg.trust.list_next_update, cfg.trust.refresh_interval) == (86400, 86400, 900)
    assert load_config({**env, "TRUSTSVC_TRUST_REFRESH_INTERVAL": "0"}).trust.refresh_interval == 0
    for name, value in (("LIST_NEXT_UPDATE", "10"), ("REFRESH_INTERVAL", "5"), ("GRACE", "99999999")):
        with pytest.raises(ConfigurationError):
            load_config({**env, f"TRUSTSVC_TRUST_{name}": value})


def test_the_offline_code_cache_carries_peer_regions(regions, tmp_path: Path) -> None:
    """`trustsvc code cache` in B exports A's pinned root, code signers and types too: an A code
    verifies offline in B up to its status, which (no status list of A's issuer held: its URL is
    unreachable here) stays INDETERMINATE rather than PASSED."""
    from fed_bodies import business_body

    from trustsvc.codes.material import write_code_cache
    from trustsvc.codes.service import static_code
    from trustsvc.federation.snapshot import load_snapshot_cache
    from trustsvc.licences.service import issue_licence, request_from_json
    from trustsvc.sealing import SealRequest, make_department_seal
    from trustsvc.verifier import verify_code

    a, b, pin, base = regions["a"], regions["b"], regions["pin"], regions["base"]
    uscc = department_uscc("320000")
    make_department_seal(a, SealRequest(uscc, "江苏省市场监督管理局"), actor="test")
    row = issue_licence(
        a, request_from_json(business_body()), principal_or_actor=SystemActor("test"), department_uscc=uscc
    )
    code = static_code(a, row.identifier, principal_or_actor=SystemActor("test")).text
    path = base / "a-cache.cms"
    path.write_bytes(current_trust_list(a).der)
    import_peer(b, str(path), pin, actor="test", allow_file=True)
    write_code_cache(b, tmp_path / "cache")
    report = verify_code(load_snapshot_cache(tmp_path / "cache"), code)
    checks = {c.name: c.result for c in report.checks}
    assert checks["code.signature"] == checks["code_signer.path"] == checks["licence.authorisation"] == "passed"
    anchor = [t for t in report.trust_path if t.get("trust_anchor")][-1]
    assert anchor["region"] == "320000" and anchor["list_sequence"] == current_trust_list(a).sequence
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE, "TRY_LATER")
    assert "no status list of issuer" in report.message


def test_publish_rotate_and_import_on_each_database(service, regions) -> None:
    """The conftest ``service`` (region 320000) runs on SQLite and on PostgreSQL."""
    with service.db.reader() as session:
        pin = pki.get_ca(session, "root").sha256
    first = current_trust_list(service)
    assert current_trust_list(service).sequence == first.sequence
    rotated = rotate_code_signer(service, actor="test")
    second = current_trust_list(service)
    assert second.sequence == rotated.trust_list_sequence == first.sequence + 1
    checked = verify_trust_list(second.der, pin=pin, held=first.trust_list, held_der=first.der)
    assert checked.accepted and {c.state for c in checked.trust_list.code_signers} == {"current", "retired"}
    # a peer (region 220000 of the module fixture) imported into this database
    b = regions["b"]
    with b.db.reader() as session:
        b_pin = pki.get_ca(session, "root").sha256
    path = regions["base"] / f"b-list-{service.db.dialect}.cms"
    path.write_bytes(current_trust_list(b).der)
    assert import_peer(service, str(path), b_pin, actor="test", allow_file=True).outcome == "imported"
    assert import_peer(service, str(path), b_pin, actor="test", allow_file=True).outcome == "unchanged"
    [peer] = list_peers(service)
    assert peer["region"]["code"] == "220000" and peer["pin"] == b_pin and not peer["stale"]
    snapshot = build_snapshot(service.db, grace=DAY)
    assert [ns.name for ns in snapshot.namespaces] == ["local", "peer:220000"]
    assert all(len(ns.anchors) == 1 for ns in snapshot.namespaces)


# -- what a peer's list may make this service fetch or trust ------------------------------------


def test_fetch_reads_files_only_for_an_operator_and_never_follows_redirects(tmp_path: Path) -> None:
    import http.server
    import threading

    from trustsvc.federation.peers import fetch, same_origin

    secret = tmp_path / "keystore-file"
    secret.write_bytes(b"not for peers")
    with pytest.raises(InvalidInputError) as refused:
        fetch(str(secret))  # a status_list_url in a peer's list naming a local file
    assert refused.value.code == "invalid_source"
    assert fetch(str(secret), allow_file=True) == b"not for peers"  # `trustsvc trust import FILE`

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(InvalidInputError) as redirected:
            fetch(f"http://127.0.0.1:{server.server_port}/api/v1/status/x")
        assert redirected.value.code == "trust_list_unreachable"
    finally:
        server.shutdown()
        server.server_close()
    assert same_origin("https://peer.example:8443/api/v1/status/1", "https://peer.example:8443/api/v1/trust-list")
    assert not same_origin("http://10.0.0.5/api/v1/status/1", "https://peer.example/api/v1/trust-list")
    assert not same_origin("http://peer.example:81/s", "http://peer.example:80/api/v1/trust-list")


def test_only_the_pinned_root_of_a_peer_list_becomes_an_anchor(regions) -> None:
    import dataclasses
    import hashlib

    from trustsvc.federation.peers import peer_trust

    a, b, pin = regions["a"], regions["b"], regions["pin"]
    tl = current_trust_list(a).trust_list
    with b.db.reader() as session:
        other_root = session.execute(select(CertificateRecord.der).where(CertificateRecord.slug == "root")).scalar_one()
    widened = dataclasses.replace(tl, roots=(*tl.roots, other_root))  # a root the peer slipped in
    anchors = peer_trust(widened, pin).anchors
    assert [hashlib.sha256(r).hexdigest() for r in anchors] == [pin]
