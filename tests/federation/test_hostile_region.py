"""A hostile region among honest ones (issue 13): three real `trustsvc serve` processes on
loopback, A (320000) and C (360000) honest, B (220000) hostile.

B publishes through a small reverse proxy run by this test (:class:`HostileFront`, B's
``base_url``), so B's operator can put a list of its own making in front of its real one, or
make its URL trickle. B tries, each attempt on its own and observably:

a. to speak as a department of A (``trustsvc department add`` with A's department USCC, a seal,
   a licence, codes): A refuses B's list naming that issuer, keeps the list it holds, and when
   B's objects reach A anyway they never verify PASSED there nor show A's department's status;
b. to speak as C's issuer, after A imported C: refused at A;
c. cross-certificates by B's root over A's issuing CA (subject and key) and over C's CA key:
   refused at A, and A's new licences still verify at A through A's own root, C's through C's;
d. traversal names (``../../x``, an absolute path) as issuer USCCs: refused at import, and
   ``trustsvc code cache DIR`` at A writes nothing outside DIR (even with such names planted
   in A's database, as from a list held before issuers were checked);
e. a trickling server (one byte every ~2 s): A's import answers an error within its fetch
   deadline; with eight such imports running A's /healthz answers within 2 s; A's refresh of C
   completes while B trickles.

Afterwards every legitimate object of A and C, and of B's honest department where B's list is
held, verifies PASSED at A and at C.

Each test collects every problem it sees and fails once, with all of them listed, so a run
shows which holes are still open. The steps share one set of servers and run in order.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fed_bodies import business_body, food_body
from federation_helpers import (
    REGIONS,
    Region,
    dynamic_code,
    held_peer,
    issue_licence,
    make_region,
    open_region_service,
    region_pin,
    running,
    setup_region,
)

pytestmark = pytest.mark.slow

A, B, C = "320000", "220000", "360000"
DOCUMENT = "跨省通办 — a document sealed in one region and verified in the others".encode()
FETCH_TIMEOUT = 4
"""A's ``[trust] fetch_timeout`` (s): short, so the trickling attempts stay quick."""
PEER_BUDGET = 8
"""A's ``[trust] peer_budget`` (s)."""
SLACK = 3.0
"""What an answer may take beyond a deadline (two shared cores, a Python server)."""
TRICKLE_EVERY = 2.0
NAMESPACE_ISSUER_LOCAL = {"trust_list_issuer_is_local", "trust_list_issuer_outside_region"}
NAMESPACE_ISSUER_PEER = {"trust_list_issuer_held_by_peer", "trust_list_issuer_outside_region"}


# -- findings: every problem of a step, reported at once ------------------------------------------


