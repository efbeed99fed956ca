"""A small service that reads a rotated secret from its environment, for the rotation tests.

``python testing/secret_app.py --port N``: ``GET /api/health`` answers 200 ``{"status":
"healthy"}``, or 500 when ``SECRET_APP_HEALTHY_SHA`` is set and ``JWT_SECRET``'s digest is
another (a release that cannot work with a rotated value); ``GET /secret`` answers the SHA-256
digests (16 hex digits, never the values) of ``JWT_SECRET`` and ``JWT_SECRET_PREVIOUS`` and the
release's version; ``GET /api/v1/items`` answers a small list. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType


def digest(value: str | None) -> str | None:
    """What the tests compare: a SHA-256 prefix of the value (None: not set)."""
    return None if not value else hashlib.sha256(value.encode()).hexdigest()[:16]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        secret = os.environ.get("JWT_SECRET")
        if self.path == "/api/health":
            wanted = os.environ.get("SECRET_APP_HEALTHY_SHA")
            healthy = not wanted or digest(secret) == wanted
            self._json(200 if healthy else 500, {"status": "healthy" if healthy else "unhealthy"})
        elif self.path == "/secret":
            self._json(
                200,
                {
                    "version": os.environ.get("SAFESHIP_VERSION"),
                    "sha": digest(secret),
                    "previous_sha": digest(os.environ.get("JWT_SECRET_PREVIOUS")),
                },
            )
        elif self.path == "/api/v1/items":
            self._json(200, [{"id": 1}])
        else:
            self._json(404, {"error": "not found"})

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Release-Version", os.environ.get("SAFESHIP_VERSION", "dev"))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
