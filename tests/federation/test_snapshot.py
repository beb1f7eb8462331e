"""The trust snapshot and the region verifier (issue 13): namespaces per anchor, rebuilds on a
version change, scoped validation, and a verify hot path without database queries.

Region A (320000) is the verifier. Peers B (220000) and C (360000) are real services whose
lists are *held* at A by writing them straight into A's database, as a list accepted before
import checks existed would be: the snapshot must be safe whatever the held lists say. B also
runs an impostor department with A's department USCC, and its root certifies A's issuing CA's
subject and key; C runs an impostor of B's department and certifies B's CA key.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fed_bodies import business_body
from federation_helpers import REGIONS, department_uscc, open_region
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, event, select, text

from ca.certs import parse_certificate
from ca.issue import issue_certificate
from ca.names import SubjectSpec
from ca.results import Indication
from trustsvc import pki
from trustsvc.apikeys import SystemActor
from trustsvc.codes.service import static_code_text
from trustsvc.federation.snapshot import BuildCache, TrustSnapshot, build_snapshot
from trustsvc.federation.snapshot_holder import SnapshotHolder
from trustsvc.federation.trust_lists import content_of, current_trust_list, sign_trust_list, trust_list_entries
from trustsvc.licences.files import ensure_licence_file
from trustsvc.licences.service import issue_licence, request_from_json, revoke_licence
from trustsvc.sealing import SealRequest, make_department_seal
from trustsvc.status_lists import current_status_list
from trustsvc.storage.models import CertificateRecord, PeerStatusListRecord, TrustPeerRecord
from trustsvc.verifier import OnlineCodes, verify, verify_code

A, B, C = "320000", "220000", "360000"
DAY = dt.timedelta(days=1)
UA, UB, UC = department_uscc(A), department_uscc(B), department_uscc(C)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(repr=False)
class Made:
    """One department's objects: a static code, its licence PDF, its signer certificate."""

    issuer: str
    code: str
    pdf: bytes
    signer_cert: bytes
    identifier: str


@dataclass(repr=False)
class World:
    a: Any
    b: Any
    c: Any
    pins: dict[str, str]
    lists: dict[str, bytes]
    """Lists to hold at A by variant name (``b-honest``, ``b-names-a`` …)."""
    peer_status: dict[str, dict[str, bytes]]
    """Per list variant: issuer → the status list body that peer serves for it."""
    made: dict[str, Made]
    """``A``, ``B``, ``C``; ``B-as-A`` (B's impostor of A's department), ``C-as-B``."""
    cache: BuildCache = field(default_factory=BuildCache)


