"""Every JSON endpoint, fuzzed (issue 7 item 4): for each route the app serves under /api/v1
(and /healthz, /metrics), taken from the Flask url_map, Hypothesis sends path values, query
strings, headers and bodies, with every kind of key (admin, issuer, verifier, peer, none, a
wrong one). Body field names come from the route's OpenAPI description, so objects have the
right keys with hostile values as well as wrong keys and no object at all.

The invariant: a 2xx/3xx answer or a 4xx with a JSON ``{"error": {"code", "message"}}``, never
a 5xx; and a 4xx writes nothing (the row count of every table and the audit chain's head are
unchanged: every change this service makes is audited).

The bad-body test of ``POST /api/v1/licences`` in tests/licences/test_licence_api.py goes deep
on that one endpoint; this one goes wide. The endpoints that read objects (verify, OCSP, TSA)
are also fed this service's own objects with their insides changed (see test_fuzz_parsers).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fuzz_der import mutate_der
from fuzz_kit import DEPT, examples, fuzz, long_mode, make_service, pdf_mutant, seeds
from hypothesis import given, settings
from hypothesis import strategies as st
from licence_bodies import COMPANY, business_body
from sqlalchemy import func, select

from api import create_app
from api.openapi import spec
from trustsvc.apikeys import SystemActor, create_api_key
from trustsvc.cli.demo import SAMPLE_HOLDER_USCC
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.holder.consent import RefusalReason
from trustsvc.storage.models import AuditHead, Base, utcnow

_JSON_ROOTS = ("/api/", "/healthz", "/metrics")
_METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")
_KNOWN_QUERY = [
    "format",
    "status",
    "type",
    "q",
    "department",
    "limit",
    "cursor",
    "property_info",
    "timestamp",
    "purpose",
    "ttl",
]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "2026-01-01",
            "9999-12-31",
            "0",
            "-1",
            "x" * 600,
            "../../etc/passwd",
            "%s%n",
            "admin",
            DEPT,
            "pem",
            "der",
            "json",
        ]
    )
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10,
)


# Hostile JSON (sent as raw bytes: a test client would not encode a lone surrogate): nesting
# around the depth bound and far beyond it, lone surrogates in values and keys, numbers beyond 64
# bits or a double, code-claim-like times past the calendar, non-JSON constants, bodies over the
# size bound. Each was a 500 once (RecursionError, UnicodeEncodeError, ValueError, OverflowError).
_LONE_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_HOSTILE_TEXT = st.builds(lambda a, s, b: a + s + b, st.text(max_size=6), _LONE_SURROGATE, st.text(max_size=6))
_HOSTILE_NUMBER = (
    st.integers(2**63, 2**80)
    | st.integers(-(2**80), -(2**63) - 1)
    | st.sampled_from(
        ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" * 5000, str(2**40 - 1), "7258118400", "0.0e-99999"]
    )
)
_HOSTILE_VALUE = st.one_of(_HOSTILE_TEXT, _HOSTILE_NUMBER.map(lambda n: _Raw(str(n))), _SCALARS)


class _Raw(str):
    """A number's JSON text as written (``1e400``, ``NaN``): placed unquoted by :func:`_dumps`."""


