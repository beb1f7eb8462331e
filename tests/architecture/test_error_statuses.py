"""Every error class declares the HTTP status it is answered with; none falls through to 500.

The walk imports every module of the service first, so an error class defined anywhere (a
format parser, a CA helper, a domain service) is found, and then raises one of each through the
API's own error handlers.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from flask import Flask

from api.errors import register_error_handlers
from hsm.errors import TrustSvcError

PACKAGES = ("hsm", "ca", "trustsvc", "api")


def _every_module() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


_every_module()
ERRORS = [c for c in _subclasses(TrustSvcError) if not c.__module__.startswith("tests")]


def _instance(cls: type[TrustSvcError]) -> TrustSvcError:
    """One of ``cls``, whatever keyword-only arguments its constructor insists on."""
    required = {
        name: 1
        for name, p in inspect.signature(cls).parameters.items()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    }
    return cls("a message", **required)


def test_the_walk_finds_the_error_families() -> None:
    names = {c.__name__ for c in ERRORS}
    assert {"HSMError", "CAError", "CMSError", "OFDFormatError", "InvalidInputError", "AuditChainError"} <= names
    assert len(ERRORS) >= 30


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_each_error_class_declares_its_status(cls: type[TrustSvcError]) -> None:
    owner = next(k for k in cls.__mro__ if "http_status" in vars(k))
    assert owner is not TrustSvcError, f"{cls.__name__} inherits the base's status: declare one"
    assert 400 <= cls.http_status < 600


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_the_api_answers_with_the_declared_status(cls: type[TrustSvcError]) -> None:
    app = Flask(__name__)
    register_error_handlers(app)
    exc = _instance(cls)

    @app.get("/raise")
    def _raise() -> str:
        raise exc

    resp = app.test_client().get("/raise")
    assert resp.status_code == cls.http_status
    assert resp.get_json()["error"]["code"] == exc.code != "internal_error"
