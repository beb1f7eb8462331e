"""Listing licences: who sees what, filters, keyset paging, and GET /api/v1/licences."""

from __future__ import annotations

import pytest
from licence_helpers import COMPANY, DEPT, OTHER_DEPT, PERSON, bearer, business_body, food_body
from sqlalchemy import inspect, select, text

from trustsvc import pki
from trustsvc.apikeys import Principal, Role, SystemActor
from trustsvc.errors import InvalidInputError, PermissionDeniedError
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE
from trustsvc.licences.listing import decode_cursor, encode_cursor, licence_history, list_licences, page_statement
from trustsvc.licences.service import issue_licence, request_from_json, revoke_licence, suspend_licence
from trustsvc.sealing import SealRequest, make_department_seal
from trustsvc.storage.models import Department

ISSUER = Principal("iss", Role.ISSUER, DEPT, (BUSINESS_LICENCE.code, FOOD_BUSINESS_LICENCE.code))
ADMIN = Principal("adm", Role.ADMIN)


def _issue(service, body: dict, dept: str = DEPT):
    return issue_licence(
        service, request_from_json(body), principal_or_actor=SystemActor("test"), department_uscc=dept, timestamp=False
    )


@pytest.fixture
def other_dept(service):
    pki.add_department(service, OTHER_DEPT, "南京市市场监督管理局", actor="test")
    make_department_seal(service, SealRequest(OTHER_DEPT, "南京市市场监督管理局"), actor="test")
    return OTHER_DEPT


def _ids(page) -> list[str]:
    return [r.identifier for r in page.items]


def test_issuer_sees_its_department_admin_sees_all(service, seal, other_dept) -> None:
    a = _issue(service, business_body())
    b = _issue(service, food_body())
    c = _issue(service, business_body(), dept=other_dept)
    assert _ids(list_licences(service, ISSUER)) == [b.identifier, a.identifier]  # newest first
    assert _ids(list_licences(service, ADMIN)) == [c.identifier, b.identifier, a.identifier]
    assert _ids(list_licences(service, ADMIN, department_uscc=other_dept.lower())) == [c.identifier]
    assert _ids(list_licences(service, ISSUER, department_uscc=DEPT)) == [b.identifier, a.identifier]
    with pytest.raises(PermissionDeniedError) as exc:
        list_licences(service, ISSUER, department_uscc=other_dept)
    assert exc.value.code == "other_department"
    for role in (Role.VERIFIER, Role.PEER):
        with pytest.raises(PermissionDeniedError) as exc:
            list_licences(service, Principal("v", role))
        assert exc.value.code == "role_not_allowed"


def test_status_filter_uses_the_status_now(service, seal) -> None:
    active = _issue(service, business_body())
    expired = _issue(service, food_body(valid_from="2020-01-01", valid_until="2021-01-01"))
    suspended = _issue(service, food_body())
    revoked = _issue(service, food_body(valid_until="2031-01-01"))
    suspend_licence(service, suspended.identifier, principal_or_actor=SystemActor("test"))
    revoke_licence(service, revoked.identifier, principal_or_actor=SystemActor("test"), reason="吊销")
    by = {
        s: _ids(list_licences(service, ISSUER, status=s))
        for s in ("active", "expired", "suspended", "revoked", "superseded")
    }
    assert by == {
        "active": [active.identifier],
        "expired": [expired.identifier],
        "suspended": [suspended.identifier],
        "revoked": [revoked.identifier],
        "superseded": [],
    }
    assert _ids(list_licences(service, ISSUER, type_code=BUSINESS_LICENCE.code)) == [active.identifier]
    with pytest.raises(InvalidInputError) as exc:
        list_licences(service, ISSUER, status="deleted")
    assert (exc.value.code, exc.value.field) == ("invalid_status", "status")


def test_search_by_identifier_holder_name_and_exact_id(service, seal) -> None:
    company = _issue(service, business_body())
    person = _issue(service, food_body())
    assert _ids(list_licences(service, ISSUER, q="某某科技")) == [company.identifier]
    assert _ids(list_licences(service, ISSUER, q=PERSON)) == [person.identifier]
    assert _ids(list_licences(service, ISSUER, q=PERSON[:10])) == []  # ids match whole, not in part
    assert _ids(list_licences(service, ISSUER, q=person.identifier.split(".")[-3])) == [
        person.identifier,
        company.identifier,
    ]
    assert _ids(list_licences(service, ISSUER, q=COMPANY.lower())) == [company.identifier]
    assert _ids(list_licences(service, ISSUER, q="%")) == []  # LIKE wildcards are taken literally
    assert _ids(list_licences(service, ISSUER, q="_")) == []


