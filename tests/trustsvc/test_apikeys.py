"""API keys: hashed at rest, shown once, roles and scope, revocation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from trustsvc.apikeys import Role, authenticate, create_api_key, revoke_api_key
from trustsvc.errors import AuthenticationError, InvalidInputError, NotFoundError
from trustsvc.storage import ApiKeyRecord

DEPT = "11320000MB0000001G"


def test_issuer_key_is_scoped_and_only_its_hash_is_stored(service) -> None:
    with service.db.transaction() as s:
        created = create_api_key(
            s,
            role="issuer",
            actor="test",
            department_uscc=DEPT.lower(),
            licence_types=["11100000MB0143028R002", "营业执照", "11100000MB0143028R001"],
        )
    with service.db.reader() as s:
        row = s.execute(select(ApiKeyRecord).where(ApiKeyRecord.key_id == created.key_id)).scalar_one()
        assert created.token.split("_", 2)[2] not in (row.secret_sha256, row.label)
        principal = authenticate(s, created.token)
    assert principal.role is Role.ISSUER and principal.department_uscc == DEPT
    assert principal.licence_types == ("11100000MB0143028R001", "11100000MB0143028R002")


@pytest.mark.parametrize("token", ["", "tsk", "tsk__", "abc_def_ghi", "tsk_000000000000_nope"])
def test_bad_tokens_are_refused(service, token: str) -> None:
    with service.db.reader() as s, pytest.raises(AuthenticationError):
        authenticate(s, token)


def test_a_right_id_with_a_wrong_secret_is_refused(service) -> None:
    with service.db.transaction() as s:
        created = create_api_key(s, role="verifier", actor="test")
    with service.db.reader() as s, pytest.raises(AuthenticationError):
        authenticate(s, created.token[:-1] + ("A" if created.token[-1] != "A" else "B"))


def test_revoked_key_is_refused(service) -> None:
    with service.db.transaction() as s:
        created = create_api_key(s, role="verifier", actor="test")
    with service.db.transaction() as s:
        revoke_api_key(s, created.key_id, actor="test")
    with service.db.reader() as s, pytest.raises(AuthenticationError) as err:
        authenticate(s, created.token)
    assert err.value.code == "revoked_api_key"


def test_an_unknown_licence_type_is_refused_when_the_key_is_made(service) -> None:
    with service.db.transaction() as s, pytest.raises(InvalidInputError) as err:
        create_api_key(s, role="issuer", actor="test", department_uscc=DEPT, licence_types=["BOGUS"])
    assert err.value.code == "unknown_licence_type" and err.value.field == "types"
    assert "11100000MB0143028R001 (营业执照)" in err.value.message


def test_scope_rules(service) -> None:
    with service.db.transaction() as s:
        with pytest.raises(InvalidInputError):
            create_api_key(s, role="issuer", actor="test")
        with pytest.raises(InvalidInputError):
            create_api_key(s, role="verifier", actor="test", department_uscc=DEPT)
        with pytest.raises(InvalidInputError):
            create_api_key(s, role="superuser", actor="test")
        with pytest.raises(NotFoundError):
            create_api_key(s, role="issuer", actor="test", department_uscc="91350100M000100Y43")
