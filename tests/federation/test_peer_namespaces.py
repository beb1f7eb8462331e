"""What a peer's list may claim (issue 13): an import or a refresh refuses a list that names an
invalid issuer, a local department, another peer's issuer, an issuer outside the peer's region,
or a certificate over someone else's key, with a reason code, and leaves the held lists as they
were. Also: peer-supplied strings are validated, and nothing a peer names becomes a file path
outside the code cache directory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from federation_helpers import department_uscc, open_region
from sqlalchemy import select

from ca.certs import parse_certificate
from ca.issue import issue_certificate
from ca.names import SubjectSpec
from trustsvc import pki
from trustsvc.errors import InvalidInputError
from trustsvc.federation.peers import import_peer, list_peers, refresh_peers
from trustsvc.federation.trust_lists import (
    NamespaceClaims,
    TrustListRejected,
    content_of,
    current_trust_list,
    division_prefix,
    namespace_refusal,
    sign_trust_list,
    trust_list_entries,
)
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.storage.models import CertificateRecord, PeerStatusListRecord, TrustPeerRecord

A, B, C = "320000", "220000", "360000"
_sequences = itertools.count(1000)


def _uscc(stem17: str) -> str:
    return stem17 + uscc_check_char(stem17)


def _pin(svc: Any) -> str:
    with svc.db.reader() as session:
        return str(pki.get_ca(session, "root").sha256)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A (320000) and C (360000) imported by B (220000) from files; A's file is its source."""
    base = tmp_path_factory.mktemp("namespaces")
    a, b, c = (open_region(base / code, code) for code in (A, B, C))
    source = {}
    for peer in (a, c):
        code = peer.config.region.code
        source[code] = base / f"{code}.cms"
        source[code].write_bytes(current_trust_list(peer).der)
        assert import_peer(b, str(source[code]), _pin(peer), actor="test", allow_file=True).outcome == "imported"
    yield {"a": a, "b": b, "c": c, "base": base, "source": source}
    for svc in (a, b, c):
        svc.close()


def _held(svc: Any) -> dict[str, tuple[int, bytes]]:
    with svc.db.reader() as session:
        return {r.region_code: (r.sequence, r.body) for r in session.execute(select(TrustPeerRecord)).scalars()}


def _crafted(a: Any, mutate: Callable[[dict[str, Any]], None]) -> bytes:
    """A's list, changed by ``mutate``, signed by A's own trust-list signer (a hostile A)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with a.db.reader() as session:
        entries = trust_list_entries(a, session, now)
        mutate(entries)
        der, _ = sign_trust_list(
            a, session, entries, sequence=next(_sequences), issued_at=now, next_update=now + dt.timedelta(days=1)
        )
    return der


def _add_issuer(uscc: str) -> Callable[[dict[str, Any]], None]:
    def mutate(entries: dict[str, Any]) -> None:
        entries["issuers"].append(
            {**entries["issuers"][0], "uscc": uscc, "status_list_url": f"http://127.0.0.1:9/api/v1/status/{uscc}"}
        )

    return mutate


def _cross_certificate(signer_svc: Any, victim_der: bytes) -> bytes:
    """A CA certificate that ``signer_svc``'s root signs over the victim's subject and key."""
    victim = parse_certificate(victim_der)
    with signer_svc.db.reader() as session:
        root = session.execute(select(CertificateRecord).where(CertificateRecord.slug == "root")).scalar_one()
        root_der, root_key = root.der, root.key_ref
    n = victim.subject.native
    subject = SubjectSpec(
        common_name=n["common_name"],
        organization=n.get("organization_name"),
        organizational_unit=n.get("organizational_unit_name"),
        country=n.get("country_name", "CN"),
        organization_identifier=n.get("organization_identifier"),
    )
    der = issue_certificate(
        profile="issuing_ca",
        subject=subject,
        public_key=victim.spki,
        issuer_signer=signer_svc.keystore.signer(root_key),
        issuer_cert=root_der,
    )
    assert parse_certificate(der).subject_str == victim.subject_str  # a copy of subject and key
    return der


def _ca_of(svc: Any, uscc: str) -> bytes:
    with svc.db.reader() as session:
        return session.execute(select(CertificateRecord.der).where(CertificateRecord.slug == uscc)).scalar_one()


def _assert_refused(fed: dict[str, Any], der: bytes, code: str) -> None:
    """Refused by an explicit import and by a refresh, and B's held lists unchanged by either."""
    a, b = fed["a"], fed["b"]
    before = _held(b)
    path = fed["base"] / f"crafted-{code}.cms"
    path.write_bytes(der)
    with pytest.raises(TrustListRejected) as refused:
        import_peer(b, str(path), _pin(a), actor="test", allow_file=True)
    assert refused.value.code == code, refused.value.message
    assert _held(b) == before
    source: Path = fed["source"][A]
    legit = source.read_bytes()
    source.write_bytes(der)
    try:
        [outcome] = refresh_peers(b, region=A)
    finally:
        source.write_bytes(legit)
    assert outcome.outcome == "refused" and outcome.message.startswith(code), outcome
    assert _held(b) == before
    peer = next(p for p in list_peers(b) if p["region"]["code"] == A)
    assert peer["status"] == "refused" and code in peer["last_error"]
    others = [p for p in list_peers(b) if p["region"]["code"] != A]
    assert all(p["status"] == "ok" for p in others)  # recorded on that peer only
    assert refresh_peers(b, region=A)[0].outcome == "unchanged"  # the legit list is fine again