def _dumps(value: Any) -> str:
    """JSON text with every non-ASCII character escaped (a lone surrogate as ``\\ud800``) and
    :class:`_Raw` numbers as written."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value)


@st.composite
def hostile_json(draw: Any, keys: list[str]) -> bytes:
    """One hostile JSON body for a route whose body fields are ``keys``."""
    form = draw(st.sampled_from(["deep", "deep", "surrogate", "surrogate", "surrogate_key", "number", "large"]))
    if form == "deep":
        depth = draw(st.sampled_from([31, 32, 33, 1000, 100_000]) | st.integers(1, 200_000))
        inner = _dumps(draw(st.fixed_dictionaries({}, optional=dict.fromkeys(keys or ["code"], _SCALARS))))
        if draw(st.booleans()):
            return ("[" * depth + inner + "]" * depth).encode()
        return ('{"a":' * depth + inner + "}" * depth).encode()
    if form == "large":
        return _dumps({(keys or ["code"])[0]: "A" * draw(st.integers(1024 * 1024 - 64, 1024 * 1024 + 64))}).encode()
    body: dict[str, Any] = draw(st.fixed_dictionaries({}, optional=dict.fromkeys(keys, _SCALARS)))
    hostile = st.sampled_from(keys) if keys else st.text(max_size=8)
    if form == "surrogate_key":
        body[draw(_HOSTILE_TEXT)] = draw(_SCALARS)
    elif form == "surrogate":
        body[draw(hostile)] = draw(
            _HOSTILE_TEXT
            | st.lists(_HOSTILE_TEXT, min_size=1, max_size=2)
            | st.fixed_dictionaries({"name": _HOSTILE_TEXT, "id": st.text(max_size=4)})
        )
    else:
        body[draw(hostile)] = draw(_HOSTILE_VALUE)
    return _dumps(body).encode()


class App:
    """A real service (SQLite) behind the Flask app, one key per role, a licence and a seal."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.app = create_app(service=service)
        self.client = self.app.test_client()
        with service.db.transaction() as s:
            self.keys = {
                role: create_api_key(s, role=role, actor="fuzz").token for role in ("admin", "verifier", "peer")
            }
            self.keys["issuer"] = create_api_key(
                s, role="issuer", actor="fuzz", department_uscc=DEPT, licence_types=["11100000MB0143028R001"]
            ).token
            self.spare_key_id = create_api_key(s, role="verifier", actor="fuzz", label="spare").key_id
        self.keys["wrong"] = "tsk_000000000000_" + "A" * 43
        self.keys["malformed"] = "not-a-key"
        from trustsvc.cli.demo import sample_request
        from trustsvc.licences.service import issue_licence
        from trustsvc.storage.models import SealRecord

        self.licence_id = issue_licence(
            service,
            sample_request(),
            principal_or_actor=SystemActor("fuzz"),
            department_uscc=DEPT,
            idempotency_key="fuzz-api",
        ).identifier
        with service.db.reader() as s:
            self.esid = s.execute(select(SealRecord.esid)).scalars().first()
        from trustsvc.holder.common import HolderRef
        from trustsvc.holder.consent import ConsentRequest, give_consent, make_holder_code

        holder = HolderRef("001", SAMPLE_HOLDER_USCC)
        self.holder_code = make_holder_code(service, holder, principal_or_actor=SystemActor("fuzz"), ttl=900).text
        # the holder consents to any verifier's use for "fuzz", so a redeem can pass
        consent = ConsentRequest(holder, (self.licence_id,), "fuzz", None, utcnow() + dt.timedelta(days=1))
        give_consent(service, consent, principal_or_actor=SystemActor("fuzz"))
        # and a second one, which DELETE /holder/consents/<consent_id> may withdraw
        self.spare_consent_id = give_consent(service, consent, principal_or_actor=SystemActor("fuzz"))["id"]
        tables = list(Base.metadata.sorted_tables)
        self.table_names = (*(t.name for t in tables), "audit_head.hash")
        # One statement, compiled once: the long run may ask it after every request.
        self._count_sql = str(
            select(
                *(select(func.count()).select_from(t).scalar_subquery() for t in tables),
                select(AuditHead.hash).where(AuditHead.id == 1).scalar_subquery(),
            ).compile(service.db.read_engine, compile_kwargs={"literal_binds": True})
        )
        # A connection of the test's own that never writes: SQLite's data_version, asked on it,
        # changes exactly when another connection has committed, so the counts are asked again
        # only then (most fuzz requests commit nothing).
        self._watch = sqlite3.connect(service.db.read_engine.url.database, isolation_level=None)
        self._seen: tuple[int, tuple[Any, ...]] | None = None

    def counts(self) -> tuple[Any, ...]:
        """Rows in every table and the audit chain's head."""
        version = self._watch.execute("PRAGMA data_version").fetchone()[0]
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, tuple(self._watch.execute(self._count_sql).fetchone()))
        return self._seen[1]

    def close(self) -> None:
        self._watch.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    service = make_service(tmp_path_factory.mktemp("fuzz-api") / "home")
    app = App(service)
    yield app
    app.close()
    service.close()


def _served_routes(app: Any) -> list[tuple[str, str]]:
    return sorted(
        {
            (r.rule, m)
            for r in app.url_map.iter_rules()
            for m in r.methods or ()
            if m in _METHODS and r.rule.startswith(_JSON_ROOTS)
        }
    )


