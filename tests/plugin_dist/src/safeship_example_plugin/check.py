"""A check that a file exists (say, a feature flag file the release needs).

[[environments.demo.health.checks]]
type = "example"
name = "flags"
path = "${FLAGS_DIR}/flags.json"     # ${NAME}: an environment variable
critical = false
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from safeship.config.health import PluginCheckSettings
from safeship.health.base import CheckResult, Values


class ExampleCheck:
    level = 2  # runs with the dependency checks

    def __init__(self, settings: PluginCheckSettings, values: Values) -> None:
        self.name = f"example:{settings.name}"
        self.timeout: float = settings.timeout
        self.critical: bool = settings.critical
        self.path = Path(str(values.value(settings.setting("path", ""), ("path",))))

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]:
        start = time.perf_counter()
        found = self.path.is_file()
        return [
            CheckResult(
                name=self.name,
                status="ok" if found else "failed",
                latency_ms=(time.perf_counter() - start) * 1000,
                detail="" if found else f"{self.path.name} is missing",
                critical=self.critical,
                level=self.level,
            )
        ]