@pytest.mark.parametrize(
    "uscc",
    [
        "../../x",
        "/tmp/trustsvc-absolute",
        "..",
        department_uscc(A)[:-1] + ("0" if department_uscc(A)[-1] != "0" else "1"),
        department_uscc(A).lower()[:-1] + "x",
    ],
    ids=["traversal", "absolute", "dotdot", "check-char", "lower-case"],
)
def test_an_issuer_failing_gb32100_is_refused(fed, uscc: str) -> None:
    _assert_refused(fed, _crafted(fed["a"], _add_issuer(uscc)), "trust_list_issuer_invalid")


def test_an_issuer_listed_twice_is_refused(fed) -> None:
    _assert_refused(fed, _crafted(fed["a"], _add_issuer(department_uscc(A))), "trust_list_issuer_invalid")


def test_a_local_department_is_refused(fed) -> None:
    _assert_refused(fed, _crafted(fed["a"], _add_issuer(department_uscc(B))), "trust_list_issuer_is_local")


def test_another_peers_issuer_is_refused(fed) -> None:
    _assert_refused(fed, _crafted(fed["a"], _add_issuer(department_uscc(C))), "trust_list_issuer_held_by_peer")


def test_an_issuer_outside_the_region_is_refused(fed) -> None:
    beijing = _uscc("11110000MB0000009")
    _assert_refused(fed, _crafted(fed["a"], _add_issuer(beijing)), "trust_list_issuer_outside_region")


@pytest.mark.parametrize("victim", ["local issuing CA", "local root, verbatim", "peer issuing CA", "peer code signer"])
def test_a_certificate_over_someone_elses_key_is_refused(fed, victim: str) -> None:
    a, b, c = fed["a"], fed["b"], fed["c"]
    if victim == "local issuing CA":
        extra = _cross_certificate(a, _ca_of(b, department_uscc(B)))  # subject and key of B's CA
    elif victim == "local root, verbatim":
        extra = _ca_of(b, "root")  # key alone (the very certificate)
    elif victim == "peer issuing CA":
        extra = _cross_certificate(a, _ca_of(c, department_uscc(C)))
    else:
        code_signer = content_of(current_trust_list(c).der).code_signers[0].cert
        extra = _cross_certificate(a, code_signer)

    def mutate(entries: dict[str, Any]) -> None:
        import base64

        entries["cas"].append(base64.b64encode(extra).decode())

    _assert_refused(fed, _crafted(a, mutate), "trust_list_ca_key_collision")


@pytest.mark.parametrize(
    "field,value",
    [
        ("status_list_url", "file:///etc/passwd"),
        ("status_list_url", "http://user:pw@127.0.0.1/x"),
        ("ocsp_url", "javascript:alert(1)"),
        ("name", "江苏\u0000局"),
        ("name", "名" * 201),
        ("licence_types", ["../x"]),
    ],
)
def test_peer_supplied_strings_are_validated(fed, field: str, value: Any) -> None:
    def mutate(entries: dict[str, Any]) -> None:
        entries["issuers"][0][field] = value

    _assert_refused(fed, _crafted(fed["a"], mutate), "trust_list_invalid")