# Every JSON route the app serves (test_every_served_route_is_fuzzed keeps this list equal to
# the app's url_map, so a new route cannot escape the fuzzer).
ROUTES = [
    ("/api/v1/apikeys", "POST"),
    ("/api/v1/apikeys/<key_id>", "DELETE"),
    ("/api/v1/ca", "GET"),
    ("/api/v1/ca/<slug>", "GET"),
    ("/api/v1/crl/<slug>", "GET"),
    ("/api/v1/departments", "GET"),
    ("/api/v1/departments", "POST"),
    ("/api/v1/licence-types", "GET"),
    ("/api/v1/licence-types", "POST"),
    ("/api/v1/licence-types/<code>", "GET"),
    ("/api/v1/licences", "GET"),
    ("/api/v1/licences", "POST"),
    ("/api/v1/licences/<identifier>", "GET"),
    ("/api/v1/licences:batch", "POST"),
    ("/api/v1/licences/<identifier>/change", "POST"),
    ("/api/v1/licences/<identifier>/code", "GET"),
    ("/api/v1/licences/<identifier>/codes", "POST"),
    ("/api/v1/licences/<identifier>/file", "GET"),
    ("/api/v1/licences/<identifier>/reinstate", "POST"),
    ("/api/v1/licences/<identifier>/renew", "POST"),
    ("/api/v1/licences/<identifier>/revoke", "POST"),
    ("/api/v1/licences/<identifier>/suspend", "POST"),
    ("/api/v1/ocsp", "POST"),
    ("/api/v1/ocsp/<path:encoded>", "GET"),
    ("/api/v1/openapi.json", "GET"),
    ("/api/v1/seals", "POST"),
    ("/api/v1/seals/<esid>", "GET"),
    ("/api/v1/seals/<esid>/sign", "POST"),
    ("/api/v1/status/<issuer>", "GET"),
    ("/api/v1/trust-list", "GET"),
    ("/api/v1/trust/peers", "GET"),
    ("/api/v1/trust/peers", "POST"),
    ("/api/v1/trust/refresh", "POST"),
    ("/api/v1/tsa", "POST"),
    ("/api/v1/verify", "POST"),
    ("/api/v1/holder/presentations", "POST"),
    ("/api/v1/holder/licences", "GET"),
    ("/api/v1/holder/codes", "POST"),
    ("/api/v1/holder/consents", "POST"),
    ("/api/v1/holder/consents", "GET"),
    ("/api/v1/holder/consents/<consent_id>", "DELETE"),
    ("/api/v1/holder/uses", "GET"),
    ("/api/v1/holder-codes/redeem", "POST"),
    ("/api/v1/certificates", "GET"),
    ("/api/v1/certificates/<ident>", "GET"),
    ("/api/v1/certificates/<ident>/revoke", "POST"),
    ("/api/v1/certificates/<ident>/renew", "POST"),
    ("/api/v1/departments/<uscc>/rekey", "POST"),
    ("/api/v1/departments/<uscc>/default-seal", "POST"),
    ("/api/v1/seals", "GET"),
    ("/api/v1/seals/<esid>/suspend", "POST"),
    ("/api/v1/seals/<esid>/reinstate", "POST"),
    ("/api/v1/seals/<esid>/revoke", "POST"),
    ("/api/v1/whoami", "GET"),
    ("/healthz", "GET"),
    ("/metrics", "GET"),
]


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


@functools.cache
def _spec() -> dict[str, Any]:
    return spec()


@functools.cache
def _body_keys(rule: str, method: str) -> list[str]:
    doc = _spec()
    op = doc["paths"].get(_openapi_path(rule), {}).get(method.lower(), {})
    keys: set[str] = set()
    for content in op.get("requestBody", {}).get("content", {}).values():
        schema = content.get("schema") or {}
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        keys.update(schema.get("properties", {}))
    return sorted(keys)


@functools.cache
def _query_keys(rule: str, method: str) -> list[str]:
    op = _spec()["paths"].get(_openapi_path(rule), {}).get(method.lower(), {})
    return sorted({p["name"] for p in op.get("parameters", []) if p.get("in") == "query"} | set(_KNOWN_QUERY))


