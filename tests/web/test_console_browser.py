"""The console driven by a real headless Chromium (Debian `chromium` + `chromium-driver`, through
Selenium) against the live demo server: sign in, issue through the form, find the licence in the
list, open its public page and see the holder masked; revoke it and see the public page say so.

Without Chromium or its driver these tests skip with the reason; in CI (`CI=true`) they fail,
because `make test` installs both.
"""

from __future__ import annotations

from console_helpers import COMPANY, PERSON_ID, WAIT


def test_issue_in_the_console_then_see_it_listed_and_masked_publicly(browser, demo_server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT)
    url = demo_server.url
    issuer_key = (demo_server.home / "issuer.key").read_text().strip()
    out = "".join(demo_server.output)
    assert f"{url}/console" in out and "sample licence 1.2.156.3005.2." in out

    # Sign in: /console sends a browser without a session to the log-in page.
    driver.get(f"{url}/console")
    wait.until(ec.url_to_be(f"{url}/console/login"))
    driver.find_element(By.ID, "api_key").send_keys(issuer_key)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(ec.url_matches(r"/console/?$"))  # the dashboard
    assert "signed in as issuer" in driver.find_element(By.TAG_NAME, "main").text
    driver.find_element(By.LINK_TEXT, "证照列表 Licences").click()
    wait.until(ec.presence_of_element_located((By.ID, "licences")))
    sample_rows = driver.find_elements(By.CSS_SELECTOR, "#licences tbody tr")
    assert sample_rows, "the demo's sample licence is listed"

    # Issue a 营业执照 to a person (个体工商户) through the generated form.
    driver.find_element(By.LINK_TEXT, "签发 Issue").click()
    wait.until(ec.presence_of_element_located((By.ID, "issue-form")))
    typed = {
        "holder.name": "张三丰",
        "holder.id": PERSON_ID,
        "fields.name": "南京张三丰小吃店",
        "fields.uscc": COMPANY,
        "fields.legal_representative": "张三丰",
        "fields.business_scope": "餐饮服务；食品销售",
        "fields.domicile": "南京市秦淮区夫子庙1号",
    }
    for field_id, value in typed.items():
        driver.find_element(By.ID, field_id).send_keys(value)
    Select(driver.find_element(By.ID, "holder.id_type")).select_by_value("111")
    Select(driver.find_element(By.ID, "fields.entity_type")).select_by_visible_text("个体工商户")
    # A date input's typing order follows the browser locale; set its value as a date picker would.
    date_input = driver.find_element(By.ID, "fields.established_on")
    driver.execute_script("arguments[0].value = arguments[1];", date_input, "2021-03-01")
    driver.find_element(By.ID, "issue-submit").click()
    identifier_el = wait.until(ec.presence_of_element_located((By.ID, "licence-identifier")))
    identifier = identifier_el.text
    assert identifier.startswith("1.2.156.3005.2.") and driver.current_url == f"{url}/console/licences/{identifier}"
    assert driver.find_element(By.ID, "licence-status").get_attribute("data-status") == "active"

    # It is in the list, newest first.
    driver.find_element(By.LINK_TEXT, "证照列表 Licences").click()
    wait.until(ec.presence_of_element_located((By.ID, "licences")))
    first = driver.find_element(By.CSS_SELECTOR, "#licences tbody tr")
    assert first.get_attribute("data-id") == identifier and "张三丰" in first.text

    # Its public page shows the holder masked, and neither the name nor the number in full.
    driver.find_element(By.CSS_SELECTOR, f'tr[data-id="{identifier}"] a').click()
    wait.until(ec.presence_of_element_located((By.ID, "public-link"))).click()
    wait.until(ec.url_to_be(f"{url}/licences/{identifier}"))
    assert driver.find_element(By.ID, "holder-name").text == "张**"
    assert driver.find_element(By.ID, "holder-id").text == PERSON_ID[:6] + "*" * 8 + PERSON_ID[-4:]
    page = driver.page_source
    assert "张三丰" not in page and PERSON_ID not in page and "南京张三丰小吃店" not in page
    assert driver.find_element(By.ID, "licence-status").get_attribute("data-status") == "active"

    # Revoke it through the form; the public page says so.
    driver.get(f"{url}/console/licences/{identifier}")
    driver.find_element(By.ID, "revoke-reason").send_keys("测试注销")
    driver.find_element(By.ID, "revoke-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "licence-status"), "revoked"))
    driver.get(f"{url}/licences/{identifier}")
    assert driver.find_element(By.ID, "licence-status").get_attribute("data-status") == "revoked"

    shot = demo_server.home.parent / "console-public.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 5000
