"""Run the web app under gunicorn. Each worker opens its own service (self-test, key store,
database pool) after the fork, so no connection or key handle is shared between processes."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from ..config import Config

__all__ = ["run_server", "AccessLogger"]


class AccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with the same access lines (its default, Apache combined format) built
    from only the fields that format uses: gunicorn's own :meth:`atoms` copies every request
    header, response header and environ entry for each request, about a tenth of the Python time
    of an anonymous verification."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "u": self._get_user(environ) or "-",
            "t": self.now(),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}",
            "s": status,
            "b": str(sent) if sent is not None else "-",
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
        }


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: Config, options: dict[str, Any]) -> None:
        self._config = config
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api import create_app

        return create_app(config=self._config)


def run_server(config: Config, *, host: str, port: int, workers: int) -> None:
    """Serve until interrupted. Metrics from all workers are merged (prometheus multiprocess)."""
    metrics_dir = config.home / "run" / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    def child_exit(_server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

    def post_worker_init(worker: Any) -> None:
        app = getattr(worker, "wsgi", None)
        if app is not None and "trustsvc" in getattr(app, "extensions", {}):
            # The trust snapshot: built before the first request and kept current by a poller
            # thread of this worker (trustsvc.federation.snapshot_holder); api.trust_snapshot finds it here.
            import datetime as dt

            from ..federation.snapshot_holder import SnapshotHolder

            holder = SnapshotHolder(app.extensions["trustsvc"].db, grace=dt.timedelta(seconds=config.trust.grace))
            try:
                holder.current()
            except Exception:  # the first request builds it, or says why it cannot
                logging.getLogger(__name__).exception("trust snapshot not built at start")
            app.extensions["trustsvc.snapshot"] = holder.start()
        # The peer refresher: one thread per worker, coordinated through the database
        # (trustsvc.federation.peer_refresher); the master never runs it, so forking stays thread-free.
        interval = config.trust.refresh_interval
        if interval and app is not None and "trustsvc" in getattr(app, "extensions", {}):
            from ..federation.peer_refresher import PeerRefresher

            PeerRefresher(app.extensions["trustsvc"], interval).start()
        # Our own status lists: re-signed before they go stale even when nothing changes.
        if app is not None and "trustsvc" in getattr(app, "extensions", {}):
            from ..status_lists import StatusListPublisher

            StatusListPublisher(app.extensions["trustsvc"]).start()
            # Verification counts: kept in memory, flushed every few seconds and at exit
            # (trustsvc.verification_counter); api.verification_counts finds it here.
            from ..verification_counter import VerificationCounter

            app.extensions["trustsvc.verification_counter"] = VerificationCounter(app.extensions["trustsvc"].db).start()

    def worker_exit(_server: Any, worker: Any) -> None:
        app = getattr(worker, "wsgi", None)
        counter = getattr(app, "extensions", {}).get("trustsvc.verification_counter")
        if counter is not None:
            counter.stop()

    _Server(
        config,
        {
            "bind": f"{host}:{port}",
            "workers": max(1, workers),
            "worker_class": "gthread",
            "threads": 4,
            "timeout": 60,
            "graceful_timeout": 20,
            "accesslog": "-",
            "logger_class": AccessLogger,
            "limit_request_line": 8190,
            "child_exit": child_exit,
            "post_worker_init": post_worker_init,
            "worker_exit": worker_exit,
            "proc_name": "trustsvc",
            "control_socket_disable": True,
        },
    ).run()
