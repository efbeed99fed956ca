"""The shared browser fixture (testing/browser.py) drives the machine's Chromium against a
server it started."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from testing.browser import serve_app

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from starlette.requests import Request


async def _hello(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>hello</title><p id=greeting>hello</p>")


def test_chromium_loads_a_page_from_a_served_app(page: Page) -> None:
    app = Starlette(routes=[Route("/", _hello)])
    with serve_app(app) as base_url:
        page.goto(base_url + "/")
        assert page.title() == "hello"
        assert page.locator("#greeting").inner_text() == "hello"
