"""What `trustsvc demo` adds to a demo home: an issuer key file and one sample licence, both
idempotent across restarts."""

from __future__ import annotations

from pathlib import Path

from trustsvc.apikeys import Principal, Role, authenticate
from trustsvc.cli.demo import SAMPLE_HOLDER_USCC, ensure_issuer_key, ensure_sample_licence
from trustsvc.formats.uscc import validate_uscc
from trustsvc.licences.catalogue import BUSINESS_LICENCE, DEMO_TYPES
from trustsvc.licences.listing import list_licences
from trustsvc.sealing import SealRequest, make_department_seal

DEPT = "11320000MB0000001G"


def test_issuer_key_file_is_private_and_kept(service, tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "issuer.key"
    assert ensure_issuer_key(service, key_file, DEPT, actor="test")
    assert (key_file.stat().st_mode & 0o777) == 0o600
    token = key_file.read_text().strip()
    with service.db.reader() as s:
        principal = authenticate(s, token)
    assert principal.role is Role.ISSUER and principal.department_uscc == DEPT
    assert set(principal.licence_types) == {t.code for t in DEMO_TYPES}
    assert not ensure_issuer_key(service, key_file, DEPT, actor="test")
    assert key_file.read_text().strip() == token


def test_sample_licence_is_issued_once(service) -> None:
    make_department_seal(service, SealRequest(DEPT, "江苏省市场监督管理局"), actor="test")
    first = ensure_sample_licence(service, DEPT, actor="test")
    again = ensure_sample_licence(service, DEPT, actor="test")
    assert first.identifier == again.identifier and first.type_code == BUSINESS_LICENCE.code
    assert validate_uscc(SAMPLE_HOLDER_USCC) == first.holder_id == first.fields["uscc"]
    assert len(list_licences(service, Principal("a", Role.ADMIN)).items) == 1
