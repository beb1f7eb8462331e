"""Every page in a real headless Chromium (Debian `chromium` + `chromium-driver`, through
Selenium) against the live demo server, at a phone's 375×812 and a desktop's 1280×800: the
header (region, sections) and footer on each, no horizontal scroll, no console error, no inline
script, and a Content-Security-Policy whose scripts come only from the app. Then the camera
path of /verify with BarcodeDetector removed and a fake camera showing a rendered service
code: the vendored zxing-wasm decoder reads it from the stream and the page shows the verdict.

Without Chromium or its driver these tests skip with the reason; in CI (`CI=true`) they fail.
Screenshots for docs/: ``TRUSTSVC_SCREENSHOTS=DIR`` saves home.png, verify-phone.png and
dashboard.png there.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest
from console_helpers import WAIT

SIZES = [(375, 812), (1280, 800)]
PUBLIC = ["/", "/developers", "/verify", "/console/login"]
CONSOLE = ["/console", "/console/licences", "/console/licences/new"]
SCRIPT_SOURCES = {"'self'", "'none'", "'wasm-unsafe-eval'"}


def _sample_licence(demo_server) -> str:
    match = re.search(r"sample licence (1\.2\.156\.3005\.2\.[0-9A-Z.]+)", "".join(demo_server.output))
    assert match, "the demo prints its sample licence"
    return match.group(1)


def _get(url: str, *, key: str | None = None, cookie: str | None = None) -> tuple[bytes, dict[str, str]]:
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if cookie:
        headers["Cookie"] = cookie
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=WAIT) as resp:
        return resp.read(), dict(resp.headers.items())


def _csp_holds(policy: str) -> None:
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, policy
    assert all(s in SCRIPT_SOURCES or s.startswith("'nonce-") for s in scripts), policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, policy
    assert directives.get("frame-ancestors") == ["'none'"] and directives.get("object-src") == ["'none'"], policy


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _check_page(driver, url: str, path: str, width: int, cookie: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + path)
    header = driver.find_element(By.CSS_SELECTOR, "header.site-header")
    assert "江苏省" in header.text, path
    for section in ("核验", "签发控制台", "开发者"):
        assert section in header.find_element(By.CSS_SELECTOR, "nav").text, (path, section)
    assert driver.find_element(By.CSS_SELECTOR, "footer.site-footer").is_displayed(), path
    scroll, inner = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner == width and scroll <= inner, f"{path} at {width}px scrolls sideways ({scroll} > {inner})"
    assert driver.execute_script("return document.querySelectorAll('script:not([src])').length") == 0, path
    assert driver.execute_script("return document.querySelectorAll('[style]').length") == 0, path
    assert _errors(driver) == [], path
    _, headers = _get(url + path, cookie=cookie)
    _csp_holds(headers["Content-Security-Policy"])


def _sign_in(driver, url: str, key: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/console/login")
    driver.find_element(By.ID, "api_key").send_keys(key)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, WAIT).until(ec.url_matches(r"/console/?$"))  # the dashboard
    return "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())


def _shots_dir() -> Path | None:
    where = os.environ.get("TRUSTSVC_SCREENSHOTS")
    return Path(where) if where else None


def _full_page_shot(driver, path: Path, width: int) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height, 3000))
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(path))


def test_every_page_at_phone_and_desktop_width(browser, demo_server) -> None:
    url = demo_server.url
    licence = _sample_licence(demo_server)
    issuer_key = (demo_server.home / "issuer.key").read_text().strip()
    driver = browser
    driver.get_log("browser")  # what earlier tests left
    try:
        for width, height in SIZES:
            driver.set_window_size(width, height)
            for path in [*PUBLIC, f"/licences/{licence}"]:
                _check_page(driver, url, path, width)
        cookie = _sign_in(driver, url, issuer_key)
        for width, height in SIZES:
            driver.set_window_size(width, height)
            for path in [*CONSOLE, f"/console/licences/{licence}"]:
                _check_page(driver, url, path, width, cookie)
        # the home page leads to the verifier, the console and the API's description
        driver.get(url + "/")
        links = {a.get_attribute("href") for a in driver.find_elements("css selector", "main a")}
        assert {f"{url}/verify", f"{url}/console", f"{url}/api/v1/openapi.json"} <= links
        if (shots := _shots_dir()) is not None:
            shots.mkdir(parents=True, exist_ok=True)
            driver.set_window_size(1280, 800)
            driver.get(url + "/")
            _full_page_shot(driver, shots / "home.png", 1280)
            driver.get(url + "/console")
            _full_page_shot(driver, shots / "dashboard.png", 1280)
    finally:
        driver.delete_all_cookies()
        driver.set_window_size(1200, 1000)


# -- the camera ----------------------------------------------------------------------------------


def write_y4m(png: bytes, path: Path, *, width: int = 640, height: int = 480, frames: int = 10) -> None:
    """A YUV4MPEG2 video of the QR picture centred on white: the header line, then per frame
    ``FRAME`` and the raw I420 planes (Y full size, U and V a quarter each, neutral 128)."""
    from PIL import Image

    qr = Image.open(io.BytesIO(png)).convert("L")
    side = min(width, height) - 80
    qr = qr.resize((side, side), Image.NEAREST)
    canvas = Image.new("L", (width, height), 255)
    canvas.paste(qr, ((width - side) // 2, (height - side) // 2))
    luma = canvas.tobytes()
    chroma = bytes([128]) * (width // 2 * height // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)


@pytest.fixture
def camera_browser(tmp_path: Path, demo_server):
    """A Chromium of its own whose camera shows a rendered service code (a y4m file), with
    BarcodeDetector removed from every page, as on Firefox, Safari and desktop Chrome."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        if os.environ.get("CI") == "true":
            pytest.fail("headless Chromium with its driver is required in CI")
        pytest.skip("headless Chromium with its driver is not installed")
    licence = _sample_licence(demo_server)
    issuer_key = (demo_server.home / "issuer.key").read_text().strip()
    png, _ = _get(f"{demo_server.url}/api/v1/licences/{licence}/code?format=png", key=issuer_key)
    video = tmp_path / "code.y4m"
    write_y4m(png, video)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=zh-CN",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        "--window-size=375,812",
    ):
        options.add_argument(flag)
    drv = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    drv.set_page_load_timeout(WAIT)
    drv.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "delete window.BarcodeDetector; delete Window.prototype.BarcodeDetector;"},
    )
    try:
        yield drv
    finally:
        drv.quit()


def test_camera_scan_without_barcode_detector(camera_browser, demo_server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = camera_browser
    url = demo_server.url
    licence = _sample_licence(demo_server)
    driver.get(f"{url}/verify")
    assert driver.execute_script("return 'BarcodeDetector' in window") is False
    scan = WebDriverWait(driver, WAIT).until(ec.element_to_be_clickable((By.ID, "scan")))
    scan.click()
    section = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "verdict")))
    assert section.get_attribute("data-via") == "camera:zxing-wasm"
    assert section.get_attribute("data-indication") == "PASSED", section.text
    assert "有效" in section.text and "Valid" in section.text and licence in section.text
    assert driver.find_element(By.ID, "issuer-region").get_attribute("data-region") == "320000"
    assert _errors(driver) == []
    if (shots := _shots_dir()) is not None:
        shots.mkdir(parents=True, exist_ok=True)
        driver.execute_script("window.scrollTo(0, 0)")
        assert driver.save_screenshot(str(shots / "verify-phone.png"))
