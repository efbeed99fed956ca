"""Requests to a running deployment: `safeship promote ENV`, `safeship abort ENV`, and
`safeship rollback ENV` while a deploy runs.

The running deploy holds the environment's lease, so these commands do not take it: they leave
a row in the registry's ``deployment_requests`` (``requested_by``: the command that asked),
which the deploy reads every REQUEST_POLL_INTERVAL while it bakes and marks handled before it
acts on it. An abort
counts at any moment (progressing, monitoring, paused; one left before the first bake is read
when it begins); a promote only at a ``pause_at`` step.
"""

from __future__ import annotations

from typing import Literal

from safeship.config import LoadedConfig
from safeship.pipeline.environment import open_environment
from safeship.registry import DeploymentRecord, Registry

Request = Literal["promote", "abort"]


class RequestRefused(Exception):
    """No deployment can take the request. The message is one line."""


class NotPaused(RequestRefused):
    """`safeship promote`: no deployment of the environment is waiting at a pause."""


class NotRunning(RequestRefused):
    """`safeship abort`: no deployment of the environment is running."""


def request(
    loaded: LoadedConfig, environment: str, action: Request, requested_by: str | None = None
) -> DeploymentRecord:
    """Ask the deployment running in ``environment`` to roll back (``abort``), or the one
    paused there to go on (``promote``); the deployment. ``requested_by``: who asks, named in
    the rollback's reason (default: the action's own command, "safeship abort")."""
    open_environment(loaded, environment)  # an unknown environment is an error
    with Registry(loaded.registry_url()) as registry:
        active = registry.active(environment)
        if action == "promote":
            active = [r for r in active if r.paused_at]
            if not active:
                raise NotPaused(f"no deployment of {environment} is paused")
        elif not active:
            raise NotRunning(f"no deployment of {environment} is running")
        record = active[0]  # newest first; the lease allows one at a time
        registry.add_request(record.id, action, requested_by or f"safeship {action}")
        return record


def abort_running(
    loaded: LoadedConfig, environment: str, *, requested_by: str | None = None
) -> DeploymentRecord | None:
    """`safeship rollback` while a deploy holds the lease: leave it an abort request (it
    rolls back to the stable release); the deployment, or None when none is running."""
    try:
        return request(loaded, environment, "abort", requested_by or "safeship rollback")
    except NotRunning:
        return None
