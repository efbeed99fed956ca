"""Remake the dashboard's screenshots in docs/images/ (docs/dashboard.md shows them).

    PYTHONPATH=src:. .venv/bin/python scripts/dashboard_screenshots.py

Seeds a small project (testing/dashboard.py: two environments, a rollback, a running canary),
serves it and photographs the main pages in Debian's Chromium (never `playwright install`).
The live rollback's picture comes from the browser test run instead:
test-artifacts/dashboard-live-rollback.png (tests/browser/test_dashboard_browser.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from safeship.dashboard import create_app
from testing.browser import CHROMIUM, CHROMIUM_ARGS, serve_app
from testing.dashboard import seed_project

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as root:
        project = seed_project(Path(root), hostile=False)
        pages = {
            "dashboard-overview": "/",
            "dashboard-history": "/history?environment=production",
            "dashboard-deployment": f"/deployments/{project.rolled_back}",
            "dashboard-analytics": "/analytics?environment=production&since=7d",
        }
        with serve_app(create_app(project.loaded)) as base, sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            for name, path in pages.items():
                page.goto(base + path)
                page.wait_for_load_state("load")
                page.screenshot(path=str(IMAGES / f"{name}.png"), full_page=False)
                print(IMAGES / f"{name}.png")
            browser.close()


if __name__ == "__main__":
    main()