@functools.cache
def _path_value(api: App, name: str) -> st.SearchStrategy[str]:
    valid = {
        "identifier": [api.licence_id, api.licence_id[:-1] + "0", api.licence_id.replace(".001.", ".002.")],
        "esid": [api.esid or "32000000000001"],
        "slug": ["root", "services", DEPT, "ocsp", "tsa"],
        "issuer": [DEPT, DEPT.lower(), "91320100MA1ABCDE0X"],
        "key_id": [api.spare_key_id, "000000000000"],
        "consent_id": [api.spare_consent_id, "0" * 16],
        "encoded": ["MAA=", "AAAA", "%2F%2F"],
    }.get(name, [])
    text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="/?#%"), min_size=1, max_size=60)
    return st.sampled_from(valid) | text if valid else text


# The strategies a request is drawn from, built once (per route where they depend on it): the
# long run draws millions of requests, and a strategy built afresh is validated afresh.
_ROLES = st.sampled_from(["admin", "issuer", "verifier", "peer", "none", "wrong", "malformed"])
_IDEMPOTENCY_KEY = st.text(st.characters(exclude_characters="\r\n", codec="latin-1"), max_size=8) | st.sampled_from(
    ["k1", "x" * 300]
)
_IF_NONE_MATCH = st.sampled_from(['"x"', "*", "", '"' + "0" * 64 + '"'])
_BODY_KINDS = st.sampled_from(["none", "shaped", "shaped", "json", "raw", "multipart", "hostile"])
_EXTRA_FIELDS = st.dictionaries(st.text(max_size=8), _JSON, max_size=2)
_RAW_BODY = st.binary(max_size=300)
_RAW_CONTENT_TYPE = st.sampled_from(
    [
        "application/json",
        "application/octet-stream",
        "text/plain",
        "application/ocsp-request",
        "application/timestamp-query",
        "application/pdf",
        "multipart/form-data",
        "application/json; charset=gbk",
    ]
)
_MULTIPART_FIELDS = st.dictionaries(
    st.sampled_from(["file", "original", "image", "purpose", "picture", "x"]),
    st.binary(max_size=200),
    min_size=1,
    max_size=3,
)


@functools.cache
def _query(rule: str, method: str) -> st.SearchStrategy[dict[str, str]]:
    drawn = _drawn_query(rule, method)
    if "id_type" not in _query_keys(rule, method):
        return drawn
    # the routes that name a holder in the query also get the fuzz service's holder, so their
    # answers for a real holder are fuzzed too (with up to two drawn parameters beside it)
    return drawn | drawn.map(lambda extra: {**extra, **_SAMPLE_HOLDER})


def _drawn_query(rule: str, method: str) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        st.sampled_from(_query_keys(rule, method)) | st.text(max_size=6),
        st.text(max_size=20)
        | st.sampled_from(["pem", "der", "json", "text", "png", "svg", "0", "1", "200", "false", "true", "active"]),
        max_size=3,
    )


@functools.cache
def _shaped_body(rule: str, method: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(_body_keys(rule, method) or ["reason"], _JSON))


@functools.cache
def _hostile_body(rule: str, method: str) -> st.SearchStrategy[bytes]:
    return hostile_json(_body_keys(rule, method))


