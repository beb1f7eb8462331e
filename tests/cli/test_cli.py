"""The trustsvc command line, and `trustsvc demo` (what `make run` calls) serving for real."""

from __future__ import annotations

import hashlib
import json
import stat
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import pem
from click.testing import CliRunner

from trustsvc.cli import cli

DEPT = "11320000MB0000001G"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TRUSTSVC_HOME": str(tmp_path / "home"), "TRUSTSVC_HSM_PIN": "cli-test-pin"}


def run(env: dict[str, str], *args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _audit_outcome(env: dict[str, str]) -> list[str]:
    """What `audit verify` found, without its progress lines (they carry a rate)."""
    return [
        line for line in run(env, "audit", "verify").output.splitlines() if not line.startswith("audit rows checked")
    ]


def test_init_is_idempotent(env: dict[str, str]) -> None:
    first = run(env, "init", "--region", "320000", "--name", "江苏省")
    assert "initialised" in first.output
    keys_dir = Path(env["TRUSTSVC_HOME"]) / "keys"
    before = _snapshot(keys_dir)
    db_before = (Path(env["TRUSTSVC_HOME"]) / "trustsvc.db").stat().st_size
    audit_before = _audit_outcome(env)
    second = run(env, "init", "--region", "320000", "--name", "江苏省")
    assert "already initialised (nothing changed)" in second.output
    assert _snapshot(keys_dir) == before
    assert _audit_outcome(env) == audit_before
    assert (Path(env["TRUSTSVC_HOME"]) / "trustsvc.db").stat().st_size == db_before
    run(env, "init", "--region", "220000", "--name", "吉林省", code=1)


def test_department_apikey_pin_and_export(env: dict[str, str]) -> None:
    run(env, "init", "--region", "320000", "--name", "江苏省")
    out = json.loads(run(env, "department", "add", "--code", DEPT, "--name", "江苏省市场监督管理局").output)
    assert out["created"] is True and set(out["certificates"]) == {DEPT, f"{DEPT}/seal-maker", f"{DEPT}/signer"}
    bad = run(env, "department", "add", "--code", "11320000MB0000001A", "--name", "x", code=1)
    assert "invalid_uscc" in bad.output

    token = run(
        env,
        "apikey",
        "create",
        "--role",
        "issuer",
        "--department",
        DEPT,
        "--types",
        "11100000MB0143028R001,食品经营许可证",
    ).output.strip()
    assert token.startswith("tsk_")
    db_bytes = (Path(env["TRUSTSVC_HOME"]) / "trustsvc.db").read_bytes()
    assert token.split("_", 2)[2].encode() not in db_bytes
    run(env, "apikey", "create", "--role", "issuer", code=1)

    pin = run(env, "trust", "pin").output.strip()
    exported = run(env, "ca", "export", "root").output.encode()
    _, _, der = pem.unarmor(exported)
    assert hashlib.sha256(der).hexdigest() == pin
    assert DEPT in run(env, "ca", "list").output


def test_wrong_or_missing_pin_is_a_clear_error(env: dict[str, str]) -> None:
    run(env, "init", "--region", "320000", "--name", "江苏省")
    wrong = dict(env, TRUSTSVC_HSM_PIN="not-the-pin")
    r = run(wrong, "department", "add", "--code", DEPT, "--name", "x", code=1)
    assert "wrong_pin" in r.output and "not-the-pin" not in r.output
    missing = {"TRUSTSVC_HOME": env["TRUSTSVC_HOME"]}
    r = run(missing, "department", "add", "--code", DEPT, "--name", "x", code=1)
    assert "pin_missing" in r.output and "TRUSTSVC_HSM_PIN" in r.output


def test_demo_init_creates_a_private_pin_file_and_says_so(tmp_path: Path) -> None:
    env = {"TRUSTSVC_HOME": str(tmp_path / "h")}
    r = CliRunner().invoke(cli, ["init", "--region", "320000", "--name", "江苏省", "--demo"], env=env)
    assert r.exit_code == 0, r.output
    pin_file = tmp_path / "h" / "hsm.pin"
    assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600
    assert str(pin_file) in r.output and "PIN" in r.output
    pin = pin_file.read_text().strip()
    assert len(pin) >= 16
    # the key store was sealed with that PIN: a second run opens it without any env PIN
    again = CliRunner().invoke(cli, ["init", "--region", "320000", "--name", "江苏省"], env=env)
    assert again.exit_code == 0 and "nothing changed" in again.output
    for key_file in (tmp_path / "h" / "keys").glob("*.key"):
        assert pin.encode() not in key_file.read_bytes()


@pytest.mark.slow
def test_demo_bootstraps_and_serves_healthz(demo_server) -> None:
    """What `make run` does: a fresh home, the demo region, gunicorn, /healthz 200."""
    with urllib.request.urlopen(f"{demo_server.url}/healthz", timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "ok" and body["self_test"]["passed"] is True and body["region"] == "320000"
    key_file = demo_server.home / "admin.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    req = urllib.request.Request(
        f"{demo_server.url}/api/v1/whoami", headers={"Authorization": f"Bearer {key_file.read_text().strip()}"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.load(resp)["role"] == "admin"
    with urllib.request.urlopen(f"{demo_server.url}/api/v1/seals/32000000000001", timeout=5) as resp:
        assert json.load(resp)["name"] == "江苏省市场监督管理局"
    output = "".join(demo_server.output)
    assert demo_server.url in output and str(key_file) in output
    # the logs carry no secret: not the admin key, not the demo PIN
    assert key_file.read_text().strip() not in output
    assert (demo_server.home / "hsm.pin").read_text().strip() not in output


def test_seal_make_sign_and_verify_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init", "--region", "320000", "--name", "江苏省")
    run(env, "department", "add", "--code", DEPT, "--name", "江苏省市场监督管理局")
    esl = tmp_path / "seal.esl"
    made = json.loads(
        run(env, "seal", "make", "--department", DEPT, "--name", "江苏省市场监督管理局", "--out", str(esl)).output
    )
    doc = tmp_path / "licence.txt"
    doc.write_bytes("营业执照".encode())
    sig = tmp_path / "sig.dat"
    run(env, "seal", "sign", made["esid"], str(doc), "--out", str(sig))

    passed = run(env, "verify", str(esl), code=0)
    assert passed.output.startswith("PASSED")
    report = json.loads(run(env, "verify", str(sig), "--original", str(doc), "--json", code=0).output)
    assert report["indication"] == "PASSED" and report["object"]["kind"] == "ses_signature"
    doc.write_bytes("营业执照!".encode())
    failed = json.loads(run(env, "verify", str(sig), "--original", str(doc), "--json", code=1).output)
    assert failed["sub_indication"] == "HASH_FAILURE"

    # a verifier with no region of its own and no anchor cannot decide: INDETERMINATE (2)
    stranger = {"TRUSTSVC_HOME": str(tmp_path / "stranger")}
    assert run(stranger, "verify", str(esl), code=2).output.startswith("INDETERMINATE")
    # the root alone is not enough (the department CA is not inside the seal) ...
    root = tmp_path / "root.pem"
    root.write_text(run(env, "ca", "export", "root").output)
    run(stranger, "verify", str(esl), "--anchor", str(root), code=2)
    # ... with the department's issuing CA trusted as well, it verifies
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(run(env, "ca", "export", "root").output + run(env, "ca", "export", DEPT).output)
    run(stranger, "verify", str(esl), "--anchor", str(bundle), code=0)

    run(env, "verify", str(tmp_path / "missing.ofd"), code=3)
    run(env, "verify", str(esl), "--at", "not-a-time", code=3)
    run(env, "verify", code=3)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00" * 40)
    assert run(env, "verify", str(garbage), code=1).output.startswith("FAILED (FORMAT_FAILURE)")


def _capture_run_server(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace gunicorn with a recorder of what `serve` would serve."""
    import trustsvc.cli.serve

    calls: list[dict] = []
    monkeypatch.setattr(
        trustsvc.cli.serve,
        "run_server",
        lambda config, *, host, port, workers: calls.append({"config": config, "host": host, "port": port}),
    )
    return calls


def _published_status_list_urls(config, env: dict[str, str]) -> list[str]:
    from trustsvc.context import open_service
    from trustsvc.federation.trust_lists import current_trust_list

    svc = open_service(config, env)
    try:
        listed = current_trust_list(svc).trust_list
        return [listed.base_url] + [i.status_list_url for i in listed.issuers]
    finally:
        svc.close()


def test_serve_publishes_urls_of_the_port_it_serves(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve --port P` without base_url: the trust list's status-list URLs name port P, so a
    peer importing from P can fetch them; and the operator is warned that base_url is unset."""
    run(env, "init", "--region", "320000", "--name", "江苏省")
    run(env, "department", "add", "--code", DEPT, "--name", "江苏省市场监督管理局")
    calls = _capture_run_server(monkeypatch)
    with caplog.at_level("WARNING", logger="trustsvc"):
        run(env, "serve", "--port", "9123")
    assert (calls[-1]["host"], calls[-1]["port"]) == ("127.0.0.1", 9123)
    served = calls[-1]["config"]
    assert served.server.public_url == "http://127.0.0.1:9123"
    assert any(
        "base_url is not set" in r.getMessage() and "http://127.0.0.1:9123" in r.getMessage() for r in caplog.records
    )
    urls = _published_status_list_urls(served, env)
    assert urls == ["http://127.0.0.1:9123", f"http://127.0.0.1:9123/api/v1/status/{DEPT}"]

    # no --port: TRUSTSVC_SERVER_PORT applies; a base_url is published as it is, without warning
    run(dict(env, TRUSTSVC_SERVER_PORT="9200"), "serve")
    assert calls[-1]["port"] == 9200 and calls[-1]["config"].server.public_url == "http://127.0.0.1:9200"
    caplog.clear()
    with caplog.at_level("WARNING", logger="trustsvc"):
        run(dict(env, TRUSTSVC_SERVER_BASE_URL="https://tl.example.cn"), "serve", "--port", "9124")
    assert calls[-1]["port"] == 9124 and calls[-1]["config"].server.public_url == "https://tl.example.cn"
    assert not any("base_url" in r.getMessage() for r in caplog.records)
    run(env, "serve", "--port", "70000", code=2)


def test_demo_serves_and_publishes_the_configured_or_given_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` → `trustsvc demo`: --port wins, else TRUSTSVC_SERVER_PORT; what it bootstraps
    (certificates, trust list) points at the port served."""
    calls = _capture_run_server(monkeypatch)
    env = {"TRUSTSVC_HOME": str(tmp_path / "demo"), "TRUSTSVC_SERVER_PORT": "9311"}
    first = run(env, "demo")
    assert calls[-1]["port"] == 9311 and "http://127.0.0.1:9311" in first.output
    served = calls[-1]["config"]
    assert served.server.public_url == "http://127.0.0.1:9311"
    assert _published_status_list_urls(served, env)[1] == f"http://127.0.0.1:9311/api/v1/status/{DEPT}"
    run(env, "demo", "--port", "9312")
    assert calls[-1]["port"] == 9312 and calls[-1]["config"].server.public_url == "http://127.0.0.1:9312"


def test_an_issuer_key_without_types_is_created_with_a_note_saying_it_can_issue_nothing(env: dict[str, str]) -> None:
    run(env, "init", "--region", "320000", "--name", "江苏省")
    run(env, "department", "add", "--code", DEPT, "--name", "江苏省市场监督管理局")
    created = run(env, "apikey", "create", "--role", "issuer", "--department", DEPT)
    assert created.stdout.strip().startswith("tsk_") and len(created.stdout.strip().splitlines()) == 1
    assert "can issue none" in created.stderr
    assert f"trustsvc apikey create --role issuer --department {DEPT} --types" in created.stderr
    typed = run(env, "apikey", "create", "--role", "issuer", "--department", DEPT, "--types", "11100000MB0143028R001")
    assert typed.stderr == ""
