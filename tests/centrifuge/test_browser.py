"""The example chat (php/examples/chat) in headless Chromium: the page comes from rr's
static middleware, joins the lobby over the built-in endpoint, and shows a line that
PHP published through centrifuge.Publish and one the page itself sent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.centrifuge.rawws import RawWS
from tests.helpers import ROOT, RRProcess, free_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
CHAT = ROOT / "php" / "examples" / "chat"
CLIENT_JS = Path(__file__).parent / "js" / "node_modules" / "centrifuge" / "dist" / "centrifuge.js"


def chat_config(http: int, ws: int, rpc: int) -> str:
    text = (CHAT / ".rr.yaml").read_text()
    text = text.replace("php worker.php", f"php {CHAT / 'worker.php'}")
    return (text.replace("127.0.0.1:8080", f"127.0.0.1:{http}")
            .replace("127.0.0.1:8000", f"127.0.0.1:{ws}")
            .replace("127.0.0.1:6001", f"127.0.0.1:{rpc}"))


def test_chat_page_shows_php_and_own_messages(tmp_path: Path) -> None:
    if shutil.which(CHROMIUM) is None or not CLIENT_JS.is_file():
        pytest.fail("chromium or tests/centrifuge/js/node_modules missing: run scripts/setup.sh")
    from playwright.sync_api import sync_playwright

    public = tmp_path / "public"
    shutil.copytree(CHAT / "public", public)
    shutil.copy(CLIENT_JS, public / "centrifuge.js")
    http, ws, rpc = free_port(), free_port(), free_port()
    with RRProcess(chat_config(http, ws, rpc), tmp_path) as _, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page: Any = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"http://127.0.0.1:{http}/index.html"
                      f"?ws=ws://127.0.0.1:{ws}/connection/websocket")
            page.fill("#name", "tester")
            page.click("#join button")
            page.wait_for_selector("body[data-joined=yes]", timeout=60000)
            admin = RawWS(ws)
            admin.send('{"id":1,"connect":{"data":{"name":"admin"}}}')
            admin.text()
            admin.send('{"id":2,"rpc":{"method":"announce","data":{"text":"welcome!"}}}')
            assert json.loads(admin.text())["rpc"]["data"] == {"ok": True}
            page.wait_for_selector("#log p.system:has-text('system: welcome!')", timeout=60000)
            page.fill("#text", "hello from the browser")
            page.click("#say button")
            page.wait_for_selector("#log p:has-text('tester: hello from the browser')",
                                   timeout=60000)
            assert problems == []
            admin.close()
        finally:
            browser.close()