class Findings:
    def __init__(self, title: str) -> None:
        self.title = title
        self.problems: list[str] = []
        self.notes: list[str] = []

    def check(self, ok: Any, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return bool(ok)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def done(self) -> None:
        for n in self.notes:
            print(f"{self.title}: {n}")
        if self.problems:
            notes = "".join(f"\n   (note) {n}" for n in self.notes)
            pytest.fail(
                f"{self.title}: {len(self.problems)} problem(s)\n - " + "\n - ".join(self.problems) + notes,
                pytrace=False,
            )


def _brief(report: dict[str, Any]) -> str:
    anchors = [f"{t.get('region')}/{t.get('source')}" for t in report.get("trust_path", []) if t.get("trust_anchor")]
    failed = [f"{c['name']}: {c['detail'][:160]}" for c in report.get("checks", []) if c["result"] == "failed"]
    status = (report.get("status_now") or {}).get("licence")
    return (
        f"{report.get('indication')}/{report.get('sub_indication')} anchors={anchors} "
        f"status_now.licence={json.dumps(status, ensure_ascii=False) if status else None} "
        f"failed={failed[:3]} message={str(report.get('message'))[:200]!r}"
    )


def _anchor_region(report: dict[str, Any]) -> tuple[str | None, str | None]:
    anchors = [t for t in report.get("trust_path", []) if t.get("trust_anchor")]
    if not anchors:
        return None, None
    return anchors[-1].get("region"), anchors[-1].get("source")


def _expect_passed_via(f: Findings, label: str, report: dict[str, Any], region: str, source: str | None = None) -> None:
    ok = report.get("indication") == "PASSED"
    got_region, got_source = _anchor_region(report)
    ok = ok and got_region == region and (source is None or got_source == source)
    f.check(
        ok,
        f"{label}: expected PASSED via region {region}'s root"
        + (f" ({source})" if source else "")
        + f", got {_brief(report)}",
    )


def _expect_refused_object(f: Findings, label: str, report: dict[str, Any], *, no_status: bool = True) -> None:
    """FAILED or INDETERMINATE with a named sub-indication; never PASSED; and (``no_status``)
    no licence status shown: the identifier's issuer is not the one vouching for this object."""
    f.note(f"{label}: {report.get('indication')}/{report.get('sub_indication')}")
    f.check(report.get("indication") != "PASSED", f"{label}: verified PASSED — {_brief(report)}")
    f.check(
        report.get("indication") in ("FAILED", "INDETERMINATE") and report.get("sub_indication"),
        f"{label}: not FAILED/INDETERMINATE with a named sub-indication — {_brief(report)}",
    )
    if no_status:
        lic = (report.get("status_now") or {}).get("licence")
        f.check(
            lic is None or lic.get("status") == "unknown",
            f"{label}: shows the status of a licence the forger's anchor does not vouch for — {_brief(report)}",
        )


# -- B's front: a reverse proxy B publishes as its base URL; it can serve B's own lists or trickle -


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    front: HostileFront


class _FrontHandler(BaseHTTPRequestHandler):
    server: _FrontServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        front = self.server.front
        mode = front.mode_for(self.path)
        if mode == "proxy":
            self._proxy(front)
        else:
            self._trickle(front, mode)

    def _proxy(self, front: HostileFront) -> None:
        if front.override is not None and self.path.split("?")[0] == "/api/v1/trust-list":
            status, ctype, body = 200, "application/cms", front.override
        else:
            try:
                with urllib.request.urlopen(f"{front.upstream}{self.path}", timeout=60) as resp:
                    status, ctype, body = resp.status, resp.headers.get("Content-Type", ""), resp.read()
            except urllib.error.HTTPError as exc:
                status, ctype, body = exc.code, exc.headers.get("Content-Type", ""), exc.read()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, front: HostileFront, mode: str) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/cms\r\nContent-Length: 1000000\r\n\r\n"
        if mode == "trickle_body":
            self.wfile.write(head)
            data: Iterator[bytes] = itertools.repeat(b"0")
        else:
            data = itertools.chain((head[i : i + 1] for i in range(len(head))), itertools.repeat(b"0"))
        front.connections += 1
        give_up = time.monotonic() + front.max_trickle
        for byte in data:
            if front.stopped.wait(TRICKLE_EVERY) or time.monotonic() > give_up:
                break
            try:
                self.wfile.write(byte)
                self.wfile.flush()
            except OSError:
                break
        self.close_connection = True


class HostileFront:
    """``mode``: ``proxy`` (to ``upstream``, with ``override`` as the trust list when set),
    ``trickle_head`` or ``trickle_body`` (one byte every ~2 s); ``by_path`` picks the trickle by
    the path's first segment (``/head/…``, ``/body/…``)."""

    def __init__(
        self, upstream: str | None, *, mode: str = "proxy", by_path: bool = False, max_trickle: float = 90.0
    ) -> None:
        self.upstream = upstream
        self.mode = mode
        self.by_path = by_path
        self.override: bytes | None = None
        self.max_trickle = max_trickle
        self.connections = 0
        self.stopped = threading.Event()
        self.server = _FrontServer(("127.0.0.1", 0), _FrontHandler)
        self.server.front = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def mode_for(self, path: str) -> str:
        if self.by_path:
            return "trickle_head" if path.startswith("/head/") else "trickle_body"
        return self.mode

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


# -- the world ------------------------------------------------------------------------------------


