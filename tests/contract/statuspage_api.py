"""A loopback status page: Atlassian Statuspage's public status API, and a plain page.

Checks written from the provider's documentation, not recorded from a live page:
- https://developer.statuspage.io (the public "Status API" of every page,
  ``GET /api/v2/status.json``: ``{"page": {id, name, url, time_zone, updated_at}, "status":
  {"indicator", "description"}}``; ``indicator`` is one of ``none``, ``minor``, ``major``,
  ``critical``; ``description`` is the page's rollup, e.g. "All Systems Operational")
- a plain status page (any URL): its HTTP status is the answer, 2xx up.

The test sets what the page says (``indicator``) and may break it (``fail``, ``hang``) like
any contract server.
"""

from __future__ import annotations

from aiohttp import web
from loopback import ContractServer

INDICATORS = ("none", "minor", "major", "critical")
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major Service Outage",
}


class StatuspageServer(ContractServer):
    hang_seconds = 2.0

    def __init__(self) -> None:
        super().__init__()
        self.indicator: str = "none"
        self.status_json_url = f"{self.url}/api/v2/status.json"
        self.page_url = f"{self.url}/"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/status.json", self._status)
        app.router.add_get("/", self._page)

    async def _status(self, request: web.Request) -> web.Response:
        if self.indicator not in INDICATORS:  # a page answering what the API never says
            return web.json_response({"status": {"indicator": self.indicator}})
        return web.json_response(
            {
                "page": {
                    "id": "kctbh9vrtdwd",
                    "name": "Platform",
                    "url": self.url,
                    "time_zone": "Etc/UTC",
                    "updated_at": "2026-11-30T23:00:00.000Z",
                },
                "status": {
                    "indicator": self.indicator,
                    "description": DESCRIPTIONS[self.indicator],
                },
            }
        )

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body>All good</body></html>", content_type="text/html")
