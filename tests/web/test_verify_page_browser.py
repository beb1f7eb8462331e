"""The public /verify page in a real headless Chromium (Debian `chromium` + `chromium-driver`,
through Selenium) against the live demo server: an uploaded QR image of a valid code shows
PASSED, a pasted tampered code FAILED, an expired dynamic code its expiry.

Without Chromium or its driver these tests skip with the reason; in CI (`CI=true`) they fail.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.request
from pathlib import Path

from console_helpers import WAIT


def _sample_licence(demo_server) -> str:
    match = re.search(r"sample licence (1\.2\.156\.3005\.2\.[0-9A-Z.]+)", "".join(demo_server.output))
    assert match, "the demo prints its sample licence"
    return match.group(1)


def _get(url: str, key: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=WAIT) as resp:
        return resp.read()


def _expired_code(home: Path, licence: str) -> tuple[str, str]:
    """A dynamic code signed with the demo region's code-signer key that expired a minute ago
    (made here, through the demo's own key store, rather than waiting out a lifetime)."""
    from sqlalchemy import select

    from trustsvc.codes.format import CodeClaims, sign_code
    from trustsvc.config import load_config
    from trustsvc.context import open_service
    from trustsvc.storage.models import CertificateRecord

    svc = open_service(load_config({"TRUSTSVC_HOME": str(home)}), {}, migrate=False)
    try:
        with svc.db.reader() as s:
            cert = s.execute(select(CertificateRecord).where(CertificateRecord.slug == "code-signer")).scalar_one()
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = CodeClaims(iss="320000", sub=licence, typ="dynamic", iat=now - 180, exp=now - 60, nonce=b"\x05" * 16)
        text = sign_code(claims, signer=svc.keystore.signer(cert.key_ref), cert_der=cert.der)
    finally:
        svc.close()
    return text, dt.datetime.fromtimestamp(now - 60, dt.UTC).isoformat().replace("+00:00", "Z")


def _verdict(driver) -> tuple[str, str]:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def read(d):  # a verdict read whole; None while the page is still being replaced
        try:
            section = d.find_element(By.ID, "verdict")
            return section.get_attribute("data-indication"), section.text
        except (NoSuchElementException, StaleElementReferenceException):
            return None

    return WebDriverWait(driver, WAIT).until(read)


def test_upload_paste_and_expiry_in_a_real_browser(browser, demo_server, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    url = demo_server.url
    licence = _sample_licence(demo_server)
    issuer_key = (demo_server.home / "issuer.key").read_text().strip()
    png = _get(f"{url}/api/v1/licences/{licence}/code?format=png", issuer_key)
    text = _get(f"{url}/api/v1/licences/{licence}/code", issuer_key).decode()
    (tmp_path / "code.png").write_bytes(png)

    # an uploaded QR image of a valid code: PASSED, in Chinese and English
    browser.get(f"{url}/verify")
    # choosing a photo submits the form by itself (a second click would race the navigation)
    browser.find_element(By.ID, "photo").send_keys(str(tmp_path / "code.png"))
    indication, shown = _verdict(browser)
    assert indication == "PASSED", shown
    assert "有效 Valid" in shown and licence in shown

    # a pasted code with one character changed: FAILED
    browser.get(f"{url}/verify")
    tampered = text[:50] + ("K" if text[50] != "K" else "L") + text[51:]
    browser.find_element(By.ID, "code").send_keys(tampered)
    browser.find_element(By.ID, "submit").click()
    indication, shown = _verdict(browser)
    assert indication == "FAILED" and "无效 Invalid" in shown, shown

    # an expired dynamic code: FAILED, naming when it expired
    expired, expiry = _expired_code(demo_server.home, licence)
    browser.get(f"{url}/verify")
    browser.find_element(By.ID, "code").send_keys(expired)
    browser.find_element(By.ID, "submit").click()
    indication, shown = _verdict(browser)
    assert indication == "FAILED" and "已过期" in shown and "expired" in shown, shown
    assert browser.find_element(By.ID, "expires").get_attribute("datetime") == expiry