@dataclass
class World:
    regions: dict[str, Region]
    pins: dict[str, str]
    made: dict[str, dict[str, Any]]
    front: HostileFront
    trickler: HostileFront
    base: Path
    hostile: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _artefacts(region: Region) -> dict[str, Any]:
    status, seal, _ = region.request(
        "POST",
        "/api/v1/seals",
        key=region.admin_key,
        body={"department": region.uscc, "name": f"{REGIONS[region.code][2]}证照专用章"},
    )
    assert status == 201, seal
    esid = seal["esid"]
    status, esl, _ = region.request("GET", f"/api/v1/seals/{esid}?format=esl")
    assert status == 200
    status, ses, _ = region.request(
        "POST",
        f"/api/v1/seals/{esid}/sign?format=der",
        raw=DOCUMENT,
        key=region.admin_key,
        content_type="application/octet-stream",
    )
    assert status == 200, ses
    return {
        "esid": esid,
        "esl": esl,
        "ses": ses,
        "business": issue_licence(region, business_body()),
        "food": issue_licence(region, food_body()),
    }


def _import(world: World, importer: str, url: str, pin: str) -> tuple[int, Any]:
    r = world.regions[importer]
    status, body, _ = r.request("POST", "/api/v1/trust/peers", key=r.admin_key, body={"url": url, "pin": pin})
    return status, body


def _import_b(world: World) -> tuple[int, Any]:
    """A imports B by pin from B's published URL (the front)."""
    return _import(world, A, world.front.url, world.pins[B])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("hostile")
    regions = {code: make_region(base, code) for code in (A, B, C)}
    front = HostileFront(upstream=regions[B].url)
    trickler = HostileFront(upstream=None, by_path=True)
    regions[B].env["TRUSTSVC_SERVER_BASE_URL"] = front.url
    regions[A].env.update(
        {"TRUSTSVC_TRUST_FETCH_TIMEOUT": str(FETCH_TIMEOUT), "TRUSTSVC_TRUST_PEER_BUDGET": str(PEER_BUDGET)}
    )
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(setup_region, regions.values()))
            pins = dict(zip(regions, pool.map(region_pin, regions.values()), strict=True))
        for _ in running(list(regions.values())):
            with ThreadPoolExecutor(3) as pool:
                made = dict(zip(regions, pool.map(_artefacts, regions.values()), strict=True))
            w = World(regions=regions, pins=pins, made=made, front=front, trickler=trickler, base=base)
            # honest imports: A and C import each other; both import B's (still honest) list
            for importer, url, peer in (
                (A, regions[C].url, C),
                (C, regions[A].url, A),
                (A, front.url, B),
                (C, front.url, B),
            ):
                status, body = _import(w, importer, url, pins[peer])
                assert status == 201 and body["region"] == peer, body
                assert body["status_lists"] == 1, body  # the peer's department's signed status list
            yield w
    finally:
        front.close()
        trickler.close()


# -- B's own lists, signed with B's key store -------------------------------------------------------

_SEQUENCE = itertools.count(1000)


def craft_b_list(world: World, mutate: Callable[[Any, Any, dict[str, Any]], None]) -> bytes:
    """B's trust list as B's operator makes it: B's current entries changed by ``mutate(svc,
    session, entries)``, signed by B's trust-list signer with a sequence above anything held."""
    from trustsvc.federation.trust_lists import sign_trust_list, trust_list_entries

    svc = open_region_service(world.regions[B])
    try:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        with svc.db.reader() as session:
            entries = copy.deepcopy(trust_list_entries(svc, session, now))
            mutate(svc, session, entries)
            der, _ = sign_trust_list(
                svc, session, entries, sequence=next(_SEQUENCE), issued_at=now, next_update=now + dt.timedelta(days=1)
            )
        return bytes(der)
    finally:
        svc.close()


def _only_issuers(entries: dict[str, Any], keep: set[str]) -> None:
    entries["issuers"] = [i for i in entries["issuers"] if i["uscc"] in keep]


def _import_crafted(world: World, der: bytes) -> tuple[int, Any]:
    world.front.override = der
    try:
        return _import_b(world)
    finally:
        world.front.override = None


def _held_b(world: World) -> tuple[Any, ...]:
    held = held_peer(world.regions[A], B)
    assert held is not None
    return held["sequence"], held["pin"], held["source"], held["issued_at"]


def _expect_refused_import(f: Findings, label: str, status: int, body: Any, codes: set[str]) -> None:
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    f.check(
        status == 422 and code in codes,
        f"{label}: import expected 422 with one of {sorted(codes)}, got {status} "
        f"{json.dumps(body, ensure_ascii=False)[:400]}",
    )


