"""GitHub deployments for deploys run by a remote path (github-actions, circleci,
railway-native, a plugin's): the runs the event-bus sink never sees.

One GitHub deployment per path run, created when the path is triggered (not shared across a
failover: each path's run is its own attempt, with its own run id and log, and a deployment
that went error → in_progress → success would hide the failure on GitHub's page):

    triggered                       → create (payload: path, run id, version), in_progress with
                                      log_url = the run's page when the API gives one
    run ended, ok                   → success (GitHub marks the earlier successful deployments
                                      of the environment inactive: auto_inactive)
    run ended after it started      → failure, with the run's conclusion and detail
    left for the next path          → error, with the reason and where it failed over to
    the run could not be followed   → error, with the reason

A path that was unavailable, or whose trigger failed, never ran: it gets no deployment (the
``path.failover`` event and its alert say why). The ``local`` path runs the pipeline in this
process, whose deployment is reported by the sink on the event bus instead.

Calls run on a worker thread like the sink's, so a failover is never delayed by GitHub.
"""

from __future__ import annotations

import sys
from typing import TextIO

from safeship.httpapi import one_line
from safeship.notify.github_deployments import GitHubDeployments, State
from safeship.notify.github_sink import environment_url, github_client, github_token
from safeship.notify.settings import GitHubSettings
from safeship.notify.worker import Worker
from safeship.paths.base import RunOutcome
from safeship.paths.failover import Failover
from safeship.redaction import redact


class PathDeployments:
    """The GitHub deployments of one ``deploy --via-paths`` (one environment, one version)."""

    def __init__(
        self,
        client: GitHubDeployments,
        environment: str,
        version: str,
        commit: str | None,
        *,
        environment_url: str | None = None,
        triggered_by: str | None = None,
        errors: TextIO | None = None,
    ) -> None:
        self._client = client
        self._environment = environment
        self._version = version
        self._commit = commit
        self._environment_url = environment_url
        self._triggered_by = triggered_by
        self._errors = errors
        # path name → GitHub deployment id (None: creating it failed); worker thread only.
        self._ids: dict[str, int | None] = {}
        self._log_urls: dict[str, str | None] = {}
        self._worker = Worker("github-path-deployments", self._warn)

    # -- what happened (called on the deploy's thread; they only queue) ---------------------

    def triggered(self, path: str, run_id: str, log_url: str | None) -> None:
        self._worker.submit(f"{path} run {run_id}", lambda: self._create(path, run_id, log_url))

    def finished(self, path: str, outcome: RunOutcome) -> None:
        """The run ended. One that never started is reported by ``failed_over`` (next path)."""
        if not outcome.ok and not outcome.started:
            return
        self._worker.submit(f"{path} outcome", lambda: self._finish(path, outcome))

    def failed_over(self, failover: Failover) -> None:
        where = f"failed over to {failover.next_path}" if failover.next_path else "no path left"
        text = f"{self._version} not deployed through {failover.path} ({where}): {failover.reason}"
        self._worker.submit(f"{failover.path} failover", lambda: self._set(failover.path, text))

    def not_followed(self, path: str, reason: str) -> None:
        text = f"{self._version}: the {path} run could not be followed: {reason}"
        self._worker.submit(f"{path} outcome", lambda: self._set(path, text))

    def close(self, timeout: float = 10.0) -> None:
        self._worker.close(timeout)
        self._client.close()

    # -- GitHub calls (worker thread) -------------------------------------------------------

    def _create(self, path: str, run_id: str, log_url: str | None) -> None:
        self._ids[path] = None
        self._log_urls[path] = log_url
        payload: dict[str, str] = {"path": path, "run_id": run_id, "version": self._version}
        if self._triggered_by:
            payload["triggered_by"] = self._triggered_by
        github_id = self._client.create(
            self._commit or self._version,
            self._environment,
            payload=payload,
            description=f"safeship deploy of {self._version} through {path}",
        )
        self._ids[path] = github_id
        self._status(path, "in_progress", f"deploying {self._version} through {path} ({run_id})")

    def _finish(self, path: str, outcome: RunOutcome) -> None:
        log_url = outcome.log_url or self._log_urls.get(path)
        self._log_urls[path] = log_url
        if outcome.ok:
            # A platform's run gives the release's own URL (railway-native's static URL).
            env_url = None if outcome.url == log_url else outcome.url
            text = f"{self._version} deployed through {path}"
            self._status(path, "success", text, env_url)
            return
        why = outcome.detail or f"run {outcome.conclusion}"
        self._status(path, "failure", f"{self._version} failed through {path}: {why}")

    def _set(self, path: str, description: str) -> None:
        self._status(path, "error", description)

    def _status(
        self, path: str, state: State, description: str, env_url: str | None = None
    ) -> None:
        github_id = self._ids.get(path)
        if github_id is None:  # never triggered, or creating its deployment failed (warned)
            return
        self._client.set_status(
            github_id,
            state,
            description=description,
            environment_url=environment_url(self._environment_url, self._environment) or env_url,
            log_url=self._log_urls.get(path),
        )

    def _warn(self, message: str) -> None:
        line = one_line(f"safeship: github deployment status: {message}", 500)
        print(redact(line), file=self._errors or sys.stderr)


def path_deployments(
    settings: GitHubSettings | None,
    environment: str,
    version: str,
    commit: str | None,
    *,
    triggered_by: str | None = None,
    errors: TextIO | None = None,
) -> PathDeployments | None:
    """The reporter for a ``[github]`` section with its token set, else None (the event-bus sink
    has already warned about a missing token)."""
    token = github_token(settings) if settings is not None else None
    if settings is None or token is None:
        return None
    return PathDeployments(
        github_client(settings, token),
        environment,
        version,
        commit,
        environment_url=settings.environment_url,
        triggered_by=triggered_by,
        errors=errors,
    )