# Valid bodies of the routes that take structured input, for the "seeded" kind: one value
# somewhere inside is replaced with a hostile one, a key is dropped or one is added, so requests
# get past the shape checks that refuse almost every blind body and reach the deeper ones
# (type validation, the catalogue, dates, idempotency, issuance itself).
def _seed_bodies(rule: str, method: str) -> list[Any]:
    licence = business_body(department=DEPT)
    return {
        ("/api/v1/licences", "POST"): [licence, business_body(department=DEPT, valid_until="2030-12-31")],
        ("/api/v1/licences:batch", "POST"): [
            {"department": DEPT, "licences": [business_body(), {**business_body(), "key": "row-1"}]}
        ],
        ("/api/v1/licences/<identifier>/change", "POST"): [
            {"fields": {"domicile": "南京市鼓楼区中山北路2号"}, "holder_name": "江苏某某科技有限公司"}
        ],
        ("/api/v1/licences/<identifier>/renew", "POST"): [{"valid_until": "2031-01-01", "valid_from": "2026-01-01"}],
        ("/api/v1/licences/<identifier>/revoke", "POST"): [{"reason": "吊销"}],
        ("/api/v1/licences/<identifier>/suspend", "POST"): [{"reason": "暂扣"}],
        ("/api/v1/licences/<identifier>/codes", "POST"): [{"ttl": 300}],
        ("/api/v1/trust/peers", "POST"): [{"url": "http://127.0.0.1:9/", "pin": "0" * 64}],
        # the admin's creations (their 2xx paths, which blind bodies never reach)
        ("/api/v1/departments", "POST"): [{"uscc": _NEW_DEPT, "name": "南京市测试局"}],
        ("/api/v1/apikeys", "POST"): [
            {"role": "verifier", "label": "酒店前台"},
            {"role": "issuer", "department": DEPT},
        ],
        ("/api/v1/seals", "POST"): [{"name": "合同专用章", "department": DEPT}],
        ("/api/v1/licence-types", "POST"): [_NEW_TYPE],
        ("/api/v1/holder/presentations", "POST"): [
            {"holder": _SAMPLE_HOLDER, "licences": [{"id": _LICENCE, "fields": ["name"]}], "purpose": "fuzz"}
        ],
        ("/api/v1/holder/consents", "POST"): [
            {
                "holder": _SAMPLE_HOLDER,
                "licences": [_LICENCE],
                "purpose": "fuzz",
                "verifier": None,
                "valid_until": _SOON,
            }
        ],
        ("/api/v1/holder-codes/redeem", "POST"): [
            {"code": _HOLDER_CODE, "purpose": "fuzz"},
            {"code": _HOLDER_CODE, "purpose": "fuzz", "licences": [_LICENCE]},
        ],
        ("/api/v1/holder/codes", "POST"): [
            {"holder": _SAMPLE_HOLDER, "ttl": 120},
            {"holder": {"id_type": "001", "id": COMPANY}, "ttl": 120},
        ],
    }.get((rule, method), [])


_NEW_DEPT = "11320100MB1234560" + uscc_check_char("11320100MB1234560")
_SAMPLE_HOLDER = {"id_type": "001", "id": SAMPLE_HOLDER_USCC}
_NEW_TYPE = {  # a type of the region's own (its code: the defining department's USCC and a number)
    "code": DEPT + "102",
    "name": "新型农业经营主体证书",
    "template": "farm_entity",
    "holder_kind": "organisation",
    "holder": {"name_field": "name", "id_field": "uscc"},
    "validity": {"rule": "fixed_years", "years": 3},
    "metadata": {"defining_authority": "江苏省农业农村厅"},
    "fields": [
        {"name": "name", "label": "主体名称", "code": "KZ_ZTMC", "max_length": 100, "example": "南京某某家庭农场"},
        {"name": "uscc", "label": "统一社会信用代码", "code": "KZ_TYSHXYDM", "format": "uscc", "example": COMPANY},
    ],
}
_SOON = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
_LICENCE = "@licence@"
"""Stands in a seed for the fuzz service's licence (its identifier is known once it is issued)."""
_HOLDER_CODE = "@holder-code@"
"""Stands in a seed for the holder code the fuzz service made for its licence's holder."""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value (dict keys and list indexes), the value itself first."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def _seeded_body(draw: Any, seeds: list[Any]) -> bytes:
    """A valid body with one place changed (as raw JSON: hostile values include lone surrogates)."""
    body = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    where = draw(st.sampled_from(_paths(body)[1:] or [()]))
    parent: Any = body
    for step in where[:-1]:
        parent = parent[step]
    how = draw(st.sampled_from(["value", "value", "drop", "add"]))
    if not where:
        return _dumps(draw(_HOSTILE_VALUE)).encode()
    last = where[-1]
    if how == "drop" and isinstance(parent, dict):
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        parent[draw(st.text(max_size=8) | _HOSTILE_TEXT)] = draw(_HOSTILE_VALUE | _JSON)
    else:
        parent[last] = draw(_HOSTILE_VALUE | _JSON)
    return _dumps(body).encode()


@functools.cache
def _seeded(rule: str, method: str) -> st.SearchStrategy[bytes] | None:
    seeds = _seed_bodies(rule, method)
    return _seeded_body(seeds) if seeds else None