def _seal_and_sign(region: Region, department: str, name: str) -> dict[str, Any]:
    status, seal, _ = region.request(
        "POST", "/api/v1/seals", key=region.admin_key, body={"department": department, "name": name}
    )
    assert status == 201, seal
    esid = seal["esid"]
    status, esl, _ = region.request("GET", f"/api/v1/seals/{esid}?format=esl")
    assert status == 200
    status, ses, _ = region.request(
        "POST",
        f"/api/v1/seals/{esid}/sign?format=der",
        raw=DOCUMENT,
        key=region.admin_key,
        content_type="application/octet-stream",
    )
    assert status == 200, ses
    return {"esid": esid, "esl": esl, "ses": ses}


def _forge_code(world: World, text: str, *, iss: str) -> str:
    """B's code signer signs ``text``'s claims again with another ``iss``."""
    from sqlalchemy import select

    from trustsvc.codes.format import decode_code, sign_code
    from trustsvc.federation.trust_lists import CODE_SIGNER_SLUG
    from trustsvc.storage.models import CertificateRecord

    svc = open_region_service(world.regions[B])
    try:
        with svc.db.reader() as session:
            row = session.execute(
                select(CertificateRecord).where(CertificateRecord.slug == CODE_SIGNER_SLUG)
            ).scalar_one()
            der, key_ref = row.der, row.key_ref
        claims = dataclasses.replace(decode_code(text).claims, iss=iss)
        return sign_code(claims, signer=svc.keystore.signer(key_ref), cert_der=der)
    finally:
        svc.close()


