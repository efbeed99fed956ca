"""Writing what the analytics count but no deployment row holds: the pre-push gate's runs and
the CI runs of the deploy paths.

Neither may cost what it measures: a registry that is slow, locked or unreachable never
blocks a push nor changes its verdict, and never fails a deploy. Each write runs on a daemon
thread that is waited for at most ``WRITE_TIMEOUT`` seconds; whatever goes wrong is dropped
(the figure is missing from the analytics, nothing else).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from safeship.config.models import SafeshipConfig
    from safeship.registry import Registry
    from safeship.registry.analytics_queries import PrepushVerdict

# The longest a push waits for its run to be recorded (a PostgreSQL registry that does not
# answer: the push goes on, the run is not counted).
WRITE_TIMEOUT: Final = 2.0


class Write:
    """A write running on a daemon thread; ``wait`` for it, a bounded time."""

    def __init__(self, write: Callable[[], None]) -> None:
        self._write = write
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="safeship-analytics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._write()
        except Exception:  # a figure for the analytics; never the caller's failure
            return
        self._finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether it finished without an error within ``timeout`` seconds (default
        ``WRITE_TIMEOUT``). Never raises."""
        self._thread.join(WRITE_TIMEOUT if timeout is None else timeout)
        return self._finished.is_set()


def bounded(write: Callable[[], None], timeout: float | None = None) -> bool:
    """Run ``write`` on a daemon thread for at most ``timeout`` seconds (``WRITE_TIMEOUT``);
    whether it finished without an error. Never raises."""
    return Write(write).wait(timeout)


def registry_url_of(config: SafeshipConfig, config_path: Path) -> str:
    """The registry URL of the safeship.toml at ``config_path`` (a relative SQLite path is the
    config directory's), as every command opens it."""
    from safeship.config.loader import LoadedConfig

    return LoadedConfig(config, config_path).registry_url()


def record_prepush_run(
    config: SafeshipConfig | None,
    config_path: Path | None,
    *,
    ran_at: datetime,
    repository: str,
    branch: str | None,
    commit_sha: str | None,
    verdict: PrepushVerdict,
    duration_seconds: float,
    failed_checks: Sequence[str],
) -> bool:
    """Record one run of the gate on a push in the project's registry, when the project has
    one: a PostgreSQL registry, or a SQLite file that exists already (a push does not create
    one). Whether it was recorded; never raises, waits at most ``WRITE_TIMEOUT`` seconds."""
    if config is None or config_path is None:
        return False
    url = registry_url_of(config, config_path)

    def write() -> None:
        from safeship.registry import Registry

        with Registry(url) as registry:
            if not registry.exists:
                raise FileNotFoundError(url)
            registry.add_prepush_run(
                ran_at=ran_at,
                repository=repository[:255],
                branch=branch[:255] if branch else None,
                commit_sha=commit_sha,
                verdict=verdict,
                duration_seconds=max(0.0, duration_seconds),
                failed_checks=failed_checks,
            )

    return bounded(write)


def record_ci_run(
    registry: Registry,
    *,
    path: str,
    run_id: str,
    environment: str,
    version: str | None,
    conclusion: str,
    started_at: datetime | None,
    completed_at: datetime | None,
) -> Write | None:
    """Start recording how a CI run a deploy path followed ended (its times as the provider
    gave them; without an end time, nothing is recorded: None). The caller goes on at once
    (a failover is not delayed) and ``wait``s for the write when the deploy is over."""
    if completed_at is None:
        return None
    end = completed_at

    def write() -> None:
        registry.record_ci_run(
            path=path,
            run_id=run_id[:255],
            environment=environment,
            version=version,
            completed_at=end,
            conclusion=conclusion[:32],
            started_at=started_at,
        )

    return Write(write)