def test_keyset_pages_cover_everything_once(service, seal) -> None:
    issued = [_issue(service, business_body()).identifier for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = list_licences(service, ISSUER, limit=2, cursor=cursor)
        seen += _ids(page)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3 and seen == list(reversed(issued))
    assert decode_cursor(encode_cursor(123)) == 123
    for bad in ("", "abc", encode_cursor(1)[:-1] + "!", "aWQ6LTE"):  # "id:-1"
        with pytest.raises(InvalidInputError) as exc:
            decode_cursor(bad)
        assert exc.value.code == "invalid_cursor"
    for limit in (0, 201, True):
        with pytest.raises(InvalidInputError) as exc:
            list_licences(service, ISSUER, limit=limit)  # type: ignore[arg-type]
        assert exc.value.code == "invalid_limit"


def test_history_comes_from_the_audit_log(service, seal) -> None:
    row = _issue(service, business_body())
    suspend_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="核查")
    revoke_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="吊销")
    history = licence_history(service, row.identifier)
    assert [(h.action, h.reason) for h in history] == [
        ("licence.issue", None),
        ("licence.suspend", "核查"),
        ("licence.revoke", "吊销"),
    ]


def test_list_over_http(client, service, seal, keys) -> None:
    for _ in range(3):
        assert client.post("/api/v1/licences", json=business_body(), headers=bearer(keys["issuer"])).status_code == 201
    resp = client.get("/api/v1/licences?limit=2", headers=bearer(keys["issuer"]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    assert body["items"][0]["holder"]["id"] == COMPANY and body["items"][0]["issuer"]["uscc"] == DEPT
    rest = client.get(f"/api/v1/licences?limit=2&cursor={body['next_cursor']}", headers=bearer(keys["admin"]))
    assert len(rest.get_json()["items"]) == 1 and rest.get_json()["next_cursor"] is None
    assert client.get("/api/v1/licences").status_code == 401
    assert (
        client.get("/api/v1/licences", headers=bearer(keys["verifier"])).get_json()["error"]["code"]
        == "role_not_allowed"
    )
    for query, code in (
        ("limit=abc", "invalid_limit"),
        ("limit=0", "invalid_limit"),
        ("status=x", "invalid_status"),
        ("cursor=zz", "invalid_cursor"),
    ):
        resp = client.get(f"/api/v1/licences?{query}", headers=bearer(keys["issuer"]))
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == code, query
    assert client.get(f"/api/v1/licences?department={OTHER_DEPT}", headers=bearer(keys["issuer"])).status_code == 403


def _fill_copies(
    service, template_id: int, copies: int, revoked_every: int, other_dept_id: int, expired_every: int = 0
) -> None:
    """``copies`` rows like licence ``template_id`` (new identifier, serial and status index),
    every other one in department ``other_dept_id``, every ``revoked_every``-th one revoked,
    every ``expired_every``-th one past its end date (0: none), made by the database itself;
    then statistics."""
    with service.db.transaction() as session:
        columns = [c["name"] for c in inspect(session.connection()).get_columns("licences") if c["name"] != "id"]
        made = {
            "identifier": "l.identifier || '-' || n.i",
            "serial": "'9' || n.i",
            "status_index": "l.status_index + n.i",
            "idempotency_key": "NULL",
            "status": f"CASE WHEN n.i % {revoked_every} = 0 THEN 'revoked' ELSE 'active' END",
            "department_id": f"CASE WHEN n.i % 2 = 0 THEN l.department_id ELSE {other_dept_id} END",
        }
        if expired_every:
            made["valid_from"] = f"CASE WHEN n.i % {expired_every} = 0 THEN '2019-01-01' ELSE l.valid_from END"
            made["valid_until"] = f"CASE WHEN n.i % {expired_every} = 0 THEN '2020-01-01' ELSE l.valid_until END"
        picked = ", ".join(made.get(c, f"l.{c}") for c in columns)
        session.execute(
            text(
                f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies}) "
                f"INSERT INTO licences ({', '.join(columns)}) SELECT {picked} FROM licences l, n WHERE l.id = :id"
            ),
            {"id": template_id},
        )
    with service.db.write_engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def _plan(service, stmt) -> str:
    with service.db.write_engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        rows = conn.execute(text(explain + str(compiled))).fetchall()
    return "\n".join(str(r[-1]) for r in rows)


def _generic_plan(service, stmt) -> str:
    """PostgreSQL's plan of ``stmt`` prepared and planned for any parameters."""
    from sqlalchemy.dialects import postgresql

    compiled = stmt.compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
    values = ", ".join(repr(compiled.params[name]) for name in compiled.positiontup)
    with service.db.write_engine.connect() as conn:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE page AS {compiled}")
        rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE page({values})").fetchall()
        conn.exec_driver_sql("DEALLOCATE page")
        conn.rollback()
    return "\n".join(r[0] for r in rows)


