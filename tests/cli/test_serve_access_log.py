"""``trustsvc serve``'s access log: gunicorn's default line, built from fewer atoms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from trustsvc.cli.serve import AccessLogger


def _line(logger_class: type[Logger], environ: dict[str, str]) -> str:
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = logger_class(cfg)
    logger.now = lambda: "[06/Dec/2026:05:01:34 +0000]"  # type: ignore[method-assign]
    resp = SimpleNamespace(status="200 OK", sent=6873, headers=[("Content-Type", "application/json")])
    req = SimpleNamespace(headers=[("HOST", "x"), ("USER-AGENT", "wrk")])
    atoms = logger.atoms_wrapper_class(logger.atoms(resp, req, environ, dt.timedelta(milliseconds=3)))
    return cfg.access_log_format % atoms  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"HTTP_REFERER": "https://trust.example/verify", "HTTP_USER_AGENT": "Mozilla/5.0 (X11)"},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},  # the user of a Basic header, as gunicorn shows it
    ],
)
def test_the_access_line_is_gunicorns_default_line(extra: dict[str, str]) -> None:
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/api/v1/verify?purpose=x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/api/v1/verify",
        "QUERY_STRING": "purpose=x",
        **extra,
    }
    assert _line(AccessLogger, environ) == _line(Logger, environ)
    assert '"POST /api/v1/verify?purpose=x HTTP/1.1" 200 6873' in _line(AccessLogger, environ)


def test_serve_uses_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import trustsvc.cli.serve as serve

    seen: dict[str, object] = {}
    monkeypatch.setattr(serve._Server, "__init__", lambda self, config, options: seen.update(options))
    monkeypatch.setattr(serve._Server, "run", lambda self: None, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # run_server sets it; undone after
    serve.run_server(SimpleNamespace(home=tmp_path), host="127.0.0.1", port=0, workers=1)  # type: ignore[arg-type]
    assert seen["logger_class"] is AccessLogger and seen["accesslog"] == "-"