def _seal_issue_and_file(svc: Any, uscc: str, name: str) -> Made:
    make_department_seal(svc, SealRequest(uscc, name, center_text="证照专用章"), actor="test")
    row = issue_licence(
        svc,
        request_from_json(business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=uscc,
        timestamp=False,
    )
    code = static_code_text(svc, row.identifier)
    pdf = ensure_licence_file(svc, row.identifier).content
    with svc.db.reader() as session:
        signer = session.execute(
            select(CertificateRecord.der).where(CertificateRecord.slug == f"{uscc}/signer")
        ).scalar_one()
    return Made(uscc, code, pdf, signer, row.identifier)


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def _sign_list(svc: Any, change: Any, sequence: int) -> bytes:
    now = _now()
    with svc.db.reader() as session:
        entries = copy.deepcopy(trust_list_entries(svc, session, now))
        change(svc, session, entries)
        der, _ = sign_trust_list(svc, session, entries, sequence=sequence, issued_at=now, next_update=now + DAY)
    return bytes(der)


def _cross_certificate(issuer_svc: Any, over: Any, uscc: str, name: str) -> bytes:
    """``issuer_svc``'s root certifies the subject and key of ``over``'s issuing CA for ``uscc``."""
    with over.db.reader() as session:
        target = parse_certificate(pki.get_ca(session, uscc).der)
    with issuer_svc.db.reader() as session:
        root = pki.get_ca(session, "root")
        root_der, key_ref = root.der, root.key_ref
    cross = issue_certificate(
        profile="issuing_ca",
        subject=SubjectSpec(common_name=f"{name}颁发CA", organization=name, organization_identifier=f"NTRCN-{uscc}"),
        public_key=target.spki,
        issuer_signer=issuer_svc.keystore.signer(key_ref),
        issuer_cert=root_der,
    )
    assert parse_certificate(cross).subject_key == target.subject_key
    return cross


def _only_issuers(keep: set[str]) -> Any:
    def change(_svc: Any, _session: Any, entries: dict[str, Any]) -> None:
        entries["issuers"] = [i for i in entries["issuers"] if i["uscc"] in keep]

    return change


def _extra_cas(*ders: bytes, keep: set[str] | None = None) -> Any:
    def change(svc: Any, session: Any, entries: dict[str, Any]) -> None:
        entries["cas"] = [*entries["cas"], *(_b64(d) for d in ders)]
        if keep is not None:
            _only_issuers(keep)(svc, session, entries)

    return change


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("snapshot")
    a, b, c = open_region(base / "a", A), open_region(base / "b", B), open_region(base / "c", C)
    try:
        made = {
            region: _seal_issue_and_file(svc, uscc, REGIONS[region][2])
            for region, svc, uscc in ((A, a, UA), (B, b, UB), (C, c, UC))
        }
        pins = {}
        for region, svc in ((A, a), (B, b), (C, c)):
            with svc.db.reader() as session:
                pins[region] = pki.get_ca(session, "root").sha256
        lists = {"b-honest": current_trust_list(b).der, "c-honest": current_trust_list(c).der}
        # B's operator adds A's department under B's root, seals and issues in its name
        pki.add_department(b, UA, REGIONS[A][2], actor="test")
        made["B-as-A"] = _seal_issue_and_file(b, UA, REGIONS[A][2])
        pki.add_department(c, UB, REGIONS[B][2], actor="test")
        made["C-as-B"] = _seal_issue_and_file(c, UB, REGIONS[B][2])
        seq = itertools.count(100)
        lists["b-names-a"] = _sign_list(b, lambda *_: None, next(seq))
        lists["b-sneaky"] = _sign_list(b, _only_issuers({UB}), next(seq))
        lists["b-cross"] = _sign_list(b, _extra_cas(_cross_certificate(b, a, UA, REGIONS[A][2]), keep={UB}), next(seq))
        lists["c-names-b"] = _sign_list(c, lambda *_: None, next(seq))
        lists["c-cross"] = _sign_list(c, _extra_cas(_cross_certificate(c, b, UB, REGIONS[B][2]), keep={UC}), next(seq))
        b_lists = {UB: current_status_list(b, UB).der, UA: current_status_list(b, UA).der}
        c_lists = {UC: current_status_list(c, UC).der, UB: current_status_list(c, UB).der}
        peer_status = {name: (b_lists if name.startswith("b") else c_lists) for name in lists}
        yield World(a, b, c, pins, lists, peer_status, made)
    finally:
        for svc in (a, b, c):
            svc.close()


def _hold(world: World, *variants: str) -> None:
    """Make A hold exactly these lists (in this import order), with their status lists."""
    with world.a.db.transaction() as session:
        session.execute(delete(PeerStatusListRecord))
        session.execute(delete(TrustPeerRecord))
        session.flush()
        for variant in variants:
            der = world.lists[variant]
            tl = content_of(der)
            row = TrustPeerRecord(
                region_code=tl.region_code,
                region_name=tl.region_name,
                pin=world.pins[tl.region_code],
                source=f"test:{variant}",
                body=der,
                sequence=tl.sequence,
                issued_at=tl.issued_at,
                next_update=tl.next_update,
                fetched_at=_now(),
                status="ok",
            )
            session.add(row)
            session.flush()
            for uscc, body in world.peer_status[variant].items():
                session.add(
                    PeerStatusListRecord(
                        peer_id=row.id,
                        issuer_uscc=uscc,
                        url="http://test/",
                        body=body,
                        sequence=1,
                        issued_at=_now(),
                        next_update=_now() + DAY,
                        fetched_at=_now(),
                    )
                )


def _snapshot(world: World, *variants: str) -> TrustSnapshot:
    _hold(world, *variants)
    return build_snapshot(world.a.db, grace=DAY, cache=world.cache)


def _anchor(report: Any) -> dict[str, Any]:
    anchors = [t for t in report.trust_path if t.get("trust_anchor")]
    assert anchors, report.as_dict()
    return dict(anchors[-1])


def _verdict(report: Any) -> tuple[str, str | None]:
    return report.indication.value, report.sub_indication


# -- rebuilds ------------------------------------------------------------------------------------


@contextmanager
def counting(db: Any) -> Iterator[list[str]]:
    """Every SQL statement ``db`` runs meanwhile (both engines)."""
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engines = {id(db.read_engine): db.read_engine, id(db.write_engine): db.write_engine}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", listener)


def test_the_holder_hands_out_one_snapshot_and_rebuilds_when_the_version_moves(world: World) -> None:
    _hold(world, "b-honest")
    holder = SnapshotHolder(world.a.db, grace=DAY, interval=0.1)
    first = holder.current()
    assert first.version == world.a.db.trust_version() and [ns.name for ns in first.namespaces] == [
        "local",
        "peer:220000",
    ]
    with counting(world.a.db) as queries:
        assert holder.current() is first and holder.current() is first
    assert queries == []
    # a change committed in this process: the very next current() sees it
    _hold(world, "b-honest", "c-honest")
    second = holder.current()
    assert second is not first and second.version > first.version
    assert [ns.name for ns in second.namespaces] == ["local", "peer:220000", "peer:360000"]
    # a change made elsewhere (another process, another host): refresh() or the poller finds it
    engine = create_engine(world.a.db.url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE trust_version SET version = version + 1 WHERE id = 1"))
    finally:
        engine.dispose()
    assert holder.current() is second  # nothing in this process said so: no database read
    holder.start()
    try:
        deadline = time.monotonic() + 2.0
        while holder.current() is second and time.monotonic() < deadline:
            time.sleep(0.05)
        third = holder.current()
        assert third is not second and third.version == second.version + 1
    finally:
        holder.stop()


def test_a_rebuild_reuses_what_did_not_change(world: World) -> None:
    cache = BuildCache()
    _hold(world, "b-honest", "c-honest")
    first = build_snapshot(world.a.db, grace=DAY, cache=cache)
    assert cache.misses > 0
    again = build_snapshot(world.a.db, grace=DAY, cache=cache)
    assert cache.misses == 0 and cache.hits > 0  # the local code signers and status lists reused
    # a peer whose rows did not change keeps its namespace: its list is not even read again
    assert again.namespace("peer:360000") is first.namespace("peer:360000") is not None
    with world.a.db.transaction() as session:  # one of C's status lists is fetched again
        row = session.execute(select(PeerStatusListRecord).where(PeerStatusListRecord.issuer_uscc == UC)).scalar_one()
        row.fetched_at = _now() + dt.timedelta(seconds=1)
    third = build_snapshot(world.a.db, grace=DAY, cache=cache)
    assert third.namespace("peer:360000") is not first.namespace("peer:360000")
    assert third.namespace("peer:220000") is first.namespace("peer:220000")
    with world.a.db.transaction() as session:  # B, held before C, changes rows but not its issuers
        row = session.execute(
            select(PeerStatusListRecord)
            .join(TrustPeerRecord)
            .where(TrustPeerRecord.region_code == B, PeerStatusListRecord.issuer_uscc == UB)
        ).scalar_one()
        row.fetched_at = _now() + dt.timedelta(seconds=2)
    fourth = build_snapshot(world.a.db, grace=DAY, cache=cache)
    assert fourth.namespace("peer:220000") is not first.namespace("peer:220000")
    assert fourth.namespace("peer:360000") is third.namespace("peer:360000")
    assert cache.misses <= 2  # B's namespace and nothing under it: its list, signers and lists kept


def test_status_lists_are_checked_once_at_first_use(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build checks no held status list (30 peers of 1,000 issuers would make a cold build of
    30,000 signature checks); the first verification needing one checks it, once, and a rebuild
    with the same cache reuses that check."""
    import trustsvc.federation.snapshot as snapshot_module

    calls: list[str] = []
    real = snapshot_module.verify_status_list
    monkeypatch.setattr(
        snapshot_module, "verify_status_list", lambda *a, **k: calls.append(k.get("issuer", "")) or real(*a, **k)
    )
    cache = BuildCache()
    _hold(world, "b-honest", "c-honest")
    snapshot = build_snapshot(world.a.db, grace=DAY, cache=cache)
    assert calls == []
    b = world.made[B]
    for _ in range(3):
        assert verify_code(snapshot, b.code).indication is Indication.PASSED
    assert calls == [b.issuer]
    again = build_snapshot(world.a.db, grace=DAY, cache=cache)
    assert verify_code(again, b.code).indication is Indication.PASSED and calls == [b.issuer]
    ns = again.namespace_for_issuer(b.issuer)
    assert ns is not None and b.issuer in ns.status_lists and len(ns.status_lists) == len(list(ns.status_lists))


def test_staleness_is_judged_at_the_verification_time(world: World) -> None:
    snapshot = _snapshot(world, "b-honest")
    b = snapshot.namespace("peer:220000")
    assert b is not None and b.stale_after is not None
    fresh = verify_code(snapshot, world.made[B].code)
    assert fresh.indication is Indication.PASSED and _anchor(fresh)["stale"] is False
    # the same snapshot, judged after B's list went stale: no rebuild needed to see it
    later = verify_code(snapshot, world.made[B].code, now=b.stale_after + dt.timedelta(minutes=1))
    assert _verdict(later) == ("INDETERMINATE", "TRUST_LIST_STALE"), later.as_dict()
    assert _anchor(later)["stale"] is True and any(c.name == "trust_list.freshness" for c in later.checks)
    assert verify_code(snapshot, world.made[A].code, now=b.stale_after).indication is Indication.PASSED


# -- scoped validation ---------------------------------------------------------------------------


def test_a_peer_cross_certificate_over_a_local_ca_changes_no_local_verdict(world: World) -> None:
    plain = _snapshot(world)
    crossed = _snapshot(world, "b-cross", "c-cross")
    assert crossed.namespace("peer:220000") is not None
    mine = world.made[A]
    for snapshot in (plain, crossed):
        for report in (
            verify_code(snapshot, mine.code),
            verify(snapshot, mine.signer_cert),
            verify(snapshot, mine.pdf),
        ):
            assert report.indication is Indication.PASSED, report.as_dict()
            anchor = _anchor(report)
            assert anchor["namespace"] == "local" and anchor["region"] == A
    # B's honest objects still verify through B's root, B's cross-certificate notwithstanding
    theirs = verify_code(crossed, world.made[B].code)
    assert theirs.indication is Indication.PASSED and _anchor(theirs)["namespace"] == "peer:220000"


def test_an_object_naming_a_local_issuer_under_a_peer_ca_is_not_passed(world: World) -> None:
    impostor = world.made["B-as-A"]
    assert impostor.issuer == UA
    for variant in ("b-honest", "b-names-a", "b-sneaky"):
        snapshot = _snapshot(world, variant)
        b = snapshot.namespace("peer:220000")
        assert b is not None and UA not in b.issuers and snapshot.by_issuer[UA].name == "local"
        if variant == "b-names-a":
            assert any(UA in r and "peer:220000" in r for r in snapshot.refused)
        code = verify_code(snapshot, impostor.code)
        assert _verdict(code) == ("INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND"), (variant, code.as_dict())
        assert "licence" not in code.status_now
        for report in (verify(snapshot, impostor.pdf), verify(snapshot, impostor.signer_cert)):
            assert report.indication is not Indication.PASSED, (variant, report.as_dict())
            assert report.sub_indication, report.as_dict()
            assert (report.status_now.get("licence") or {}).get("status") in (None, "unknown"), report.as_dict()


def test_a_local_licence_status_never_comes_from_peer_data(world: World) -> None:
    mine, impostor = world.made[A], world.made["B-as-A"]
    # B's list for "A's" department (the impostor's) says the impostor's licence is revoked; the
    # licences share their status index, so peer data would turn A's real licence revoked
    assert mine.identifier.split(".")[-3] == impostor.identifier.split(".")[-3]
    revoke_licence(world.b, impostor.identifier, principal_or_actor=SystemActor("test"), reason="impostor")
    world.peer_status["b-names-a"] = {**world.peer_status["b-names-a"], UA: current_status_list(world.b, UA).der}
    snapshot = _snapshot(world, "b-names-a")
    report = verify_code(snapshot, mine.code)
    assert report.indication is Indication.PASSED, report.as_dict()
    assert report.status_now["licence"]["status"] == "active"
    assert "this region" in report.status_now["licence"]["reason"]
    assert report.status_now["status_list"]["namespace"] == "local"
    pdf = verify(snapshot, mine.pdf)
    assert pdf.indication is Indication.PASSED and pdf.status_now["licence"]["status"] == "active", pdf.as_dict()


def test_an_issuer_nobody_holds_is_indeterminate_and_a_forged_signature_fails(world: World) -> None:
    snapshot = _snapshot(world)  # C is not held: its issuers belong to no namespace here
    theirs = verify_code(snapshot, world.made[C].code)
    assert _verdict(theirs) == ("INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND"), theirs.as_dict()
    pdf = verify(snapshot, world.made[C].pdf)
    assert _verdict(pdf) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND"), pdf.as_dict()
    held = _snapshot(world, "c-honest")
    text = world.made[C].code
    tampered = text[:60] + ("Q" if text[60] != "Q" else "R") + text[61:]
    assert verify_code(held, tampered).indication is Indication.FAILED


# -- the property: a PASSED report names the anchor whose namespace holds the issuer --------------

B_VARIANTS = ("b-honest", "b-names-a", "b-sneaky", "b-cross")
C_VARIANTS = ("c-honest", "c-names-b", "c-cross")


@st.composite
def held_lists(draw: st.DrawFn) -> list[str]:
    chosen = []
    if draw(st.booleans()):
        chosen.append(draw(st.sampled_from(B_VARIANTS)))
    if draw(st.booleans()):
        chosen.append(draw(st.sampled_from(C_VARIANTS)))
    return draw(st.permutations(chosen))


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(variants=held_lists())
def test_a_passed_report_names_the_anchor_whose_namespace_holds_the_issuer(world: World, variants: list[str]) -> None:
    snapshot = _snapshot(world, *variants)
    for name, made in world.made.items():
        for report in (
            verify_code(snapshot, made.code),
            verify(snapshot, made.signer_cert),
            verify(snapshot, made.pdf),
        ):
            if report.indication is not Indication.PASSED:
                continue
            anchor = _anchor(report)
            holder = snapshot.namespace_for_issuer(made.issuer)
            assert holder is not None and anchor["namespace"] == holder.name, (variants, name, anchor)
            assert anchor["sha256"] in {parse_certificate(a).sha256 for a in holder.anchors}
            # our departments are ours alone: no peer's object in their name ever passes
            assert name != "B-as-A", (variants, report.as_dict())
    for report in (verify_code(snapshot, world.made[A].code), verify(snapshot, world.made[A].signer_cert)):
        assert report.indication is Indication.PASSED and _anchor(report)["namespace"] == "local"


# -- the hot path --------------------------------------------------------------------------------


def test_an_anonymous_verification_makes_no_database_query(world: World) -> None:
    from api import create_app
    from api.trust_snapshot import snapshot_holder

    _hold(world, "b-honest")
    app = create_app(service=world.a)
    client = app.test_client()
    holder = snapshot_holder(app)
    try:
        mine, theirs = world.made[A], world.made[B]
        assert client.post("/api/v1/verify", json={"code": mine.code}).get_json()["indication"] == "PASSED"
        with counting(world.a.db) as queries:
            for code in (mine.code, theirs.code):
                report = client.post("/api/v1/verify", json={"code": code}).get_json()
                assert report["indication"] == "PASSED", report
            report = client.post("/api/v1/verify", data=mine.pdf, content_type="application/pdf").get_json()
            assert report["indication"] == "PASSED", report
            page = client.post("/verify", data={"code": mine.code})
            assert page.status_code == 200
        assert queries == [], queries
        # the pure function, too, with the online extras wired in (a static code uses nothing up)
        snapshot = holder.current()
        with counting(world.a.db) as queries:
            assert verify(snapshot, mine.code.encode(), online=OnlineCodes(world.a.db)).passed
        assert queries == []
    finally:
        holder.stop()


def test_concurrent_requests_share_one_snapshot(world: World) -> None:
    _hold(world, "b-honest")
    holder = SnapshotHolder(world.a.db, grace=DAY)
    seen: list[int] = []

    def work() -> None:
        seen.append(id(holder.current()))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 1 and holder.builds == 1


def test_the_code_cache_loads_into_the_same_model(world: World, tmp_path: Path) -> None:
    from trustsvc.codes.material import write_code_cache
    from trustsvc.federation.snapshot import load_snapshot_cache

    _hold(world, "b-honest")
    write_code_cache(world.a, tmp_path / "cache")
    cached = load_snapshot_cache(tmp_path / "cache")
    assert [ns.name for ns in cached.namespaces] == ["local", "peer:220000"]
    assert UA in cached.namespace("local").issuers and UB in cached.namespace("peer:220000").issuers
    for region, namespace in ((A, "local"), (B, "peer:220000")):
        report = verify_code(cached, world.made[region].code)
        assert report.indication is Indication.PASSED and _anchor(report)["namespace"] == namespace, report.as_dict()
    impostor = verify_code(cached, world.made["B-as-A"].code)
    assert impostor.indication is not Indication.PASSED
    stale = verify_code(cached, world.made[A].code, now=cached.next_update + dt.timedelta(seconds=1))
    assert _verdict(stale) == ("INDETERMINATE", "TRUST_LIST_STALE")


def test_a_licence_file_past_its_last_day_is_expired_whatever_its_list_says(world: World) -> None:
    from fed_bodies import food_body

    row = issue_licence(
        world.a,
        request_from_json(food_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=UA,
        timestamp=False,
    )  # valid until 2030-12-31
    pdf = ensure_licence_file(world.a, row.identifier).content
    snapshot = _snapshot(world)
    assert verify(snapshot, pdf).indication is Indication.PASSED
    after = verify(snapshot, pdf, now=dt.datetime(2031, 1, 1, 12, tzinfo=dt.UTC))
    assert _verdict(after) == ("FAILED", "EXPIRED"), after.as_dict()
    assert after.status_now["licence"]["status"] == "expired"