def test_the_region_rule_and_national_issuers(fed) -> None:
    assert (division_prefix("320000"), division_prefix("320100"), division_prefix("419001")) == ("32", "3201", "419001")
    a = fed["a"]
    national = _uscc("11100000MB0000003")  # registered at national level (division 100000)
    tl = content_of(_crafted(a, _add_issuer(national)))
    assert namespace_refusal(tl, NamespaceClaims())[0] == "trust_list_issuer_outside_region"
    assert namespace_refusal(tl, NamespaceClaims(national_issuers=("100000",))) is None
    assert namespace_refusal(tl, NamespaceClaims(national_issuers=(national,))) is None
    assert namespace_refusal(tl, NamespaceClaims(national_issuers=("11",))) is not None  # 110000 ≠ 100000
    jiyuan = dataclasses.replace(
        tl,
        region_code="419001",
        issuers=tuple(dataclasses.replace(i, uscc=_uscc(f"11419001MB{n:07d}")) for n, i in enumerate(tl.issuers)),
    )
    assert namespace_refusal(jiyuan, NamespaceClaims()) is None
    elsewhere = dataclasses.replace(
        jiyuan, issuers=(dataclasses.replace(jiyuan.issuers[0], uscc=_uscc("11410100MB0000001")),)
    )
    assert namespace_refusal(elsewhere, NamespaceClaims())[0] == "trust_list_issuer_outside_region"
    # configured, an import holds it (last: this changes what B holds)
    b = fed["b"]
    saved = b.config
    b.config = dataclasses.replace(saved, trust=dataclasses.replace(saved.trust, national_issuers=("100000",)))
    try:
        path = fed["base"] / "national.cms"
        path.write_bytes(_crafted(a, _add_issuer(national)))
        assert import_peer(b, str(path), _pin(a), actor="test", allow_file=True).outcome == "updated"
    finally:
        b.config = saved


# -- file names from peers ----------------------------------------------------------------------


def test_the_cache_writer_keeps_every_file_inside_its_directory(fed, tmp_path: Path) -> None:
    from trustsvc.codes.material import STATUS_DIR, status_list_path, write_code_cache

    cache = tmp_path / "deep" / "cache"
    good = department_uscc(A)
    assert status_list_path(cache, good) == (cache / STATUS_DIR / f"{good}.bin").resolve()
    for name in ("../../x", "../x", "/tmp/trustsvc-abs", "..", "", good.lower(), good + "/../../x", "a\x00b"):
        with pytest.raises(InvalidInputError) as refused:
            status_list_path(cache, name)
        assert refused.value.code == "unsafe_file_name"
    # a peer status list held under a hostile name (from before issuers were checked) is left out
    b = fed["b"]
    with b.db.transaction() as session:
        peer_id = session.execute(select(TrustPeerRecord.id).where(TrustPeerRecord.region_code == A)).scalar_one()
        now = dt.datetime.now(dt.UTC)
        for name in ("../../x", str(tmp_path / "abs")):
            session.add(
                PeerStatusListRecord(
                    peer_id=peer_id,
                    issuer_uscc=name,
                    url="http://127.0.0.1:9/s",
                    body=b"planted",
                    sequence=1,
                    issued_at=now,
                    next_update=now + dt.timedelta(days=1),
                    fetched_at=now,
                )
            )
    try:
        write_code_cache(b, cache)
    finally:
        with b.db.transaction() as session:
            for row in session.execute(
                select(PeerStatusListRecord).where(PeerStatusListRecord.body == b"planted")
            ).scalars():
                session.delete(row)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert all(str(p).startswith(str(Path("deep") / "cache")) for p in written), written
    assert not (tmp_path / "deep" / "x.bin").exists() and not (tmp_path / "abs.bin").exists()
    assert {p.name for p in (cache / STATUS_DIR).iterdir()} == {f"{department_uscc(B)}.bin"}


def test_namespace_and_deadline_settings(tmp_path: Path) -> None:
    from trustsvc.config import load_config
    from trustsvc.errors import ConfigurationError

    env = {"TRUSTSVC_HOME": str(tmp_path)}
    trust = load_config(env).trust
    assert (trust.fetch_timeout, trust.peer_budget, trust.refresh_concurrency, trust.national_issuers) == (
        10,
        30,
        4,
        (),
    )
    national = load_config({**env, "TRUSTSVC_TRUST_NATIONAL_ISSUERS": f"100000, {_uscc('11100000MB0000003')}"})
    assert national.trust.national_issuers == ("100000", _uscc("11100000MB0000003"))
    (tmp_path / "config.toml").write_text('[trust]\nnational_issuers = ["10", "1000"]\n', encoding="utf-8")
    assert load_config(env).trust.national_issuers == ("10", "1000")
    (tmp_path / "config.toml").unlink()
    for name, value in (
        ("NATIONAL_ISSUERS", "../x"),
        ("NATIONAL_ISSUERS", "123"),
        ("FETCH_TIMEOUT", "0"),
        ("PEER_BUDGET", "5"),
        ("REFRESH_CONCURRENCY", "0"),
    ):
        with pytest.raises(ConfigurationError):
            load_config({**env, f"TRUSTSVC_TRUST_{name}": value})