@st.composite
def _request(draw: Any, api: App, rule: str, method: str) -> dict[str, Any]:
    path = rule
    for converter, name in re.findall(r"<(?:([a-z]+):)?([a-z_]+)>", rule):
        value = draw(_path_value(api, name))
        path = path.replace(f"<{converter + ':' if converter else ''}{name}>", _quote(value), 1)
    query = draw(_query(rule, method))
    role = draw(_ROLES)
    headers = {} if role == "none" else {"Authorization": f"Bearer {api.keys[role]}"}
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(_IDEMPOTENCY_KEY)
    if draw(st.booleans()):
        headers["If-None-Match"] = draw(_IF_NONE_MATCH)
    kind = draw(_BODY_KINDS)
    seeded = _seeded(rule, method)
    if seeded is not None and draw(st.booleans()):
        kind = "seeded"
    request: dict[str, Any] = {"method": method, "path": path, "query_string": query, "headers": headers}
    if kind == "seeded":
        assert seeded is not None
        request["data"] = (
            draw(seeded)
            .replace(_LICENCE.encode(), api.licence_id.encode())
            .replace(_HOLDER_CODE.encode(), api.holder_code.encode())
        )
        headers["Content-Type"] = "application/json"
    elif kind == "shaped":
        body = draw(_shaped_body(rule, method))
        if draw(st.booleans()):
            body.update(draw(_EXTRA_FIELDS))
        request["json"] = body
    elif kind == "json":
        request["json"] = draw(_JSON)
    elif kind == "hostile":
        request["data"] = draw(_hostile_body(rule, method))
        headers["Content-Type"] = "application/json"
    elif kind == "raw":
        request["data"] = draw(_RAW_BODY)
        headers["Content-Type"] = draw(_RAW_CONTENT_TYPE)
    elif kind == "multipart":
        fields = draw(_MULTIPART_FIELDS)
        request["data"] = {
            k: (io.BytesIO(v), f"{k}.bin") if k != "purpose" else v.decode("latin-1") for k, v in fields.items()
        }
        request["content_type"] = "multipart/form-data"
    return request


_RECORDED_REFUSALS = frozenset(r.value for r in RefusalReason)
"""403 codes of a refused redeem: the one refusal that is written down (see send())."""

_LONG_BATCH = 50
"""Requests per Hypothesis example in the long mode."""


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="=+.-_~")


