"""`nmt serve`'s page (GET /): one static file under a strict Content-Security-Policy, used in a real headless
browser (Debian's chromium + chromedriver through selenium; skipped where none is installed: .ci/run installs
one): the test types a sentence and reads the model's translation from the page."""

import shutil
import socket
import threading

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from nmt.serve import TranslatorEngine, create_app  # noqa: E402
from nmt.translate import Translator  # noqa: E402
from tests.conftest import wait_until  # noqa: E402


@pytest.fixture(scope="module")
def translator(synth_run):
    return Translator.load(synth_run, device="cpu")


def test_the_page_is_one_file_under_a_strict_policy(translator):
    with TestClient(create_app(TranslatorEngine(translator))) as client:
        answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "script-src 'sha256-" in policy and "style-src 'sha256-" in policy
    assert "http://" not in answer.text and "https://" not in answer.text  # nothing fetched from elsewhere


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("no chromium and chromedriver installed (Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_a_person_types_a_sentence_and_reads_its_translation(translator):
    import uvicorn

    browser = _browser()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(TranslatorEngine(translator)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, 30), "the server did not come up"
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: b.find_element(By.ID, "target").get_attribute("value") == "de")
        browser.find_element(By.ID, "text").send_keys("w1 w2 w3")
        expected = translator(["w1 w2 w3"])[0]
        wait.until(lambda b: b.find_element(By.ID, "result").text == expected)  # as you type
        box = browser.find_element(By.ID, "text")
        box.clear()
        browser.find_element(By.ID, "live").click()  # off: now the button translates
        box.send_keys("w4 w5")
        browser.find_element(By.ID, "translate").click()
        wait.until(lambda b: b.find_element(By.ID, "result").text == translator(["w4 w5"])[0])
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors  # a script or style the policy blocked would be logged here
    finally:
        browser.quit()
        server.should_exit = True
        thread.join(timeout=10)
