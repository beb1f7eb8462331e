"""Authorisation matrix: every route the app serves × every kind of caller → the expected status.

Callers: an admin key, an issuer of department A scoped to 营业执照, an issuer of department B
(same type), an issuer of department A scoped to 食品经营许可证 only (another licence type), a
verifier, a peer, and no key, a malformed key, a wrong key (a real key id with a wrong secret)
and a revoked key. The table below is the specification; a route the app serves that the table
does not name fails the coverage test, so new endpoints cannot slip in unreviewed.

Every request is a valid one for an allowed caller (fresh licences for the lifecycle endpoints),
so an allowed cell shows the real success status and a refused one the refusal, never a 4xx
from an unrelated input problem.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from licence_bodies import COMPANY, business_body

from api import create_app
from ca.tsa import build_request
from trustsvc import pki
from trustsvc.apikeys import SystemActor, create_api_key, revoke_api_key
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE
from trustsvc.licences.service import issue_licence, request_from_json, suspend_licence
from trustsvc.sealing import SealRequest, make_department_seal

DEPT_A = "11320000MB0000001G"
DEPT_B = "11320000MB0000002" + uscc_check_char("11320000MB0000002")
HOLDER = {"id_type": "001", "id": COMPANY}

ROLES = ("admin", "issuer", "issuer_other", "issuer_food", "verifier", "peer", "wallet")
BAD = ("none", "malformed", "wrong", "revoked")
CALLERS = ROLES + BAD
UNAUTHENTICATED_CODES = {
    "none": "missing_api_key",
    "malformed": "invalid_api_key",
    "wrong": "invalid_api_key",
    "revoked": "revoked_api_key",
}


@dataclass
class World:
    service: Any
    app: Any
    tokens: dict[str, str]
    licence: str
    esid: str
    counter: Iterator[int]

    def headers(self, who: str) -> dict[str, str]:
        return {} if who == "none" else {"Authorization": f"Bearer {self.tokens[who]}"}

    def fresh_licence(self, *, suspended: bool = False) -> str:
        row = issue_licence(
            self.service,
            request_from_json(business_body()),
            principal_or_actor=SystemActor("test"),
            department_uscc=DEPT_A,
            timestamp=False,
        )
        if suspended:
            suspend_licence(self.service, row.identifier, principal_or_actor=SystemActor("test"), reason=None)
        return row.identifier

    def next(self) -> int:
        return next(self.counter)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("authz") / "home"
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": "authz-pin", "DATABASE_URL": f"sqlite:///{home}.db"}
    # Rate limits off: the matrix presents ~100 bad keys from one address on purpose (the limits
    # have their own tests in test_limits.py).
    write_config(
        home / "config.toml",
        {
            "region": {"code": "320000", "name": "江苏省"},
            "limits": {
                "auth_failures_per_minute": 0,
                "auth_failures_address_per_minute": 0,
                "verify_per_minute": 0,
                "verify_key_per_minute": 0,
            },
        },
    )
    svc = open_service(load_config(env), env, create_keystore=True)
    pki.init_region(svc, "320000", "江苏省", actor="test")
    pki.add_department(svc, DEPT_A, "江苏省市场监督管理局", actor="test")
    pki.add_department(svc, DEPT_B, "南京市市场监督管理局", actor="test")
    seal = make_department_seal(
        svc, SealRequest(DEPT_A, "江苏省市场监督管理局", center_text="证照专用章"), actor="test"
    )
    with svc.db.transaction() as s:
        tokens = {
            role: create_api_key(s, role=role, actor="test").token for role in ("admin", "verifier", "peer", "wallet")
        }
        tokens["issuer"] = create_api_key(
            s, role="issuer", actor="test", department_uscc=DEPT_A, licence_types=[BUSINESS_LICENCE.code]
        ).token
        tokens["issuer_other"] = create_api_key(
            s, role="issuer", actor="test", department_uscc=DEPT_B, licence_types=[BUSINESS_LICENCE.code]
        ).token
        tokens["issuer_food"] = create_api_key(
            s, role="issuer", actor="test", department_uscc=DEPT_A, licence_types=[FOOD_BUSINESS_LICENCE.code]
        ).token
        revoked = create_api_key(
            s, role="issuer", actor="test", department_uscc=DEPT_A, licence_types=[BUSINESS_LICENCE.code]
        )
        revoke_api_key(s, revoked.key_id, actor="test")
    tokens["revoked"] = revoked.token
    admin_id = tokens["admin"].split("_")[1]
    tokens["wrong"] = f"tsk_{admin_id}_{'x' * 43}"
    tokens["malformed"] = "not-an-api-key"
    app = create_app(service=svc, SECRET_KEY="authz-matrix-session-secret-0123456789abcdef")
    w = World(service=svc, app=app, tokens=tokens, licence="", esid=seal.esid, counter=itertools.count(1))
    w.licence = w.fresh_licence()
    yield w
    svc.close()


# -- the table ------------------------------------------------------------------------------------

Request = Callable[[Any, World, str], Any]
"""(test client, world, caller) -> response."""


@dataclass(frozen=True)
class Row:
    request: Request
    expected: dict[str, int]
    codes: tuple[tuple[str, str], ...] = ()
    """(caller, error code) pairs the refusal must carry."""


def public(status: int) -> dict[str, int]:
    """No key needed, and a presented key is ignored."""
    return dict.fromkeys(CALLERS, status)


def keyed(**allowed: int) -> dict[str, int]:
    """Roles in ``allowed`` get their status, other roles 403, callers without a valid key 401."""
    return {**{role: allowed.get(role, 403) for role in ROLES}, **dict.fromkeys(BAD, 401)}


def get(path: str | Callable[[World], str]) -> Request:
    def send(c: Any, w: World, who: str) -> Any:
        return c.get(path(w) if callable(path) else path, headers=w.headers(who))

    return send


def post_json(
    path: Callable[[World], str],
    body: Callable[[World, str], Any] | None = None,
    extra_headers: Callable[[World, str], dict[str, str]] | None = None,
) -> Request:
    def send(c: Any, w: World, who: str) -> Any:
        headers = {**w.headers(who), **(extra_headers(w, who) if extra_headers else {})}
        return c.post(path(w), json=body(w, who) if body else {}, headers=headers)

    return send


def post_raw(path: str, data: bytes, content_type: str) -> Request:
    def send(c: Any, w: World, who: str) -> Any:
        return c.post(path, data=data, headers={**w.headers(who), "Content-Type": content_type})

    return send


def _lic(suffix: str, *, suspended: bool = False) -> Callable[[World], str]:
    return lambda w: f"/api/v1/licences/{w.fresh_licence(suspended=suspended)}/{suffix}"


def _console(method: str, path: Callable[[World], str] | str) -> Request:
    def send(c: Any, w: World, who: str) -> Any:
        target = path(w) if callable(path) else path
        return c.open(target, method=method, headers=w.headers(who), data={})

    return send


ISSUERS_OF_A = {"admin": 200, "issuer": 200}
OCSP_GARBAGE = base64.b64encode(b"not an ocsp request").decode()

TABLE: dict[tuple[str, str], Row] = {
    # pages and public API
    ("GET", "/"): Row(get("/"), public(200)),
    ("GET", "/developers"): Row(get("/developers"), public(200)),
    ("GET", "/healthz"): Row(get("/healthz"), public(200)),
    ("GET", "/metrics"): Row(get("/metrics"), public(200)),
    ("GET", "/static/<path:filename>"): Row(get("/static/none.css"), public(404)),
    ("GET", "/api/v1/openapi.json"): Row(get("/api/v1/openapi.json"), public(200)),
    ("GET", "/api/v1/ca"): Row(get("/api/v1/ca"), public(200)),
    ("GET", "/api/v1/ca/<slug>"): Row(get("/api/v1/ca/root"), public(200)),
    ("GET", "/api/v1/crl/<slug>"): Row(get(f"/api/v1/crl/{DEPT_A}"), public(200)),
    ("GET", "/api/v1/licence-types"): Row(get("/api/v1/licence-types"), public(200)),
    ("GET", "/api/v1/licence-types/<code>"): Row(get(f"/api/v1/licence-types/{BUSINESS_LICENCE.code}"), public(200)),
    # an admin may add a type; an empty definition is refused (422), nobody else gets that far
    ("POST", "/api/v1/licence-types"): Row(post_json(lambda w: "/api/v1/licence-types"), keyed(admin=422)),
    ("GET", "/api/v1/seals/<esid>"): Row(get(lambda w: f"/api/v1/seals/{w.esid}"), public(200)),
    ("GET", "/api/v1/status/<issuer>"): Row(get(f"/api/v1/status/{DEPT_A}"), public(200)),
    ("POST", "/api/v1/ocsp"): Row(post_raw("/api/v1/ocsp", b"junk", "application/ocsp-request"), public(200)),
    ("GET", "/api/v1/ocsp/<path:encoded>"): Row(get(f"/api/v1/ocsp/{OCSP_GARBAGE}"), public(200)),
    ("POST", "/api/v1/tsa"): Row(
        post_raw("/api/v1/tsa", build_request(b"document"), "application/timestamp-query"), public(200)
    ),
    ("GET", "/licences/<identifier>"): Row(get(lambda w: f"/licences/{w.licence}"), public(200)),
    ("GET", "/verify"): Row(get("/verify"), public(200)),
    ("POST", "/verify"): Row(_console("POST", "/verify"), public(422)),  # page form: nothing pasted
    # POST /api/v1/verify needs no key; a key that is presented must be valid (the use is audited)
    ("POST", "/api/v1/verify"): Row(
        post_json(
            lambda w: "/api/v1/verify",
            lambda w, who: {"code": "TS1:NOTACODE", **({} if who == "none" else {"purpose": "authz"})},
        ),
        {**dict.fromkeys(ROLES, 200), "none": 200, "malformed": 401, "wrong": 401, "revoked": 401},
    ),
    # keys and departments
    ("GET", "/api/v1/whoami"): Row(get("/api/v1/whoami"), keyed(**dict.fromkeys(ROLES, 200))),
    ("GET", "/api/v1/departments"): Row(get("/api/v1/departments"), keyed(**dict.fromkeys(ROLES, 200))),
    ("POST", "/api/v1/departments"): Row(
        post_json(
            lambda w: "/api/v1/departments",
            lambda w, who: {
                "uscc": (base := f"1132{w.next():04d}MB00000{CALLERS.index(who):02d}") + uscc_check_char(base),
                "name": f"测试部门{who}",
            },
        ),
        keyed(admin=201),
    ),
    ("POST", "/api/v1/apikeys"): Row(
        post_json(lambda w: "/api/v1/apikeys", lambda w, who: {"role": "verifier"}), keyed(admin=201)
    ),
    ("DELETE", "/api/v1/apikeys/<key_id>"): Row(
        lambda c, w, who: c.delete(f"/api/v1/apikeys/{_throwaway_key(w)}", headers=w.headers(who)), keyed(admin=204)
    ),
    # seals: made and managed by an admin (or a seal manager), never by an issuer key
    ("POST", "/api/v1/seals"): Row(
        post_json(lambda w: "/api/v1/seals", lambda w, who: {"name": "合同专用章", "department": DEPT_A}),
        keyed(admin=201),
        codes=(("issuer", "role_not_allowed"),),
    ),
    ("GET", "/api/v1/seals"): Row(
        get("/api/v1/seals"), keyed(admin=200, issuer=200, issuer_other=200, issuer_food=200)
    ),
    ("POST", "/api/v1/seals/<esid>/suspend"): Row(
        post_json(lambda w: f"/api/v1/seals/{_spare_seal(w)}/suspend", lambda w, who: {"reason": "authz"}),
        keyed(admin=200),
        codes=(("issuer", "role_not_allowed"),),
    ),
    ("POST", "/api/v1/seals/<esid>/reinstate"): Row(
        post_json(lambda w: f"/api/v1/seals/{_spare_seal(w, suspended=True)}/reinstate"),
        keyed(admin=200),
        codes=(("issuer", "role_not_allowed"),),
    ),
    ("POST", "/api/v1/seals/<esid>/revoke"): Row(
        post_json(lambda w: f"/api/v1/seals/{_spare_seal(w)}/revoke", lambda w, who: {"reason": "authz"}),
        keyed(admin=200),
        codes=(("issuer", "role_not_allowed"),),
    ),
    ("POST", "/api/v1/departments/<uscc>/default-seal"): Row(
        post_json(lambda w: f"/api/v1/departments/{DEPT_A}/default-seal", lambda w, who: {"esid": w.esid}),
        keyed(admin=200),
        codes=(("issuer", "role_not_allowed"),),
    ),
    # certificate lifecycle: the admin's (a spare OCSP certificate; department B has no seals)
    ("GET", "/api/v1/certificates"): Row(get("/api/v1/certificates"), keyed(admin=200)),
    ("GET", "/api/v1/certificates/<ident>"): Row(
        get(lambda w: f"/api/v1/certificates/{_serial(w, 'root')}"), keyed(admin=200)
    ),
    ("POST", "/api/v1/certificates/<ident>/revoke"): Row(
        post_json(
            lambda w: f"/api/v1/certificates/{_spare_certificate(w)}/revoke",
            lambda w, who: {"reason": "cessationOfOperation"},
        ),
        keyed(admin=200),
    ),
    ("POST", "/api/v1/certificates/<ident>/renew"): Row(
        post_json(lambda w: f"/api/v1/certificates/{_serial(w, 'ocsp')}/renew"), keyed(admin=201)
    ),
    ("POST", "/api/v1/departments/<uscc>/rekey"): Row(
        post_json(lambda w: f"/api/v1/departments/{DEPT_B}/rekey", lambda w, who: {"compromised_at": _now()}),
        keyed(admin=200),
        codes=(("issuer_other", "role_not_allowed"),),
    ),
    ("POST", "/api/v1/seals/<esid>/sign"): Row(
        lambda c, w, who: c.post(
            f"/api/v1/seals/{w.esid}/sign?timestamp=false",
            data=b"document",
            headers={**w.headers(who), "Content-Type": "application/octet-stream"},
        ),
        keyed(admin=200, issuer=200, issuer_food=200),
        codes=(("issuer_other", "seal_of_other_department"),),
    ),
    # trust between regions: the list is public, peers are the admin's (a non-http source is
    # refused after authorisation, so no network is touched)
    ("GET", "/api/v1/trust-list"): Row(get("/api/v1/trust-list"), public(200)),
    ("GET", "/api/v1/trust/peers"): Row(get("/api/v1/trust/peers"), keyed(admin=200)),
    ("POST", "/api/v1/trust/peers"): Row(
        post_json(lambda w: "/api/v1/trust/peers", lambda w, who: {"url": "ftp://peer.invalid/list", "pin": "00" * 32}),
        keyed(admin=422),
    ),
    ("POST", "/api/v1/trust/refresh"): Row(post_json(lambda w: "/api/v1/trust/refresh"), keyed(admin=200)),
    # licences: issuance scoped to department and type; reads to department (and verifiers)
    ("GET", "/api/v1/licences"): Row(
        get("/api/v1/licences"), keyed(admin=200, issuer=200, issuer_other=200, issuer_food=200)
    ),
    ("POST", "/api/v1/licences"): Row(
        post_json(
            lambda w: "/api/v1/licences",
            lambda w, who: business_body(department=DEPT_A) if who in ("admin", "issuer_other") else business_body(),
            lambda w, who: {"Idempotency-Key": f"authz-{who}"},
        ),
        keyed(admin=201, issuer=201),
        codes=(
            ("issuer_other", "other_department"),
            ("issuer_food", "licence_type_not_allowed"),
            ("verifier", "role_not_allowed"),
            ("peer", "role_not_allowed"),
        ),
    ),
    # a batch: 200 whatever its rows say; a row of another type or department is that row's error
    ("POST", "/api/v1/licences:batch"): Row(
        post_json(
            lambda w: "/api/v1/licences:batch",
            lambda w, who: {"licences": [business_body()], **({"department": DEPT_A} if who == "admin" else {})},
        ),
        keyed(admin=200, issuer=200, issuer_other=200, issuer_food=200),
        codes=(("verifier", "role_not_allowed"), ("peer", "role_not_allowed")),
    ),
    ("GET", "/api/v1/licences/<identifier>"): Row(
        get(lambda w: f"/api/v1/licences/{w.licence}"),
        keyed(admin=200, issuer=200, issuer_food=200, verifier=200),
        codes=(("issuer_other", "other_department"),),
    ),
    ("GET", "/api/v1/licences/<identifier>/file"): Row(
        get(lambda w: f"/api/v1/licences/{w.licence}/file"),
        keyed(admin=200, issuer=200, issuer_food=200, verifier=200),
        codes=(("issuer_other", "other_department"),),
    ),
    ("GET", "/api/v1/licences/<identifier>/code"): Row(
        get(lambda w: f"/api/v1/licences/{w.licence}/code"),
        keyed(**ISSUERS_OF_A),
        codes=(("issuer_other", "other_department"), ("issuer_food", "licence_type_not_allowed")),
    ),
    ("POST", "/api/v1/licences/<identifier>/codes"): Row(
        post_json(lambda w: f"/api/v1/licences/{w.licence}/codes"),
        keyed(admin=201, issuer=201),
        codes=(("issuer_other", "other_department"), ("issuer_food", "licence_type_not_allowed")),
    ),
    # holders: the wallet back end acts for holders; verifiers redeem holder codes with consent
    ("POST", "/api/v1/holder/presentations"): Row(
        post_json(
            lambda w: "/api/v1/holder/presentations",
            lambda w, who: {"holder": HOLDER, "licences": [{"id": w.licence, "fields": ["name"]}], "purpose": "authz"},
        ),
        keyed(admin=201, wallet=201),
        codes=(("verifier", "role_not_allowed"),),
    ),
    ("GET", "/api/v1/holder/licences"): Row(
        get(f"/api/v1/holder/licences?id_type=001&id={COMPANY}"), keyed(admin=200, wallet=200)
    ),
    ("POST", "/api/v1/holder/codes"): Row(
        post_json(lambda w: "/api/v1/holder/codes", lambda w, who: {"holder": HOLDER}), keyed(admin=201, wallet=201)
    ),
    ("POST", "/api/v1/holder/consents"): Row(
        post_json(
            lambda w: "/api/v1/holder/consents",
            lambda w, who: {
                "holder": HOLDER,
                "licences": [w.licence],
                "purpose": "authz",
                "verifier": None,
                "valid_until": _soon(),
            },
        ),
        keyed(admin=201, wallet=201),
    ),
    ("GET", "/api/v1/holder/consents"): Row(
        get(f"/api/v1/holder/consents?id_type=001&id={COMPANY}"), keyed(admin=200, wallet=200)
    ),
    ("DELETE", "/api/v1/holder/consents/<consent_id>"): Row(
        lambda c, w, who: c.delete(f"/api/v1/holder/consents/{_consent(w)}", headers=w.headers(who)),
        keyed(admin=204, wallet=204),
    ),
    ("GET", "/api/v1/holder/uses"): Row(
        get(f"/api/v1/holder/uses?id_type=001&id={COMPANY}"), keyed(admin=200, wallet=200)
    ),
    ("POST", "/api/v1/holder-codes/redeem"): Row(
        post_json(
            lambda w: "/api/v1/holder-codes/redeem", lambda w, who: {"code": _holder_code(w), "purpose": "authz"}
        ),
        keyed(admin=200, verifier=200, peer=200),
        codes=(("wallet", "role_not_allowed"),),
    ),
    ("POST", "/api/v1/licences/<identifier>/revoke"): Row(
        post_json(_lic("revoke"), lambda w, who: {"reason": "authz matrix"}),
        keyed(**ISSUERS_OF_A),
        codes=(("issuer_other", "other_department"), ("issuer_food", "licence_type_not_allowed")),
    ),
    ("POST", "/api/v1/licences/<identifier>/suspend"): Row(
        post_json(_lic("suspend")),
        keyed(**ISSUERS_OF_A),
        codes=(("issuer_other", "other_department"), ("issuer_food", "licence_type_not_allowed")),
    ),
    ("POST", "/api/v1/licences/<identifier>/reinstate"): Row(
        post_json(_lic("reinstate", suspended=True)),
        keyed(**ISSUERS_OF_A),
        codes=(("issuer_other", "other_department"), ("issuer_food", "licence_type_not_allowed")),
    ),
    ("POST", "/api/v1/licences/<identifier>/change"): Row(
        post_json(_lic("change"), lambda w, who: {"fields": {"business_scope": "软件开发；咨询"}}),
        keyed(admin=201, issuer=201),
        codes=(("issuer_other", "other_department"), ("issuer_food", "licence_type_not_allowed")),
    ),
    ("POST", "/api/v1/licences/<identifier>/renew"): Row(
        post_json(_lic("renew"), lambda w, who: {"valid_until": "2040-12-31"}),
        keyed(admin=201, issuer=201),
        codes=(("issuer_other", "other_department"), ("issuer_food", "licence_type_not_allowed")),
    ),
    # the console signs in with a key typed into its form (see the sign-in test); a Bearer
    # header opens nothing: without a session every page sends the browser to the log-in page,
    # and every POST without the session's CSRF token is refused
    ("GET", "/console"): Row(_console("GET", "/console"), public(303)),
    ("GET", "/console/"): Row(_console("GET", "/console/"), public(303)),
    ("GET", "/console/login"): Row(_console("GET", "/console/login"), public(200)),
    ("POST", "/console/login"): Row(_console("POST", "/console/login"), public(400)),
    ("POST", "/console/logout"): Row(_console("POST", "/console/logout"), public(400)),
    ("GET", "/console/licences"): Row(_console("GET", "/console/licences"), public(303)),
    ("GET", "/console/licences/new"): Row(_console("GET", "/console/licences/new"), public(303)),
    ("POST", "/console/licences/new"): Row(_console("POST", "/console/licences/new"), public(400)),
    ("GET", "/console/licences/<identifier>"): Row(
        _console("GET", lambda w: f"/console/licences/{w.licence}"), public(303)
    ),
    ("GET", "/console/licences/<identifier>/file"): Row(
        _console("GET", lambda w: f"/console/licences/{w.licence}/file"), public(303)
    ),
    ("POST", "/console/licences/<identifier>/<any(revoke, suspend, reinstate):action>"): Row(
        _console("POST", lambda w: f"/console/licences/{w.licence}/revoke"), public(400)
    ),
}


def _soon() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _consent(w: World) -> str:
    from trustsvc.holder.common import holder_from_json
    from trustsvc.holder.consent import consent_request_from_json, give_consent

    req = consent_request_from_json(
        {"licences": [w.licence], "purpose": "authz", "valid_until": _soon()}, holder_from_json(HOLDER)
    )
    return give_consent(w.service, req, principal_or_actor=SystemActor("test"))["id"]


def _holder_code(w: World) -> str:
    """A fresh holder code whose holder consented to any verifier for purpose ``authz``."""
    from trustsvc.holder.common import holder_from_json
    from trustsvc.holder.consent import make_holder_code

    _consent(w)
    return make_holder_code(w.service, holder_from_json(HOLDER), principal_or_actor=SystemActor("test")).text


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serial(w: World, slug: str) -> str:
    from trustsvc.certificates import find_certificate

    with w.service.db.reader() as s:
        return find_certificate(s, slug).serial_hex


def _spare_certificate(w: World) -> str:
    """A replaced OCSP certificate: revoking it changes nothing any other row relies on."""
    from trustsvc.certificates import renew_certificate

    return str(renew_certificate(w.service, "ocsp", new_key=False, actor="test")["replaced"]["serial"])


def _spare_seal(w: World, *, suspended: bool = False) -> str:
    from trustsvc.seal_lifecycle import suspend_seal

    esid = make_department_seal(w.service, SealRequest(DEPT_A, f"备用章{w.next()}"), actor="test").esid
    if suspended:
        suspend_seal(w.service, esid, reason="authz", actor="test")
    return esid


def _throwaway_key(w: World) -> str:
    with w.service.db.transaction() as s:
        return create_api_key(s, role="verifier", actor="test").key_id


def served_routes(app: Any) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_the_table_names_every_served_route(world):
    served = served_routes(world.app)
    missing = sorted(served - TABLE.keys())
    assert not missing, f"routes without an authorisation row (add them to TABLE): {missing}"
    assert not sorted(TABLE.keys() - served), "TABLE names routes the app does not serve"


@pytest.mark.parametrize("route", sorted(TABLE), ids=lambda r: f"{r[0]} {r[1]}")
def test_authorisation_matrix(world, route):
    row = TABLE[route]
    codes = dict(row.codes)
    wrong: list[str] = []
    for who in CALLERS:
        resp = row.request(world.app.test_client(), world, who)
        expected = row.expected[who]
        body = resp.get_json(silent=True) if resp.mimetype == "application/json" else None
        error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
        if resp.status_code != expected:
            wrong.append(f"{who}: {resp.status_code} (expected {expected}) {error or resp.data[:120]!r}")
            continue
        is_api = route[1].startswith("/api/")
        if is_api and expected in (401, 403):
            if not error.get("code"):
                wrong.append(f"{who}: {expected} without a JSON error code")
            elif expected == 401 and error["code"] != UNAUTHENTICATED_CODES[who]:
                wrong.append(f"{who}: 401 code {error['code']} (expected {UNAUTHENTICATED_CODES[who]})")
            elif expected == 403 and who in codes and error["code"] != codes[who]:
                wrong.append(f"{who}: 403 code {error['code']} (expected {codes[who]})")
            if expected == 401 and "Bearer" not in resp.headers.get("WWW-Authenticate", ""):
                wrong.append(f"{who}: 401 without WWW-Authenticate: Bearer")
    assert not wrong, f"{route[0]} {route[1]}:\n  " + "\n  ".join(wrong)


def _console_sign_in(app: Any, api_key: str) -> Any:
    import re

    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, "the log-in form carries a CSRF token"
    return client, client.post("/console/login", data={"csrf_token": csrf.group(1), "api_key": api_key})


@pytest.mark.parametrize(
    "who,expected",
    [
        ("admin", 303),
        ("issuer", 303),
        ("issuer_other", 303),
        ("issuer_food", 303),
        ("verifier", 403),
        ("peer", 403),
        ("wallet", 403),
        ("malformed", 401),
        ("wrong", 401),
        ("revoked", 401),
        ("none", 401),
    ],
)
def test_console_sign_in_by_role(world, who, expected):
    _, resp = _console_sign_in(world.app, "" if who == "none" else world.tokens[who])
    assert resp.status_code == expected
    if expected == 303:
        assert resp.headers["Location"].endswith(("/console", "/console/"))  # the dashboard


def test_console_issuer_cannot_act_on_another_departments_licence(world):
    import re

    client, resp = _console_sign_in(world.app, world.tokens["issuer_other"])
    assert resp.status_code == 303
    page = client.get("/console/licences/new").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    target = world.fresh_licence()
    assert client.get(f"/console/licences/{target}").status_code == 403
    resp = client.post(f"/console/licences/{target}/revoke", data={"csrf_token": csrf, "reason": "not mine"})
    assert resp.status_code == 403
    from trustsvc.licences.service import get_licence

    assert get_licence(world.service, target).status == "active"
