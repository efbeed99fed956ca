"""The DeployPath port: one way a deploy can run (a CI provider, the platform, this machine)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel


class PathError(Exception):
    """A path could not be checked or triggered. The message is one line for the user."""


@dataclass(frozen=True)
class Availability:
    """``settled``: the answer is the configuration's, not a passing outage (the path cannot
    deploy this environment at all), so the failover does not put the path in cool-down."""

    ok: bool
    reason: str = ""
    settled: bool = False


@dataclass(frozen=True)
class RunOutcome:
    """How one run of a path ended.

    ``started`` tells whether the deploy itself began: a run refused before any step (billing,
    a pipeline that errored at setup) did not deploy anything, so failing over is safe; one that
    failed later may have deployed, so the pipeline decides (verify, roll back) instead.
    ``url`` is what to show the user (the run's page, or the release a platform serves);
    ``log_url`` the run's page when the API gives one (a GitHub deployment status's log_url).
    ``started_at``/``completed_at``: the run's start and end as the provider reports them
    (None when it does not), for the CI minutes the analytics count.
    """

    run_id: str
    ok: bool
    conclusion: str
    started: bool = True
    detail: str = ""
    url: str | None = None
    log_url: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


# A path whose run is the pipeline in this process calls this with (version, commit,
# environment); whether the deploy succeeded.
Runner = Callable[[str, str | None, str], bool]


class DeployPath(Protocol):
    """One way a deploy can run.

    Constructor contract (what the ``safeship.paths`` entry point names): a class with
    ``configured(settings: PathsSettings, runner: Runner | None) -> DeployPath``, which reads
    its own table of ``[paths]`` (PathError, one line, when it is missing). ``runner`` runs the
    pipeline here, for a path whose run is this process's (``in_process``); None when the path
    is only checked (``safeship paths check``). ``PathDefaults`` gives the usual answers of
    ``in_process``, ``run_url`` and ``refuses``.
    """

    name: str

    @property
    def in_process(self) -> bool:
        """Whether its run is the normal pipeline in this process (local, railway-native:
        ``safeship.paths.local.InProcessPath``), reported and recorded like any deploy from
        here; False: it starts a job elsewhere (a CI workflow that runs ``safeship deploy``)."""
        ...

    def is_available(self) -> Availability:
        """Whether a deploy through this path can start now, and why not. Never raises."""
        ...

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        """Start a run; its id. PathError when it cannot start."""
        ...

    def follow(self, run_id: str) -> RunOutcome:
        """Wait (bounded) until the run ends. PathError when it cannot be followed."""
        ...

    def run_url(self, run_id: str) -> str | None:
        """The page of a run it triggered, when its API answered the trigger with one (a
        GitHub deployment's log_url from the start); else None."""
        ...

    def refuses(self, environment: str, target: BaseModel) -> str | None:
        """Why it cannot deploy ``environment``, whose ``[target]`` settings are ``target``
        (railway-native for a target that is not railway); None when it can. The path then
        counts as unavailable for that deploy."""
        ...


class PathDefaults:
    """The usual answers of ``DeployPath`` members, for a path to inherit: a run elsewhere,
    no page known at trigger, any environment."""

    @property
    def in_process(self) -> bool:
        return False

    def run_url(self, run_id: str) -> str | None:
        return None

    def refuses(self, environment: str, target: BaseModel) -> str | None:
        return None


# The variables a CI sets in every job, and the deploy path a deploy run in that job took.
CI_PATHS = (("GITHUB_ACTIONS", "github-actions"), ("CIRCLECI", "circleci"))


def ci_path(environ: Mapping[str, str] | None = None) -> str | None:
    """The CI path this process runs in (a workflow a CI path started runs ``safeship deploy``
    there): "github-actions" when GITHUB_ACTIONS=true, "circleci" when CIRCLECI=true, else None.
    Documented by GitHub (https://docs.github.com/en/actions/reference/variables-reference:
    GITHUB_ACTIONS "always set to true" in a workflow) and CircleCI
    (https://circleci.com/docs/reference/variables/: CIRCLECI "true")."""
    env = os.environ if environ is None else environ
    for variable, path in CI_PATHS:
        if env.get(variable, "").strip().lower() == "true":
            return path
    return None


def ci_path_note(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{"path": ...}`` for a deployment recorded from inside a CI job (``ci_path``), else {}."""
    path = ci_path(environ)
    return {"path": path} if path else {}


def token_from(explicit: str | None, env_name: str) -> str | None:
    """The token given, else the one in the environment variable ``env_name`` (blank: none)."""
    return explicit or os.environ.get(env_name, "").strip() or None


def provider_time(value: object) -> datetime | None:
    """A CI provider's ISO 8601 timestamp (``2026-11-30T10:00:00Z``) as an aware datetime;
    None for anything else (missing, not a string, no time zone)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
