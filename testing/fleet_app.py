"""A tiny service for the fleet's tests, run on the fake hosts (stdlib only, one file).

Listens on 0.0.0.0:$PORT and answers every GET with its ``SAFESHIP_VERSION`` (and ``PORT``);
``GET /crash`` makes this instance exit with code 3 at once: a crash on demand on one host
(each host's instance is reached at its own address). ``GET /api/health`` answers
``{"status": "healthy"}``, safeship's level 1. A version named ``*-errors`` answers
every other request under /api/v1 with 500 (an error rate the rules roll back).
``pack_app`` puts this file in a tarball, the build artifact the ssh target ships (run it
with ``["python", "app.py"]``).
"""

from __future__ import annotations

import os
import tarfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMAND = ["python", "app.py"]


_ERRORS = os.environ.get("SAFESHIP_VERSION", "").endswith("-errors")
_answered = [0]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/crash":
            os._exit(3)
        body = f"{os.environ.get('SAFESHIP_VERSION', '?')} {os.environ.get('PORT', '?')}\n"
        if self.path == "/api/health":  # safeship's level 1 (health.path's default)
            body = '{"status": "healthy"}'
        data = body.encode()
        failing = False
        if _ERRORS and self.path.startswith("/api/v1"):  # the load's requests, not health
            _answered[0] += 1
            failing = _answered[0] % 2 == 0
        self.send_response(500 if failing else 200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def pack_app(directory: Path, version: str) -> Path:
    """This app as a tarball ``app-<version>.tar.gz`` in ``directory`` (``app.py`` in it)."""
    directory.mkdir(parents=True, exist_ok=True)
    tarball = directory / f"app-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(__file__, arcname="app.py")
    return tarball


def pack_wheel(directory: Path) -> Path:
    """This app as a wheel, ``fleet_app-1.0-py3-none-any.whl`` in ``directory``: the module
    ``fleet_app`` (run it with ``["python", "-m", "fleet_app"]`` in the release's venv)."""
    import zipfile

    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / "fleet_app-1.0-py3-none-any.whl"
    files = {
        "fleet_app.py": Path(__file__).read_text(),
        "fleet_app-1.0.dist-info/METADATA": (
            "Metadata-Version: 2.1\nName: fleet-app\nVersion: 1.0\n"
        ),
        "fleet_app-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: testing\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{name},," for name in files] + ["fleet_app-1.0.dist-info/RECORD,,"]
    files["fleet_app-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), _Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
