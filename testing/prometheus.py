"""Pytest plugin: a real Prometheus server (the Debian package's binary), one per test worker.

Fixture ``prometheus`` (session-scoped, so once per xdist worker): a generated config with
``scrape_interval`` 1 s on a free loopback port, scraping the jobs in ``JOBS``, each at a port
reserved now on 127.0.0.1 (``prometheus.target_port(job)``): a test binds its exporter there.
Prometheus applies target changes at most every 5 s, so targets are fixed at its start rather
than added per test; a job nobody serves yet is just down. It waits for ``/-/ready`` and stops
with SIGTERM at the end (then SIGKILL, by the process id it started).

The first sample is queryable 5-6 s after the start (/work/shared/TESTING.md part 2 §1):
``wait_for`` polls a query until it answers, bounded.

A missing ``prometheus`` binary fails the test rather than skip it: CI installs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from safeship._processes import free_port

# Scrape targets, fixed at start: the builtin router's metrics listener and a test service.
JOBS = ("router", "service")
_READY_TIMEOUT = 15.0


@dataclass
class PrometheusServer:
    url: str
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    directory: Path

    def target_port(self, job: str) -> int:
        return self.ports[job]

    def query(self, query: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=5) as response:
            body: dict[str, Any] = json.load(response)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(
        self,
        query: str,
        done: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Poll ``query`` until ``done(result)`` (by default: any sample), within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(query)
            if done(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer to {query} within {timeout} s: {result}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_prometheus(directory: Path, jobs: tuple[str, ...] = JOBS) -> PrometheusServer:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.fail("prometheus is not installed (apt-get install prometheus)")
    ports = {job: free_port() for job in jobs}
    scrapes = "".join(
        f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        for job, port in ports.items()
    )
    config = directory / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n" + scrapes,
        encoding="utf-8",
    )
    port = free_port()
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    server = PrometheusServer(f"http://127.0.0.1:{port}", ports, process, directory)
    deadline = time.monotonic() + _READY_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(server.url + "/-/ready", timeout=1):
                return server
        except OSError:  # refused, or 503 until the TSDB is open
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                tail = (directory / "prometheus.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"prometheus did not become ready:\n{tail}")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    with tempfile.TemporaryDirectory(prefix="safeship-prometheus-") as tmp:
        server = start_prometheus(Path(tmp))
        try:
            yield server
        finally:
            server.stop()
