"""``trustsvc licence import FILE`` and ``trustsvc files make``: bulk work with a progress bar
(rich) on a terminal and plain progress lines otherwise, spread over worker processes.

Signing and rendering run in Python under one interpreter lock per process, so the work is
split between processes: an import by department (each worker owns whole departments, so
workers never queue on each other's department locks; they meet only at the audit append),
files by licence.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import common
from .errors import handle_errors


def _c() -> Any:
    """The helpers every command group shares (trustsvc.cli.common)."""
    return common


class _Progress:
    """A rich bar with rate and ETA on a terminal, else one plain line at most every 5 s."""

    def __init__(self, what: str, total: int | None) -> None:
        self.what, self.total = what, total
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._printed = -1
        self._start = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=_stderr_console(),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total, rate="")
        return self

    def update(self, done: int, detail: str = "") -> None:
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = done / elapsed
        if self._bar is not None:
            self._bar.update(self._task, completed=done, rate=f"{rate:,.0f}/s {detail}".strip())
            return
        now = time.monotonic()
        if done == self._printed or (now - self._last < 5 and (self.total is None or done < self.total)):
            return
        self._last, self._printed = now, done
        eta = ""
        if self.total and rate > 0:
            eta = f", ETA {max(0.0, (self.total - done) / rate):.0f} s"
        of = f"/{self.total}" if self.total is not None else ""
        click.echo(f"{self.what}: {done}{of} ({rate:,.0f}/s{eta}){' ' + detail if detail else ''}", err=True)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _open(home_config: Any) -> Any:
    from ..context import open_service

    return open_service(home_config)


def _import_worker(args: tuple[Any, str, str | None, int, int, str, int, Any]) -> dict[str, Any]:
    config, path, department, slot, workers, actor, batch, counter = args
    from ..licences.bulk import department_of, import_rows, read_rows
    from ..licences.issuing import share_cores

    share_cores(workers)

    service = _open(config)
    try:

        def mine(data: Any) -> bool:
            return workers == 1 or zlib.crc32(department_of(data, department).encode()) % workers == slot

        last = [0]

        shared = _counter(counter)

        def progress(report: Any) -> None:
            done = report.rows
            with shared.get_lock():
                shared.value += done - last[0]
            last[0] = done

        report = import_rows(
            service,
            read_rows(Path(path)),
            actor=actor,
            department=department,
            file_label=Path(path).name,
            batch=batch,
            progress=progress,
            accept=mine,
        )
        return {**report.as_dict(), "errors": [e.as_dict() for e in report.errors]}
    finally:
        service.close()


def _run_with_progress(what: str, total: int | None, counter: Any, run: Callable[[], Any]) -> Any:
    with _Progress(what, total) as bar:
        result = run()
        while not result.ready():
            result.wait(0.5)
            bar.update(counter.value)
        bar.update(counter.value)
    return result.get()


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--department", default=None, help="USCC of the issuing department, for rows that name none.")
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write bad rows here as CSV (row, field, code, message). Default FILE.errors.csv.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (each takes whole departments).",
)
@click.option("--batch", type=click.IntRange(1, 1000), default=250, show_default=True, help="Rows per transaction.")
@click.pass_context
@handle_errors
def licence_import(
    ctx: click.Context, file: Path, department: str | None, errors_path: Path | None, workers: int, batch: int
) -> None:
    """Import existing licences from JSON Lines (.jsonl) or CSV, one licence per row (the API's
    body, plus optional department, id, issued_on and key). Bad rows go to the error report and
    never stop the others; run it again after a crash or a fix: done rows are skipped."""
    from ..licences.bulk import count_rows, write_error_report

    _c()._service(ctx)  # the PIN, the self-test and the schema checked before any worker starts
    total = count_rows(file)
    ctx_mp = mp.get_context("spawn")  # fresh interpreters: no engine or key handle crosses a fork
    counter = ctx_mp.Value("q", 0)
    config, actor = _c()._config(ctx), _c()._actor()
    jobs = [(config, str(file), department, slot, workers, actor, batch, counter) for slot in range(workers)]
    started = time.monotonic()
    if workers == 1:
        # in this process: nothing to spawn (and a SIGKILL test kills exactly the importer)
        results = [_run_in_process(_c()._service(ctx), file, department, actor, batch, total)]
    else:
        with ctx_mp.Pool(workers, initializer=_init_counter, initargs=(counter,)) as pool:
            results = _run_with_progress(
                f"import {file.name}",
                total,
                counter,
                lambda: pool.map_async(_import_worker, [(*j[:-1], None) for j in jobs]),
            )
    summary = {k: sum(r[k] for r in results) for k in ("rows", "issued", "skipped", "failed")}
    errors = [e for r in results for e in r["errors"]]
    report_path = errors_path or file.with_name(file.name + ".errors.csv")
    from ..licences.bulk import RowError

    if errors or report_path.exists():
        write_error_report(report_path, [RowError(**e) for e in errors])
    seconds = time.monotonic() - started
    _c()._echo_json(
        {
            **summary,
            "errors": len(errors),
            "error_report": str(report_path) if errors else None,
            "seconds": round(seconds, 1),
            "rate_per_s": round((summary["issued"] + summary["skipped"]) / max(seconds, 1e-6), 1),
        }
    )
    if summary["failed"]:
        sys.exit(3)


_shared_counter: Any = None


def _init_counter(counter: Any) -> None:
    global _shared_counter
    _shared_counter = counter


def _counter(counter: Any) -> Any:
    return counter if counter is not None else _shared_counter


def _run_in_process(
    service: Any, file: Path, department: str | None, actor: str, batch: int, total: int
) -> dict[str, Any]:
    from ..licences.bulk import import_rows, read_rows

    with _Progress(f"import {file.name}", total) as bar:
        report = import_rows(
            service,
            read_rows(file),
            actor=actor,
            department=department,
            file_label=file.name,
            batch=batch,
            progress=lambda r: bar.update(r.rows, f"{r.failed} failed"),
        )
    return {**report.as_dict(), "errors": [e.as_dict() for e in report.errors]}


_worker_service: Any = None


def _init_files_worker(counter: Any, config: Any) -> None:
    """Each files worker opens the service once (key store unlocked, self-test run), not once
    per chunk of licences: that start cost about as much as making twenty PDFs."""
    global _worker_service
    _init_counter(counter)
    _worker_service = _open(config)


def _files_worker(args: tuple[list[str], str, str]) -> tuple[int, list[str]]:
    identifiers, actor, media_type = args
    from ..licences.files import ensure_licence_file

    failed: list[str] = []
    for ident in identifiers:
        try:
            ensure_licence_file(_worker_service, ident, actor=actor, media_type=media_type)
        except Exception as exc:
            failed.append(f"{ident}: {getattr(exc, 'code', type(exc).__name__)}")
        counter = _counter(None)
        if counter is not None:
            with counter.get_lock():
                counter.value += 1
    return len(identifiers), failed


def licences_without_file(service: Any, media_type: str, *, every_version: bool) -> list[str]:
    """Identifiers of licences that have no stored file of ``media_type`` yet (current
    versions only, unless ``every_version``), oldest first."""
    from sqlalchemy import exists, select

    from ..storage.models import LicenceFileRecord, LicenceRecord

    stmt = select(LicenceRecord.identifier).where(
        ~exists().where(LicenceFileRecord.licence_id == LicenceRecord.id, LicenceFileRecord.media_type == media_type)
    )
    if not every_version:
        stmt = stmt.where(LicenceRecord.status.in_(("active", "suspended")))
    with service.db.reader() as session:
        return list(session.execute(stmt.order_by(LicenceRecord.id)).scalars())


@click.group("files")
def files() -> None:
    """Licence files (PDF, OFD) made ahead of their first download."""


@files.command("make")
@click.option(
    "--all",
    "every_version",
    is_flag=True,
    help="Every licence version without a file (superseded and revoked ones too); default: current ones.",
)
@click.option("--format", "fmt", type=click.Choice(["pdf", "ofd"]), default="pdf", show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default: one per core).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Make at most this many.")
@click.pass_context
@handle_errors
def files_make(ctx: click.Context, every_version: bool, fmt: str, workers: int | None, limit: int | None) -> None:
    """Make the files of licences that have none (imported ones, or any whose file was never
    asked for), with a progress bar; a licence whose file fails is named and the rest go on."""
    import os

    from ..licences.files import FILE_FORMATS

    service = _c()._service(ctx)
    media_type = FILE_FORMATS[fmt]
    todo = licences_without_file(service, media_type, every_version=every_version)[:limit]
    workers = workers or os.cpu_count() or 1
    ctx_mp = mp.get_context("spawn")
    counter = ctx_mp.Value("q", 0)
    started = time.monotonic()
    failed: list[str] = []
    if todo:
        chunks = [todo[i : i + 20] for i in range(0, len(todo), 20)]
        config, actor = _c()._config(ctx), _c()._actor()
        with ctx_mp.Pool(min(workers, len(chunks)), initializer=_init_files_worker, initargs=(counter, config)) as pool:
            results = _run_with_progress(
                f"files ({fmt})",
                len(todo),
                counter,
                lambda: pool.map_async(_files_worker, [(c, actor, media_type) for c in chunks]),
            )
        failed = [f for _, fs in results for f in fs]
    seconds = time.monotonic() - started
    _c()._echo_json(
        {
            "made": len(todo) - len(failed),
            "failed": failed,
            "seconds": round(seconds, 1),
            "rate_per_s": round((len(todo) - len(failed)) / max(seconds, 1e-6), 1),
        }
    )
    if failed:
        sys.exit(3)