def _shard(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``TRUSTSVC_FUZZ_SHARD=i/n`` (``make fuzz-api FUZZ_JOBS=n`` sets it): every n-th route from
    the i-th, so n processes share the long run's routes (each route runs whole in one)."""
    shard = os.environ.get("TRUSTSVC_FUZZ_SHARD")
    if not shard:
        return routes
    i, n = (int(x) for x in shard.split("/"))
    return routes[i::n]


@pytest.mark.parametrize(("rule", "method"), _shard(ROUTES), ids=[f"{m} {r}" for r, m in _shard(ROUTES)])
def test_endpoint_answers_4xx_json_or_success_and_4xx_writes_nothing(api: App, rule: str, method: str) -> None:
    seen: dict[int, int] = {}
    # The tables' state before the next request: asked once per request (after it), since a
    # refused request is asserted to leave it as it was.
    state = [api.counts()]

    def send(req: dict[str, Any]) -> None:
        before = state[0]
        resp = api.client.open(**req)
        try:
            after = state[0] = api.counts()
            status = resp.status_code
            seen[status] = seen.get(status, 0) + 1
            assert status < 500, (status, req, resp.get_data()[:500])
            if status >= 400:
                body = resp.get_json(silent=True)
                assert isinstance(body, dict) and isinstance(body.get("error"), dict), (status, resp.get_data()[:300])
                assert isinstance(body["error"].get("code"), str) and body["error"]["code"], body
                assert isinstance(body["error"].get("message"), str), body
                changed = {name for name, a, b in zip(api.table_names, before, after, strict=True) if a != b}
                if status == 403 and body["error"]["code"] in _RECORDED_REFUSALS:
                    # a refused redeem is recorded, for the holder to see (用证记录), and audited
                    assert changed <= {"holder_redemptions", "audit_log", "audit_head.hash"}, (changed, body, req)
                else:
                    assert not changed, ("a refused request wrote something", changed, status, body, req)
        finally:
            resp.close()

    # The long mode sends a batch of requests per Hypothesis example: the engine's own work per
    # example (bookkeeping, mutation) is then paid once per batch, not once per request.
    batch = _LONG_BATCH if long_mode() else 1

    @settings(fuzz(60), max_examples=max(1, examples(60) // batch))
    @given(reqs=st.lists(_request(api, rule, method), min_size=batch, max_size=batch))
    def run(reqs: list[dict[str, Any]]) -> None:
        for req in reqs:
            send(req)

    run()
    if os.environ.get("TRUSTSVC_FUZZ_REPORT"):  # make fuzz: what each endpoint answered
        print(f"\n{method} {rule}: {sum(seen.values())} cases, statuses {dict(sorted(seen.items()))}", file=sys.stderr)
    assert sum(seen.values()) >= min(examples(60), 20)


def test_every_served_route_is_fuzzed(api: App) -> None:
    """The list above is the app's: a new JSON route must be added to it (and so fuzzed)."""
    assert set(_served_routes(api.app)) == set(ROUTES)


# -- the endpoints that read objects, fed the real ones changed ----------------------------------


def _verify_request(corpus: Any, data: Any) -> dict[str, Any]:
    """POST /api/v1/verify with one of this service's objects changed: a licence PDF, DER
    (certificate, CMS, seal, SES signature, status list) or a service code, in each request form."""
    kind = data.draw(st.sampled_from(["pdf", "der", "der", "code"]))
    if kind == "pdf":
        blob = data.draw(pdf_mutant(corpus.pdf))
    elif kind == "der":
        blob = data.draw(mutate_der(seeds(corpus, "cert") + seeds(corpus, "cms") + seeds(corpus, "ses")))
    else:
        code = data.draw(st.sampled_from([corpus.static_code, corpus.dynamic_code]))
        i = data.draw(st.integers(4, len(code) - 1))
        blob = (
            code[:i] + data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")) + code[i + 1 :]
            if data.draw(st.booleans())
            else code[:i]
        ).encode()
    form = data.draw(st.sampled_from(["raw", "multipart", "json"] if kind == "code" else ["raw", "multipart"]))
    if form == "raw":
        return {"data": blob, "headers": {"Content-Type": "application/octet-stream"}}
    if form == "json":
        return {"json": {"code": blob.decode()}}
    fields: dict[str, Any] = {"file": (io.BytesIO(blob), "object.bin")}
    if data.draw(st.booleans()):
        fields["original"] = (io.BytesIO(corpus.signed_document), "original.bin")
    return {"data": fields, "content_type": "multipart/form-data"}


@fuzz(100)
@given(data=st.data())
def test_verify_endpoint_on_changed_objects(corpus: Any, data: Any) -> None:
    client = _corpus_client(corpus)
    resp = client.post("/api/v1/verify", **_verify_request(corpus, data))
    try:
        assert resp.status_code == 200 or 400 <= resp.status_code < 500, (resp.status_code, resp.get_data()[:300])
        body = resp.get_json()
        if resp.status_code == 200:
            assert all(c["name"] != "internal_error" for c in body["checks"]), body["message"]
        else:
            assert body["error"]["code"], body
    finally:
        resp.close()


@fuzz(100)
@given(data=st.data())
def test_ocsp_and_tsa_endpoints_on_changed_requests(corpus: Any, data: Any) -> None:
    from asn1crypto import ocsp

    from ca.tsa import build_request, parse_timestamp_response

    client = _corpus_client(corpus)
    request = data.draw(mutate_der([corpus.ocsp_request]))
    resp = client.post("/api/v1/ocsp", data=request, headers={"Content-Type": "application/ocsp-request"})
    assert resp.status_code == 200
    assert ocsp.OCSPResponse.load(resp.get_data())["response_status"].native != "internal_error"
    request = data.draw(mutate_der([build_request(b"fuzz", hash_algorithm="sm3", nonce=7)]))
    resp = client.post("/api/v1/tsa", data=request, headers={"Content-Type": "application/timestamp-query"})
    assert resp.status_code == 200
    assert "system_failure" not in parse_timestamp_response(resp.get_data()).failure_info


_clients: dict[int, Any] = {}


def _corpus_client(corpus: Any) -> Any:
    """A test client over the corpus' service (one per session: building the app is not free)."""
    if id(corpus) not in _clients:
        _clients[id(corpus)] = create_app(service=corpus.service).test_client()
    return _clients[id(corpus)]
