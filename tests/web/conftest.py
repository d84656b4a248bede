"""A live server on a free port with a seeded demo database, and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from smart365.bootstrap import System, bootstrap, records
from smart365.core.settings import Settings
from smart365.sim.demo import DEMO_PASSWORD, seed_demo
from smart365.sim.live import LiveConfig, LivePlant
from smart365.web.app import create_app

CHROMIUM = os.environ.get("SMART365_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SMART365_SCREENSHOTS")  # set to a folder to keep page screenshots


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_demo(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    firms: int,
    live: LiveConfig | None = None,
    prepare: Callable[[System], None] | None = None,
) -> Iterator[str]:
    """A demo-seeded app on a free port (with the live plant when ``live`` says how, after ``prepare`` has
    added what a test needs to the system); yields its base URL."""
    settings = Settings(data_dir=tmp_path_factory.mktemp(name), secret_key=f"browser-{name}", warm_up=False)
    db = records(settings)
    seed_demo(db, firms=firms)
    system = bootstrap(settings, db=db)
    if prepare is not None:
        prepare(system)
    if live is not None:
        system.plugins.append(LivePlant(live))
    app = create_app(system)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 90  # a live plant backfills its history first
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, f"the {name} server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        db.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_demo(tmp_path_factory, "live", firms=60) as url:
        yield url


#: Turns each Content-Security-Policy violation into a console error a listener can read.
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""


class WatchedBrowser:
    """The browser, whose every page records the Content-Security-Policy violations it reports."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self.violations: list[str] = []

    def new_page(self, **kwargs: Any) -> Any:
        page = self._browser.new_page(**kwargs)
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", lambda message: self._note(page.url, message))
        return page

    def _note(self, url: str, message: Any) -> None:
        text = message.text
        if message.type == "error" and (text.startswith("CSP violation") or "Content Security Policy" in text):
            self.violations.append(f"{url}: {text}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(autouse=True)
def no_csp_violation(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every browser test fails when the CSP blocked anything on its pages, whatever the test looked at."""
    yield
    browser = request.node.funcargs.get("browser")
    if isinstance(browser, WatchedBrowser):
        found, browser.violations[:] = list(browser.violations), []
        assert not found, f"Content-Security-Policy violations: {found}"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield WatchedBrowser(browser)
        browser.close()


def logged_in(
    browser: object, base_url: str, email: str = "member@hanbit.example", width: int = 1360, height: int = 1000
) -> Any:
    """A new Korean page logged in to ``base_url`` as ``email`` with the demo password."""
    page = browser.new_page(locale="ko-KR", viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    page.goto(f"{base_url}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="로그인").click()
    return page


def open_own_firm(page: Any) -> Any:
    """From a member's home (where login lands) to the firm's own page."""
    page.get_by_test_id("firm-details-link").click()
    return page


def shot(page: object, name: str) -> None:
    """Keep a full-page screenshot when SMART365_SCREENSHOTS names a folder."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
