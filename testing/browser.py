"""Pytest fixtures for the dashboard's browser tests: one Chromium per worker, a served app.

Playwright drives Debian's Chromium (/usr/bin/chromium; `playwright install` is never run:
nothing is downloaded). The browser starts once per xdist worker (session scope: starting it
is the slow part, ~0.5 s); each test gets a fresh context (cookies, storage) and page.

``serve_app(app)`` runs an ASGI app under uvicorn in a thread on a free loopback port, for as
long as the ``with`` block lasts, so a test's browser talks to the real server over HTTP.
Screenshots go to ``$SAFESHIP_TEST_ARTIFACTS`` (default ``test-artifacts/``, git-ignored).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from safeship._processes import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium in a container: no sandbox (no user namespaces), no GPU, no network
# traffic of its own (updates, sync, QUIC) so a test sees only the requests it makes.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A page action or assertion that takes longer than this is a failure, not a wait.
PAGE_TIMEOUT_MS = 5_000
SERVER_START_TIMEOUT = 10.0


def artifacts_dir() -> Path:
    """Where the browser tests keep screenshots (created on first use)."""
    directory = Path(os.environ.get("SAFESHIP_TEST_ARTIFACTS", "test-artifacts"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as ``NAME.png`` among the test artifacts."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver process, once per worker."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-test-deps.sh as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """Headless Chromium, started once per worker and shared by its tests."""
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh context per test: no cookie or storage leaks from one test to the next."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    """A page in this test's context (closed with it)."""
    return browser_context.new_page()


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn in a thread; yields its base URL (no trailing /).

    The server stops (gracefully, bounded) when the block ends.
    """
    import uvicorn

    port = free_port()
    # A live stream still open when the block ends is cut after 2 s, not uvicorn's wait.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the test server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT)
