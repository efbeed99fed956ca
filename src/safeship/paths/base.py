"""The DeployPath port: one way a deploy can run (a CI provider, the platform, this machine)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol


class PathError(Exception):
    """A path could not be checked or triggered. The message is one line for the user."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class RunOutcome:
    """How one run of a path ended.

    ``started`` tells whether the deploy itself began: a run refused before any step (billing,
    a pipeline that errored at setup) did not deploy anything, so failing over is safe; one that
    failed later may have deployed, so the pipeline decides (verify, roll back) instead.
    ``url`` is what to show the user (the run's page, or the release a platform serves);
    ``log_url`` the run's page when the API gives one (a GitHub deployment status's log_url).
    """

    run_id: str
    ok: bool
    conclusion: str
    started: bool = True
    detail: str = ""
    url: str | None = None
    log_url: str | None = None


class DeployPath(Protocol):
    """A path may also have ``run_url(run_id) -> str | None``: the page of a run it triggered,
    when its API answered the trigger with one (a GitHub deployment's log_url from the start).
    """

    name: str

    def is_available(self) -> Availability:
        """Whether a deploy through this path can start now, and why not. Never raises."""
        ...

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        """Start a run; its id. PathError when it cannot start."""
        ...

    def follow(self, run_id: str) -> RunOutcome:
        """Wait (bounded) until the run ends. PathError when it cannot be followed."""
        ...


def token_from(explicit: str | None, env_name: str) -> str | None:
    """The token given, else the one in the environment variable ``env_name`` (blank: none)."""
    return explicit or os.environ.get(env_name, "").strip() or None
