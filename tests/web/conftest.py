"""Web fixtures: the demo department's seal, an app with a session secret, one key per role, and
one real headless Chromium (Debian `chromium` + `chromium-driver`, through Selenium) shared by the
browser tests. Without Chromium or its driver those tests skip with the reason; in CI
(`CI=true`) they fail, because `make test` installs both."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from console_helpers import WAIT

from api import create_app
from trustsvc.licences.catalogue import DEMO_TYPES

DEPT = "11320000MB0000001G"


@pytest.fixture
def console_app(service, seal):
    return create_app(service=service, SECRET_KEY="test-console-secret-" + "x" * 32)


@pytest.fixture
def console_client(console_app):
    return console_app.test_client()


@pytest.fixture
def keys(make_key) -> dict[str, str]:
    out = {role: make_key(role) for role in ("admin", "verifier")}
    out["issuer"] = make_key("issuer", department=DEPT, types=[t.code for t in DEMO_TYPES])
    return out


def _need(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI (make test installs it)")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need("selenium (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        _need("headless Chromium with its driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for "no errors" checks
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1000",
        "--lang=zh-CN",
    ):
        options.add_argument(flag)
    drv = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    drv.set_page_load_timeout(WAIT)
    try:
        yield drv
    finally:
        drv.quit()
