"""The local path: run the deploy from this machine (the emergency path). Always available.

The deploy itself is the caller's (the pipeline runs it in-process): ``runner`` is called by
``follow`` with (version, commit, environment) and returns whether the deploy succeeded.
``InProcessPath`` is that shape, shared with the railway-native path: a path whose run is the
normal pipeline in this process (lock, registry row with the path, env gate, target deploy,
health verification, rollback, events), not a job somewhere else.
"""

from __future__ import annotations

import itertools
import time
from typing import Final

from safeship.paths.base import Availability, PathDefaults, PathError, Runner, RunOutcome
from safeship.paths.settings import PathsSettings

__all__ = ["EMERGENCY_PATH", "InProcessPath", "LocalPath", "Runner"]

# The path recorded on an emergency deploy's row (`safeship deploy --emergency`: this machine,
# CI skipped); the outage gate lets such a deploy through a paused environment.
EMERGENCY_PATH: Final = "local-emergency"


class InProcessPath(PathDefaults):
    """A path whose run is ``runner`` (the pipeline, in this process)."""

    name = "in-process"

    @property
    def in_process(self) -> bool:
        return True

    def __init__(self, runner: Runner | None = None) -> None:
        self._runner = runner
        self._pending: dict[str, tuple[str, str | None, str]] = {}
        self._ids = itertools.count(1)

    def is_available(self) -> Availability:
        return Availability(True, "this machine")

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        run_id = f"{self.name}-{int(time.time())}-{next(self._ids)}"
        self._pending[run_id] = (version, commit, environment)
        return run_id

    def follow(self, run_id: str) -> RunOutcome:
        if run_id not in self._pending:
            raise PathError(f"{self.name}: no run {run_id}")
        if self._runner is None:
            raise PathError(f"{self.name}: no deploy runner was given to the {self.name} path")
        ok = self._runner(*self._pending.pop(run_id))
        return RunOutcome(run_id, ok, "success" if ok else "failure")


class LocalPath(InProcessPath):
    name = "local"

    @classmethod
    def configured(cls, settings: PathsSettings, runner: Runner | None) -> LocalPath:
        return cls(runner)
