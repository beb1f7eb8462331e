"""`trustsvc code make|cache` and `trustsvc verify 'TS1:…'` (offline: cache directory or this
machine's database), with the exit codes of DESIGN §5."""

from __future__ import annotations

import io
import json

import zxingcpp
from click.testing import CliRunner
from PIL import Image

from trustsvc.cli import cli


def run(env, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def test_code_make_static_and_dynamic(service, service_env, licence, tmp_path):
    text = run(service_env, "code", "make", licence).output.strip()
    assert text.startswith("TS1:") and run(service_env, "code", "make", licence).output.strip() == text
    run(service_env, "code", "make", licence, "--format", "png", "--out", str(tmp_path / "c.png"))
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "c.png"))
    assert [b.text for b in found] == [text]
    dynamic = json.loads(
        run(service_env, "code", "make", licence, "--dynamic", "--ttl", "60", "--format", "json").output
    )
    assert dynamic["type"] == "dynamic" and dynamic["code"] != text
    run(service_env, "code", "make", licence, "--ttl", "60", code=2)
    bad = run(service_env, "code", "make", licence, "--dynamic", "--ttl", "5", code=1)
    assert "invalid_ttl" in bad.output


def test_verify_code_offline_from_a_cache_and_from_the_database(service, service_env, licence, tmp_path):
    text = run(service_env, "code", "make", licence).output.strip()
    # issuance published the issuer's status list: the database path knows the status at once
    known = json.loads(run(service_env, "verify", text, "--json").output)
    assert known["indication"] == "PASSED" and known["status_now"]["trust"]["source"] == "local database"
    out = run(service_env, "code", "cache", str(tmp_path / "cache"), "--hours", "2").output
    assert "trust.json" in out
    passed = json.loads(run(service_env, "verify", text, "--json", "--cache", str(tmp_path / "cache")).output)
    assert passed["indication"] == "PASSED" and passed["status_now"]["status_list"]["stale"] is False
    # and still agrees after the cache was made
    assert json.loads(run(service_env, "verify", text, "--json").output)["indication"] == "PASSED"
    human = run(service_env, "verify", text, "--cache", str(tmp_path / "cache")).output
    assert human.startswith("PASSED") and "now trust:" in human and "now status_list:" in human
    stale = json.loads(
        run(
            service_env,
            "verify",
            text,
            "--json",
            "--cache",
            str(tmp_path / "cache"),
            "--at",
            "2099-01-01T00:00:00Z",
            code=2,
        ).output
    )
    assert stale["sub_indication"] == "TRUST_LIST_STALE"
    tampered = text[:40] + ("Q" if text[40] != "Q" else "R") + text[41:]
    assert json.loads(run(service_env, "verify", tampered, "--json", code=1).output)["indication"] == "FAILED"
    run(service_env, "verify", text, "--cache", str(tmp_path / "nowhere"), code=3)


def test_verify_a_picture_of_a_code_offline(service, service_env, licence, tmp_path):
    """`trustsvc verify photo.png`: the code in the picture, verified as the code."""
    run(service_env, "code", "make", licence, "--format", "png", "--out", str(tmp_path / "c.png"))
    run(service_env, "code", "cache", str(tmp_path / "cache"))
    report = json.loads(
        run(service_env, "verify", str(tmp_path / "c.png"), "--json", "--cache", str(tmp_path / "cache")).output
    )
    assert report["indication"] == "PASSED" and report["object"]["kind"] == "code"
    assert report["object"]["read_from"] == "picture" and report["object"]["licence"] == licence
    blank = io.BytesIO()
    Image.new("L", (120, 120), 255).save(blank, format="PNG")
    (tmp_path / "blank.png").write_bytes(blank.getvalue())
    failed = run(service_env, "verify", str(tmp_path / "blank.png"), code=1).output
    assert failed.startswith("FAILED (FORMAT_FAILURE): no QR code was found in the picture")
