"""``trustsvc verify``: judge any signed object with this region's trust (exit 0/1/2/3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from hsm.errors import TrustSvcError

from .common import _config, _database, _echo_json, _parse_time, log


class _VerifyUsageError(click.UsageError):
    exit_code = 3


class _VerifyCommand(click.Command):
    """Usage errors exit 3 here: 1 and 2 already mean FAILED and INDETERMINATE."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _VerifyUsageError(exc.format_message(), exc.ctx or ctx) from exc


_EXIT = {"PASSED": 0, "FAILED": 1, "INDETERMINATE": 2}
_MARK = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip", "warning": "warn"}


def _print_report(report: Any) -> None:
    """Print a report for people. Shapes differ by kind (an OFD's ``signatures`` is a list of
    reports, a licence PDF's is a count), so nothing here may assume one kind's shape."""
    data = report.as_dict()
    head = data["indication"] + (f" ({data['sub_indication']})" if data["sub_indication"] else "")
    click.echo(f"{head}: {data['message']}")
    signatures = data["object"].get("signatures")
    nested = signatures if isinstance(signatures, list) else []
    obj = {k: v for k, v in data["object"].items() if not (k == "signatures" and nested)}
    click.echo(f"  object: {json.dumps(obj, ensure_ascii=False)}")
    if data["signing_time"]:
        click.echo(f"  signing time: {data['signing_time']}")
    for sig in nested:
        if not isinstance(sig, dict):
            continue
        sub = f" ({sig['sub_indication']})" if sig.get("sub_indication") else ""
        raw = sig.get("object")
        sig_obj: dict[str, Any] = raw if isinstance(raw, dict) else {}
        click.echo(f"  signature {sig_obj.get('id', '')}: {sig.get('indication')}{sub}: {sig.get('message')}")
    for c in data["checks"]:
        click.echo(f"  [{_MARK.get(c['result'], c['result'])}] {c['name']}: {c['detail']}")
    for t in data["trust_path"]:
        click.echo(f"  trust: {json.dumps(t, ensure_ascii=False)}")
    for w in data["warnings"]:
        click.echo(f"  warning: {w}")
    for name, value in data["status_now"].items():  # e.g. a licence revoked since it was sealed
        click.echo(f"  now {name}: {json.dumps(value, ensure_ascii=False)}")


def _verify_snapshot(ctx: click.Context, cache_dir: Path | None) -> Any:
    """What `trustsvc verify` judges with, built once: the cache directory's material (codes,
    ``--cache``), else this region's database (its own namespace and every peer imported by
    pin), else nothing at all."""
    import datetime as dt

    from ..federation.snapshot import build_snapshot, empty_snapshot, load_snapshot_cache

    if cache_dir is not None:
        try:
            return load_snapshot_cache(cache_dir)
        except TrustSvcError as exc:
            click.echo(f"error: {exc.code}: {exc.message}", err=True)
            sys.exit(3)
    config = _config(ctx)
    if config.region is not None:
        try:
            return build_snapshot(_database(ctx), grace=dt.timedelta(seconds=config.trust.grace))
        except (TrustSvcError, SQLAlchemyError) as exc:
            log.warning("verifying without this region's trust: %s", getattr(exc, "message", type(exc).__name__))
    return empty_snapshot()


@click.command(cls=_VerifyCommand)
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--at", "at", default=None, help="Judge 'now' at this ISO 8601 time instead.")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust this CA certificate (PEM or DER); repeatable.",
)
@click.option(
    "--cert",
    "certs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra certificate (not trusted): an intermediate, or the signer of a bare OFD signature.",
)
@click.option(
    "--original",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The signed document, for detached signatures (SES dataHash, detached CMS).",
)
@click.option(
    "--cache",
    "code_cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Service codes: verify offline with this cache (`trustsvc code cache DIR`) instead of "
    "this machine's database.",
)
@click.pass_context
def verify(
    ctx: click.Context,
    target: str,
    as_json: bool,
    at: str | None,
    anchors: tuple[Path, ...],
    certs: tuple[Path, ...],
    original: Path | None,
    code_cache_dir: Path | None,
) -> None:
    """Verify FILE (licence PDF, OFD, .esl seal, SES signature, CMS, certificate, a picture of a
    code's QR) or a code.

    Exit 0 PASSED, 1 FAILED, 2 INDETERMINATE, 3 usage error.
    """
    from ca.certs import load_certificates
    from ca.errors import CertificateError

    from ..verifier import verify as verify_in_region
    from ..verify import detect_kind

    try:
        now = _parse_time(at, "--at")
    except click.BadParameter as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(3)
    if target == "-":
        data = sys.stdin.buffer.read()
    elif target[:4].upper() == "TS1:":
        data = target.encode()
    elif Path(target).is_file():
        data = Path(target).read_bytes()
    else:
        click.echo(f"error: {target}: no such file (and not a TS1: code)", err=True)
        sys.exit(3)

    def read_certs(paths: tuple[Path, ...], option: str) -> list[bytes]:
        out: list[bytes] = []
        for path in paths:
            try:
                out += [c.der for c in load_certificates(path.read_bytes())]
            except CertificateError as exc:
                click.echo(f"error: {option} {path}: {exc.message}", err=True)
                sys.exit(3)
        return out

    anchor_ders = read_certs(anchors, "--anchor")
    extra_ders = read_certs(certs, "--cert")
    # one region verifier (trustsvc.verifier), each object in its issuer's namespace; --anchor
    # and --cert add a namespace of their own and path helpers
    snapshot = _verify_snapshot(ctx, code_cache_dir if detect_kind(data) in ("code", "picture") else None)
    report = verify_in_region(
        snapshot.with_given(anchor_ders, extra_ders),
        data,
        now=now,
        original=original.read_bytes() if original else None,
    )
    if as_json:
        _echo_json(report.as_dict())
    else:
        _print_report(report)
    sys.exit(_EXIT[report.indication.value])
