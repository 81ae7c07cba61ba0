"""docs/img/page.png: `nmt serve`'s page (GET /) in headless chromium, a sentence typed and translated.

    python scripts/screenshot_page.py --run runs/tatoeba-en-de --text "Hello. How are you?" --out docs/img/page.png
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--text", default="Hello. How are you? I paid 249 euros for 3 tickets.")
    parser.add_argument("--out", type=Path, default=Path("docs/img/page.png"))
    args = parser.parse_args()
    import uvicorn
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from nmt.serve import TranslatorEngine, create_app
    from nmt.translate import Translator
    from tests.test_page import _browser

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(TranslatorEngine(Translator.load(args.run, device="cpu"))),
                                           host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    browser = _browser()
    try:
        browser.set_window_size(1000, 520)
        browser.get(f"http://127.0.0.1:{port}/")
        browser.find_element(By.ID, "text").send_keys(args.text)
        WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "result").text.strip())
        time.sleep(0.5)
        browser.save_screenshot(str(args.out))
    finally:
        browser.quit()
        server.should_exit = True


if __name__ == "__main__":
    main()
