"""Metrics for Prometheus: the deployments' exposition (``safeship metrics``), printed once or
served on an address until stopped."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safeship.core._records import HistoryQuery

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

    from safeship.config import LoadedConfig

# The deployments a scrape reads (newest first): counters cover this many.
DEPLOYMENTS_READ = 10_000


def _registry(loaded: LoadedConfig) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry

    from safeship.core._deployments import history
    from safeship.metrics.deployments import DeploymentCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        DeploymentCollector(lambda: history(loaded, HistoryQuery(None, DEPLOYMENTS_READ)))
    )
    return registry


def metrics_exposition(loaded: LoadedConfig) -> str:
    """The deployment metrics in Prometheus' text format, read from the registry now."""
    from prometheus_client import generate_latest

    return generate_latest(_registry(loaded)).decode()


@dataclass
class MetricsServer:
    """``GET /metrics`` served on a thread; each scrape reads the registry."""

    host: str
    port: int
    server: WSGIServer
    thread: threading.Thread
    stopped: threading.Event

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def wait(self, seconds: float | None = None) -> None:
        """Until :meth:`close` (or Ctrl-C in the caller), at most ``seconds``."""
        self.stopped.wait(seconds)

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_metrics(loaded: LoadedConfig, host: str, port: int) -> MetricsServer:
    """Serve the deployment metrics on ``host:port`` (OSError if it cannot listen)."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=_registry(loaded))
    bound = server.server_address[1]
    return MetricsServer(host, int(bound), server, thread, threading.Event())
