"""The event sink that mirrors each deployment to a GitHub deployment and its statuses.

    deployment.started                     → create the GitHub deployment, status in_progress
    deployment.succeeded                   → success
    rollback.completed / deployment.failed → failure, with the reason
    deployment.aborted                     → error, with the reason

GitHub calls run on a worker thread, in order (``safeship.notify.worker``): ``handle`` only
queues, so a slow or failing GitHub never delays or fails a deploy or a rollback. A failed call
is one warning line on stderr (redacted, no token); ``close`` waits a bounded time for the queue
to drain.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from safeship.events import Event
from safeship.httpapi import RetryPolicy, one_line
from safeship.notify.github_deployments import GitHubDeployments, State
from safeship.notify.settings import GitHubSettings
from safeship.notify.worker import Worker
from safeship.redaction import redact

_FINAL: dict[str, State] = {
    "deployment.succeeded": "success",
    "rollback.completed": "failure",
    "deployment.failed": "failure",
    "deployment.aborted": "error",
}
_WATCHED = frozenset({"deployment.started", *_FINAL})


class GitHubDeploymentSink:
    """The GitHub deployments reporter, configured by ``[github]``: an event sink wired by
    ``open_session`` directly (it mirrors every deploy; it is not an alert channel)."""

    @classmethod
    def configured(
        cls, settings: GitHubSettings, errors: TextIO | None = None
    ) -> GitHubDeploymentSink | None:
        return github_sink(settings, errors)

    def __init__(
        self,
        client: GitHubDeployments,
        *,
        environment_url: str | None = None,
        log_url: str | None = None,
        errors: TextIO | None = None,
    ) -> None:
        self._client = client
        self._environment_url = environment_url
        self._log_url = log_url
        self._errors = errors
        # safeship deployment id → GitHub deployment id (None: creating it failed). Only the
        # worker thread reads and writes these.
        self._github_ids: dict[str, int | None] = {}
        self._finished: set[str] = set()
        self._worker = Worker("github-deployments", self._warn)

    def handle(self, event: Event) -> None:
        if event.event in _WATCHED and event.deployment_id:
            self._worker.submit(event.event, lambda: self._deliver(event))

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds, then stop."""
        self._worker.close(timeout)
        self._client.close()

    def _deliver(self, event: Event) -> None:
        deployment_id = event.deployment_id
        assert deployment_id is not None
        if event.event == "deployment.started":
            self._github_ids[deployment_id] = None
            github_id = self._client.create(
                event.commit or event.version or "HEAD",
                event.environment,
                payload={"safeship_deployment_id": deployment_id, "version": event.version},
                description=f"safeship deploy of {event.version}",
            )
            self._github_ids[deployment_id] = github_id
            self._status(github_id, "in_progress", f"deploying {event.version}", event)
            return
        known = self._github_ids.get(deployment_id)
        # Only the first final event counts: a rollback emits rollback.completed, then failed.
        if known is None or deployment_id in self._finished:
            return
        self._finished.add(deployment_id)
        state = _FINAL[event.event]
        reason = event.attributes.get("reason")
        if state == "success":
            description = f"{event.version} deployed"
        elif isinstance(reason, str) and reason:
            default = "rolled_back" if event.event == "rollback.completed" else state
            outcome = str(event.attributes.get("status", default))
            description = f"{event.version} {outcome}: {reason}"
        else:
            description = f"{event.version} {state}"
        self._status(known, state, description, event)

    def _status(self, github_id: int, state: State, description: str, event: Event) -> None:
        self._client.set_status(
            github_id,
            state,
            description=description,
            environment_url=environment_url(self._environment_url, event.environment),
            log_url=self._log_url,
        )

    def _warn(self, message: str) -> None:
        line = one_line(f"safeship: github deployment status: {message}", 500)
        print(redact(line), file=self._errors or sys.stderr)


def environment_url(template: str | None, environment: str) -> str | None:
    """The ``[github].environment_url`` of ``environment`` ({environment} replaced), or None."""
    return template.replace("{environment}", environment) if template else None


def github_token(settings: GitHubSettings) -> str | None:
    return os.environ.get(settings.token_env, "").strip() or None


def github_client(settings: GitHubSettings, token: str) -> GitHubDeployments:
    return GitHubDeployments(
        settings.repo,
        token,
        api_url=settings.api_url,
        timeout=settings.request_timeout,
        retry=RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait),
    )


def github_sink(
    settings: GitHubSettings | None, errors: TextIO | None = None
) -> GitHubDeploymentSink | None:
    """The sink for a ``[github]`` section, or None when there is none or its token is unset
    (then one warning line says so: a deploy never fails for want of a status)."""
    if settings is None:
        return None
    token = github_token(settings)
    if not token:
        print(
            f"safeship: warning: [github] is configured but {settings.token_env} is not set; "
            "no GitHub deployment statuses",
            file=errors or sys.stderr,
        )
        return None
    return GitHubDeploymentSink(
        github_client(settings, token),
        environment_url=settings.environment_url,
        log_url=settings.log_url,
        errors=errors,
    )