def test_a_status_page_walks_its_partial_index(service, seal, other_dept) -> None:
    """A page of revoked licences reads its rows from the partial status indexes (migration
    0016), not the primary key filtered row by row: at ten million licences that walk read
    ~2,800 rows a page (docs/scale.md)."""

    first = _issue(service, business_body())
    with service.db.reader() as session:
        other_id = session.execute(select(Department.id).where(Department.uscc == other_dept)).scalar_one()
    _fill_copies(service, first.id, copies=20_000, revoked_every=50, other_dept_id=other_id)
    with service.db.reader() as session:
        top = session.execute(text("SELECT max(id) FROM licences")).scalar_one()
    region = _plan(service, page_statement(status="revoked", after=top // 2))
    issuer = _plan(service, page_statement(status="revoked", department_uscc=DEPT, after=top // 2))
    assert "ix_licences_status_id" in region, region
    assert "ix_licences_department_status_id" in issuer, issuer
    if service.db.write_engine.dialect.name == "postgresql":
        # psycopg prepares a statement at its fifth run, and PostgreSQL may then plan it once for
        # any parameters: that generic plan must still take the partial index
        generic = _generic_plan(service, page_statement(status="revoked", after=top // 2))
        assert "ix_licences_status_id" in generic, generic
    # the pages those plans serve: newest first, only revoked rows, the cursor respected
    page = list_licences(service, ADMIN, status="revoked", cursor=encode_cursor(top // 2), limit=50)
    ids = [r.id for r in page.items]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True) and ids[0] < top // 2
    assert {r.status for r in page.items} == {"revoked"}


def test_the_listing_indexes_built_beforehand_are_kept_by_the_migrations(service) -> None:
    """An operator builds the indexes of migrations 0016 and 0017 with CREATE INDEX CONCURRENTLY
    before upgrading a large database (their docstrings give the statements); the migrations
    keep them."""
    from alembic import command

    with service.db.write_engine.begin() as conn:
        command.downgrade(service.db._alembic(conn), "0015_audit_checkpoints")
    sql = (
        "CREATE INDEX {concurrently} ix_licences_status_id ON licences (status, id) WHERE status <> 'active'",
        "CREATE INDEX {concurrently} ix_licences_department_status_id ON licences (department_id, status, id) "
        "WHERE status <> 'active'",
        "CREATE INDEX {concurrently} ix_licences_expiry_id ON licences (valid_until, id) "
        "WHERE status = 'active' AND valid_until IS NOT NULL",
    )
    postgres = service.db.write_engine.dialect.name == "postgresql"
    engine = service.db.write_engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else None
    with engine.connect() if engine is not None else service.db.write_engine.begin() as conn:
        for statement in sql:  # CONCURRENTLY runs outside a transaction only
            conn.execute(text(statement.format(concurrently="CONCURRENTLY" if postgres else "")))
    with service.db.write_engine.begin() as conn:
        command.upgrade(service.db._alembic(conn), "head")
    assert service.db.schema_is_current()
    assert "ix_licences_status_id" in _plan(service, page_statement(status="revoked"))
    assert "ix_licences_expiry_id" in _plan(service, page_statement(status="expired"))


def test_an_expired_page_reads_the_expiry_index(service, seal, other_dept) -> None:
    """Expired is worked out from the end date when a page is read; a page of expired licences
    reads the expired range of the partial expiry index (migration 0017) instead of walking
    every licence for the few past their end: with none expired among ten million licences that
    walk took 23.7 s (docs/scale.md)."""

    first = _issue(service, food_body(valid_until="2031-01-01"))
    with service.db.reader() as session:
        other_id = session.execute(select(Department.id).where(Department.uscc == other_dept)).scalar_one()
    _fill_copies(service, first.id, copies=20_000, revoked_every=50, other_dept_id=other_id, expired_every=997)
    with service.db.reader() as session:
        top = session.execute(text("SELECT max(id) FROM licences")).scalar_one()
    dialect = service.db.write_engine.dialect.name
    for after in (None, top // 2):
        plan = _plan(service, page_statement(status="expired", after=after, dialect=dialect))
        assert "ix_licences_expiry_id" in plan, plan
    if service.db.write_engine.dialect.name == "postgresql":
        generic = _generic_plan(service, page_statement(status="expired", after=top // 2))
        assert "ix_licences_expiry_id" in generic, generic
    # the pages: newest first, expired and not revoked, the cursor respected, to the last one
    seen: list[int] = []
    cursor = None
    while True:
        page = list_licences(service, ADMIN, status="expired", cursor=cursor, limit=7)
        assert {(r.status, r.valid_until.isoformat()) for r in page.items} <= {("active", "2020-01-01")}
        seen += [r.id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    with service.db.reader() as session:
        expected = (
            session.execute(
                text("SELECT id FROM licences WHERE status = 'active' AND valid_until < '2021-01-01' ORDER BY id DESC")
            )
            .scalars()
            .all()
        )
    assert seen == list(expected) and len(seen) == 20_000 // 997 - 20_000 // (997 * 50)
    mine = list_licences(service, ISSUER, status="expired")
    assert mine.items and {r.department_id for r in mine.items} == {first.department_id}
    # one department's page past the cursor keeps its key range (the region's trick is not for it)
    if dialect == "sqlite":
        plan = _plan(service, page_statement(status="expired", department_uscc=DEPT, after=top // 2, dialect=dialect))
        assert "ix_licences_department_id (department_id=? AND id<?)" in plan, plan