def _hostile_reports(at: Region, objs: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("pdf", "esl"):
        if kind in objs:
            yield kind, at.verify(objs[kind])
    if "ses" in objs:
        yield "ses", at.verify(objs["ses"], original=DOCUMENT)
    for kind in ("code", "dynamic", "forged_code"):
        if kind in objs:
            yield kind, at.verify_code(objs[kind])


# -- the attempts -----------------------------------------------------------------------------------


def test_a_b_cannot_speak_as_a_department_of_a(world: World) -> None:
    f = Findings("(a) B impersonating a local department of A")
    a, b = world.regions[A], world.regions[B]
    held_before = _held_b(world)
    # B's operator adds A's department under B's root, makes its seal, issues a licence and codes
    b.cli("department", "add", "--code", a.uscc, "--name", REGIONS[A][2])
    sealed = _seal_and_sign(b, a.uscc, f"{REGIONS[A][2]}证照专用章")
    lic = issue_licence(b, business_body(), department=a.uscc)
    hostile = {**sealed, "id": lic["id"], "pdf": lic["pdf"], "code": lic["code"], "dynamic": dynamic_code(b, lic["id"])}
    hostile["forged_code"] = _forge_code(world, lic["code"], iss=A)  # the same claims, but "iss": A
    world.hostile["a"] = hostile
    if lic["id"] == world.made[A]["business"]["id"]:
        f.note(f"B's licence has the identifier of A's real licence {lic['id']} (same department, type, serial)")

    # 1. A imports B's published list (it names A's department) by pin: refused, held list kept
    status, body = _import_b(world)
    _expect_refused_import(f, "B's list naming A's department", status, body, NAMESPACE_ISSUER_LOCAL)
    f.check(_held_b(world) == held_before, f"A's held list of B changed: {held_before} -> {_held_b(world)}")

    # 2. B's objects reach A anyway (A holds only B's honest list)
    for kind, report in _hostile_reports(a, hostile):
        _expect_refused_object(f, f"B's {kind} in A's department's name at A (honest list of B held)", report)

    # 3. B lists the department's CA and signers among its own CAs, without naming the issuer
    def sneaky(_svc: Any, _session: Any, entries: dict[str, Any]) -> None:
        _only_issuers(entries, {b.uscc})

    status, body = _import_crafted(world, craft_b_list(world, sneaky))
    if status in (200, 201):
        f.note(
            f"B's list carrying the impostor's CA (no issuer entry for it) was accepted: sequence "
            f"{body.get('sequence')}"
        )
    else:
        f.note(f"B's list carrying the impostor's CA was refused: {status} {json.dumps(body)[:200]}")
    for kind, report in _hostile_reports(a, hostile):
        _expect_refused_object(f, f"B's {kind} in A's department's name at A (B's CA list held)", report)
    # and A's own licence with that identifier still verifies as A's
    _expect_passed_via(f, "A's real business licence PDF at A", a.verify(world.made[A]["business"]["pdf"]), A)
    f.done()


def test_b_b_cannot_speak_as_cs_issuer(world: World) -> None:
    f = Findings("(b) B impersonating C's issuer")
    a, b, c = world.regions[A], world.regions[B], world.regions[C]
    f.check(held_peer(a, C) is not None, "A does not hold C's list")
    held_before = _held_b(world)
    b.cli("department", "add", "--code", c.uscc, "--name", REGIONS[C][2])
    sealed = _seal_and_sign(b, c.uscc, f"{REGIONS[C][2]}证照专用章")
    lic = issue_licence(b, business_body(), department=c.uscc)
    hostile = {**sealed, "pdf": lic["pdf"], "code": lic["code"]}
    world.hostile["b"] = hostile

    def claim_c(_svc: Any, _session: Any, entries: dict[str, Any]) -> None:
        _only_issuers(entries, {b.uscc, c.uscc})

    status, body = _import_crafted(world, craft_b_list(world, claim_c))
    _expect_refused_import(f, "B's list naming C's issuer", status, body, NAMESPACE_ISSUER_PEER)
    f.check(_held_b(world) == held_before, f"A's held list of B changed: {held_before} -> {_held_b(world)}")
    for kind, report in _hostile_reports(a, hostile):
        _expect_refused_object(f, f"B's {kind} in C's issuer's name at A", report, no_status=False)
    # at C, B's objects in C's own department's name never show C's department's status
    for kind, report in _hostile_reports(c, hostile):
        _expect_refused_object(f, f"B's {kind} in C's department's name at C", report)
    f.done()


def _ca_of(region: Region, uscc: str) -> bytes:
    from trustsvc.federation.trust_lists import content_of

    status, der, _ = region.request("GET", "/api/v1/trust-list")
    assert status == 200
    issuer = content_of(der).issuer(uscc)
    assert issuer is not None
    return issuer.ca


def _cross_certificate(svc: Any, session: Any, target: bytes, *, copy_subject: bool) -> str:
    """B's root certifies ``target``'s public key (and, ``copy_subject``, its subject)."""
    import base64

    from sqlalchemy import select

    from ca.certs import parse_certificate
    from ca.issue import issue_certificate
    from ca.names import SubjectSpec
    from trustsvc.storage.models import CertificateRecord

    root = session.execute(select(CertificateRecord).where(CertificateRecord.slug == "root")).scalar_one()
    victim = parse_certificate(target)
    if copy_subject:
        n = victim.subject.native
        spec = SubjectSpec(
            common_name=n["common_name"],
            organization=n.get("organization_name"),
            organization_identifier=n.get("organization_identifier"),
            country=n.get("country_name", "CN"),
        )
    else:
        spec = SubjectSpec(common_name="吉林省互认交叉认证CA", organization="吉林省")
    der = issue_certificate(
        profile="issuing_ca",
        subject=spec,
        public_key=victim.spki,
        issuer_signer=svc.keystore.signer(root.key_ref),
        issuer_cert=root.der,
    )
    made = parse_certificate(der)
    assert made.spki == victim.spki
    if copy_subject:
        assert made.subject.dump() == victim.subject.dump(), (made.subject_str, victim.subject_str)
    return base64.b64encode(der).decode("ascii")


def test_c_cross_certificates_over_a_and_c_ca_keys(world: World) -> None:
    f = Findings("(c) cross-certificates over A's CA (subject and key) and over C's CA key")
    a, b, c = world.regions[A], world.regions[B], world.regions[C]
    a_ca, c_ca = _ca_of(a, a.uscc), _ca_of(c, c.uscc)
    for label, target, copy_subject in (
        ("A's issuing CA, subject and key", a_ca, True),
        ("C's issuing CA key", c_ca, False),
    ):
        held_before = _held_b(world)

        def cross(
            svc: Any, session: Any, entries: dict[str, Any], target: bytes = target, copy_subject: bool = copy_subject
        ) -> None:
            _only_issuers(entries, {b.uscc})
            entries["cas"].append(_cross_certificate(svc, session, target, copy_subject=copy_subject))

        status, body = _import_crafted(world, craft_b_list(world, cross))
        if status in (200, 201):
            f.problems.append(
                f"B's list with a certificate over {label} was accepted (expected 422 "
                f"trust_list_ca_key_collision): sequence {body.get('sequence')}"
            )
        else:
            _expect_refused_import(
                f, f"B's list with a certificate over {label}", status, body, {"trust_list_ca_key_collision"}
            )
            f.check(_held_b(world) == held_before, f"A's held list of B changed: {held_before} -> {_held_b(world)}")
    # whatever A holds now: A's new licences verify at A through A's own root, C's through C's
    new = issue_licence(a, business_body())
    world.extra["a_new"] = new
    _expect_passed_via(f, "A's new licence PDF at A", a.verify(new["pdf"]), A, "local")
    _expect_passed_via(f, "A's new static code at A", a.verify_code(new["code"]), A, "local")
    _expect_passed_via(f, "A's new dynamic code at A", a.verify_code(dynamic_code(a, new["id"])), A, "local")
    _expect_passed_via(f, "A's seal at A", a.verify(world.made[A]["esl"]), A, "local")
    for kind in ("business", "food"):
        _expect_passed_via(f, f"C's {kind} PDF at A", a.verify(world.made[C][kind]["pdf"]), C, "trust list")
        _expect_passed_via(f, f"C's {kind} code at A", a.verify_code(world.made[C][kind]["code"]), C, "trust list")
    f.done()


def _files_outside(root: Path, skip: list[Path]) -> set[str]:
    out = set()
    for p in root.rglob("*"):
        if any(p == s or s in p.parents for s in skip):
            continue
        if p.is_file():
            out.add(str(p.relative_to(root)))
    return out


def test_d_traversal_names_are_refused_and_the_code_cache_stays_in_its_directory(world: World) -> None:
    f = Findings("(d) traversal names")
    a, b = world.regions[A], world.regions[B]
    absolute = f"/tmp/ts-{secrets.token_hex(3)}"  # short: a USCC column holds 18 characters
    for label, name in (("../../x", "../../x"), ("an absolute path", absolute)):
        held_before = _held_b(world)

        def traversal(_svc: Any, _session: Any, entries: dict[str, Any], name: str = name) -> None:
            _only_issuers(entries, {b.uscc})
            entries["issuers"].append(
                {
                    **copy.deepcopy(entries["issuers"][0]),
                    "uscc": name,
                    "status_list_url": f"{world.front.url}/api/v1/status/{b.uscc}",
                }
            )

        status, body = _import_crafted(world, craft_b_list(world, traversal))
        _expect_refused_import(
            f, f"B's list with issuer {label}", status, body, {"trust_list_issuer_invalid", "trust_list_invalid"}
        )
        f.check(_held_b(world) == held_before, f"A's held list of B changed: {held_before} -> {_held_b(world)}")

    # defence in depth: such names already in A's database (a peer status list held from before
    # issuers were checked) still never become a path outside the cache directory
    from sqlalchemy import delete, select

    from trustsvc.storage.models import PeerStatusListRecord, TrustPeerRecord

    planted = ["../../x", "../../../y", absolute]
    svc = open_region_service(a)
    try:
        with svc.db.transaction() as session:
            peer = session.execute(select(TrustPeerRecord).where(TrustPeerRecord.region_code == C)).scalar_one()
            model = (
                session.execute(select(PeerStatusListRecord).where(PeerStatusListRecord.peer_id == peer.id))
                .scalars()
                .first()
            )
            assert model is not None
            for name in planted:
                session.add(
                    PeerStatusListRecord(
                        peer_id=peer.id,
                        issuer_uscc=name,
                        url=model.url,
                        body=model.body,
                        sequence=model.sequence,
                        issued_at=model.issued_at,
                        next_update=model.next_update,
                        fetched_at=model.fetched_at,
                    )
                )
        cache = world.base / "cache" / "deep" / "dir"
        skip = [r.home for r in world.regions.values()] + [cache]
        before = _files_outside(world.base, skip)
        done = a.cli("code", "cache", str(cache), check=False)
        f.check(done.returncode == 0, f"`trustsvc code cache` failed: {done.stderr.decode()[-600:]}")
        after = _files_outside(world.base, skip)
        f.check(after == before, f"`trustsvc code cache {cache}` wrote outside it: {sorted(after - before)}")
        for target in (Path(absolute), Path(absolute + ".bin")):
            f.check(not target.exists(), f"`trustsvc code cache` wrote {target}")
        status_dir = cache / "status"
        stray = [p.name for p in status_dir.iterdir()] if status_dir.is_dir() else []
        f.check(
            all(len(n) == 22 and n.endswith(".bin") and n[:18].isalnum() for n in stray),
            f"unexpected file names in {status_dir}: {stray}",
        )
        f.check(f"{world.regions[C].uscc}.bin" in stray, f"C's status list is missing from the cache: {stray}")
    finally:
        with svc.db.transaction() as session:
            session.execute(delete(PeerStatusListRecord).where(PeerStatusListRecord.issuer_uscc.in_(planted)))
        svc.close()
        for target in (Path(absolute), Path(absolute + ".bin")):
            target.unlink(missing_ok=True)
    f.done()


def _timed_post(region: Region, path: str, body: Any, timeout: float) -> tuple[int | None, Any, float]:
    t0 = time.monotonic()
    req = urllib.request.Request(
        region.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {region.admin_key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    except OSError as exc:
        return None, f"no answer: {exc!r}", time.monotonic() - t0
    try:
        parsed: Any = json.loads(payload)
    except ValueError:
        parsed = payload[:200]
    return status, parsed, time.monotonic() - t0


def _healthz(region: Region) -> float | None:
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(f"{region.url}/healthz", timeout=10) as resp:
            resp.read()
    except OSError:
        return None
    return time.monotonic() - t0


def test_e_a_trickling_peer_holds_nobody_up(world: World) -> None:
    f = Findings("(e) a trickling server")
    a = world.regions[A]
    bound = FETCH_TIMEOUT + SLACK
    # one import at a time, trickling the headers, then the body
    for where in ("head", "body"):
        status, body, took = _timed_post(
            a,
            "/api/v1/trust/peers",
            {"url": f"{world.trickler.url}/{where}/list", "pin": world.pins[B]},
            timeout=bound + 30,
        )
        f.check(
            status is not None and status >= 400 and took <= bound,
            f"an import from a server trickling its {where}: {status} after {took:.1f} s (deadline "
            f"{FETCH_TIMEOUT} s, bound {bound:.0f} s): {str(body)[:300]}",
        )
        if status is not None:
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            f.check(
                code == "peer_fetch_timeout", f"trickling {where}: error code {code!r}, expected peer_fetch_timeout"
            )
    # eight at once, while /healthz is asked every 0.3 s
    results: list[tuple[int | None, Any, float]] = []
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(
                _timed_post,
                a,
                "/api/v1/trust/peers",
                {"url": f"{world.trickler.url}/{'head' if i % 2 else 'body'}/list", "pin": world.pins[B]},
                bound + 30,
            )
            for i in range(8)
        ]
        probes: list[float | None] = []
        while not all(fu.done() for fu in futures):
            probes.append(_healthz(a))
            time.sleep(0.3)
        results = [fu.result() for fu in futures]
    for i, (status, body, took) in enumerate(results):
        f.check(
            status is not None and status >= 400 and took <= bound,
            f"concurrent trickling import {i}: {status} after {took:.1f} s (bound {bound:.0f} s): {str(body)[:200]}",
        )
    slow = [p for p in probes if p is None or p > 2.0]
    f.check(
        probes and not slow,
        f"/healthz during eight trickling imports: {len(slow)} of {len(probes)} probes "
        f"slower than 2 s or unanswered: {[None if p is None else round(p, 2) for p in slow]}",
    )
    f.note(
        f"/healthz probes: {len(probes)}, slowest {max((p or 99) for p in probes):.2f} s; import answers "
        f"{sorted({r[0] for r in results}, key=str)}"
    )

    # A's refresh: B's published URL trickles; C's list is refreshed meanwhile
    try:
        before = held_peer(a, C)
    except OSError as exc:  # A's threads all held by the trickling imports
        f.problems.append(f"A did not answer GET /trust/peers after the trickling imports: {exc!r}")
        f.done()
        return
    assert before is not None
    time.sleep(1.1)  # fetched_at has one-second resolution
    world.front.mode = "trickle_head"
    try:
        refresh: dict[str, Any] = {}

        def run_refresh() -> None:
            status, body, took = _timed_post(a, "/api/v1/trust/refresh", None, PEER_BUDGET + 40)
            refresh.update(status=status, body=body, took=took)

        thread = threading.Thread(target=run_refresh, daemon=True)
        t0 = time.monotonic()
        thread.start()
        c_done = None
        while time.monotonic() - t0 < PEER_BUDGET + 40 and thread.is_alive():
            try:
                now = held_peer(a, C)
            except OSError:
                now = None
            if now is not None and (now["fetched_at"], now["last_attempt_at"]) != (
                before["fetched_at"],
                before["last_attempt_at"],
            ):
                c_done = time.monotonic() - t0
                break
            time.sleep(0.25)
        thread.join(PEER_BUDGET + 45)
        b_still_trickling = c_done is not None and (refresh.get("took") or 0) > c_done
        f.check(
            c_done is not None and c_done <= 3.0 and b_still_trickling,
            f"A's refresh of C did not complete while B trickled: C refreshed after "
            f"{'never' if c_done is None else f'{c_done:.1f} s'}, the whole refresh answered after "
            f"{refresh.get('took', float('nan')):.1f} s",
        )
        took = refresh.get("took")
        f.check(
            refresh.get("status") == 200 and took is not None and took <= PEER_BUDGET + SLACK,
            f"POST /trust/refresh with B trickling: {refresh.get('status')} after "
            f"{took if took is None else round(took, 1)} s (peer budget {PEER_BUDGET} s): "
            f"{str(refresh.get('body'))[:300]}",
        )
        if refresh.get("status") == 200:
            outcomes = {o["region"]: o["outcome"] for o in refresh["body"]}
            f.check(
                outcomes.get(C) in ("unchanged", "updated") and outcomes.get(B) == "unreachable",
                f"refresh outcomes {outcomes}",
            )
    finally:
        world.front.mode = "proxy"
    f.done()


def test_every_legitimate_object_still_verifies_everywhere(world: World) -> None:
    f = Findings("afterwards: every legitimate object verifies PASSED")
    a, c = world.regions[A], world.regions[C]
    # C refreshes so it holds A's status list covering A's licence issued during the attempts
    status, outcomes, _ = c.request("POST", "/api/v1/trust/refresh", key=c.admin_key)
    f.check(status == 200, f"C's refresh: {status} {outcomes}")
    if status == 200:
        f.note(f"C's refresh: {[(o['region'], o['outcome'], o['message'][:120]) for o in outcomes]}")
    for verifier in (a, c):
        for issuer in (A, C, B):
            if issuer == B and held_peer(verifier, B) is None:
                continue
            made, src = world.made[issuer], ("local" if issuer == verifier.code else "trust list")
            where = f"at {verifier.code}"
            objs = [(f"{issuer}'s {k} PDF", made[k]["pdf"]) for k in ("business", "food")]
            if issuer == A and "a_new" in world.extra:
                objs.append(("A's licence issued after the attempts, PDF", world.extra["a_new"]["pdf"]))
            for label, pdf in objs:
                _expect_passed_via(f, f"{label} {where}", verifier.verify(pdf), issuer, src)
            codes = [(f"{issuer}'s {k} static code", made[k]["code"]) for k in ("business", "food")]
            codes.append((f"{issuer}'s dynamic code", dynamic_code(world.regions[issuer], made["food"]["id"])))
            for label, code in codes:
                _expect_passed_via(f, f"{label} {where}", verifier.verify_code(code), issuer, src)
            _expect_passed_via(f, f"{issuer}'s seal {where}", verifier.verify(made["esl"]), issuer, src)
            _expect_passed_via(
                f, f"{issuer}'s SES signature {where}", verifier.verify(made["ses"], original=DOCUMENT), issuer, src
            )
    f.done()
