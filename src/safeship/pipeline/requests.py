"""Requests to a running deployment: `safeship promote ENV` and `safeship abort ENV`.

The running deploy holds the environment's lease, so these commands do not take it: they leave
the request in the paused deployment's registry metadata (``request``), which the deploy reads
while it waits at a ``pause_at`` step.
"""

from __future__ import annotations

from typing import Literal

from safeship.config import LoadedConfig
from safeship.pipeline.environment import open_environment
from safeship.registry import DeploymentRecord, Registry

Request = Literal["promote", "abort"]


class NotPaused(Exception):
    """No deployment of the environment is waiting at a pause. The message is one line."""


def request(loaded: LoadedConfig, environment: str, action: Request) -> DeploymentRecord:
    """Ask the deployment paused in ``environment`` to go on or roll back; the deployment."""
    open_environment(loaded, environment)  # an unknown environment is an error
    with Registry(loaded.registry_url()) as registry:
        paused = [r for r in registry.active(environment) if r.metadata.get("paused_at")]
        if not paused:
            raise NotPaused(f"no deployment of {environment} is paused")
        record = paused[0]
        registry.update_deployment(record.id, metadata={"request": action})
        return record
