"""The github-actions path: run the deploy workflow with workflow_dispatch and follow the run.

API: https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event,
https://docs.github.com/en/rest/actions/workflow-runs, .../workflow-jobs,
https://docs.github.com/en/rest/checks/runs#list-check-run-annotations, and GitHub's status
page (https://www.githubstatus.com/api, Statuspage v2 components).

Availability, in order:

1. GitHub's status page: the component whose name contains "Actions" (matched by name, not
   an exact string). partial_outage or major_outage → unavailable. An unreachable status page
   does not block: it is GitHub's page, not the path.
2. The workflow's recent runs, which also proves the token works. When the newest completed run
   concluded ``failure`` within ``billing_window`` seconds, with a job that has no steps, and a
   check-run annotation on that job says it was not started for billing or a spending limit,
   the path is unavailable for billing. (That is how GitHub reports it; it is not
   ``startup_failure``.)

A dispatch is never sent twice. The workflow's recent runs are listed before it; when the
dispatch fails after it was sent (no answer, the connection dropped, a 5xx), the run that
appears since (within ``reconcile_timeout``) is adopted and followed, with one line saying so;
none, or more than one (another dispatch meanwhile), is a one-line PathError.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, notice_to_stderr, one_line
from safeship.paths.base import (
    Availability,
    PathDefaults,
    PathError,
    Runner,
    RunOutcome,
    provider_time,
    token_from,
)
from safeship.paths.settings import GitHubActionsPathSettings, PathsSettings
from safeship.reconcile import Created, Request, post_or_adopt

BILLING = re.compile(r"billing|spending limit|payments have failed", re.I)
_DOWN = ("partial_outage", "major_outage")


def _when(value: Any) -> float | None:
    moment = provider_time(value)
    return None if moment is None else moment.timestamp()


class GitHubActionsPath(PathDefaults):
    name = "github-actions"

    @classmethod
    def configured(cls, settings: PathsSettings, runner: Runner | None) -> GitHubActionsPath:
        if settings.github_actions is None:
            raise PathError("github-actions: no [paths.github-actions] table")
        return cls(settings.github_actions)

    def __init__(
        self,
        settings: GitHubActionsPathSettings,
        token: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        notice: Callable[[str], None] | None = notice_to_stderr,
    ) -> None:
        self.settings = settings
        self._token = token_from(token, settings.token_env)
        self._sleep = sleep
        self._notice = notice
        self.notes: list[str] = []  # what reconciling found, one line each
        self._run_urls: dict[str, str] = {}
        retry = RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait)
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "safeship",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self._api = JsonApi(
            "github",
            headers,
            timeout=settings.request_timeout,
            retry=retry,
            secrets=[self._token] if self._token else [],
            sleep=sleep,
        )
        self._status_api = JsonApi(
            "githubstatus",
            {"Accept": "application/json"},
            timeout=min(settings.request_timeout, 5.0),
            retry=RetryPolicy(attempts=1),
        )

    def _url(self, path: str) -> str:
        return f"{self.settings.api_url.rstrip('/')}/repos/{self.settings.repo}{path}"

    def _get(self, path: str, **params: str | int) -> Any:
        try:
            return self._api.request("GET", self._url(path), params=params or None)[1]
        except ApiError as exc:
            raise PathError(str(exc)) from None

    # -- availability ----------------------------------------------------------------------

    def _status_page(self) -> str | None:
        """Why GitHub's status page says Actions is down, or None."""
        try:
            _, body = self._status_api.request("GET", self.settings.status_url)
        except ApiError:
            return None
        components = body.get("components") if isinstance(body, dict) else None
        for component in components if isinstance(components, list) else []:
            if not isinstance(component, dict):
                continue
            name = str(component.get("name", ""))
            if "actions" in name.lower() and component.get("status") in _DOWN:
                return f"GitHub status: {name} {component['status']}"
        return None

    def billing_reason(self, run: dict[str, Any]) -> str | None:
        """GitHub's annotation when ``run`` was refused for billing, else None."""
        if run.get("status") != "completed" or run.get("conclusion") != "failure":
            return None
        started = _when(run.get("run_started_at")) or _when(run.get("created_at"))
        ended = _when(run.get("updated_at"))
        if started is None or ended is None or ended - started > self.settings.billing_window:
            return None
        jobs = self._get(f"/actions/runs/{run['id']}/jobs").get("jobs", [])
        for job in jobs if isinstance(jobs, list) else []:
            if not isinstance(job, dict) or job.get("steps"):
                continue
            annotations = self._get(f"/check-runs/{job['id']}/annotations")
            for note in annotations if isinstance(annotations, list) else []:
                message = str(note.get("message", "")) if isinstance(note, dict) else ""
                if BILLING.search(message):
                    return one_line(f"billing: {message}", 200)
        return None

    def is_available(self) -> Availability:
        if not self._token:
            return Availability(False, f"{self.settings.token_env} is not set")
        down = self._status_page()
        if down:
            return Availability(False, down)
        try:
            body = self._get(
                f"/actions/workflows/{self.settings.workflow}/runs",
                per_page=self.settings.recent_runs,
            )
            runs = body.get("workflow_runs", []) if isinstance(body, dict) else []
            completed = [r for r in runs if isinstance(r, dict) and r.get("status") == "completed"]
            if completed:
                reason = self.billing_reason(completed[0])
                if reason:
                    return Availability(False, reason)
        except PathError as exc:
            return Availability(False, str(exc))
        return Availability(True, "GitHub Actions operational")

    # -- runs ------------------------------------------------------------------------------

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        if not self._token:
            raise PathError(f"github: {self.settings.token_env} is not set")
        inputs = {"version": version, "environment": environment}
        if commit:
            inputs["commit"] = commit
        body = {"ref": self.settings.ref, "inputs": inputs, "return_run_details": True}
        url = self._url(f"/actions/workflows/{self.settings.workflow}/dispatches")
        posted = post_or_adopt(
            self._api,
            url,
            body,
            Request("github", "the workflow dispatch", "", noun="run"),
            self._dispatched_runs,
            error=PathError,
            timeout=self.settings.reconcile_timeout,
            interval=self.settings.poll_interval,
            sleep=self._sleep,
        )
        if (run := posted.adopted) is not None:
            self._note(posted.line)
            if run.url:
                self._run_urls[run.id] = run.url
            return run.id
        answer = posted.answer
        run_id = answer.get("workflow_run_id") if isinstance(answer, dict) else None
        if not isinstance(run_id, int | str) or not str(run_id):
            raise PathError("github: the dispatch did not return a run id (return_run_details)")
        html_url = answer.get("html_url") if isinstance(answer, dict) else None
        if isinstance(html_url, str) and html_url:
            self._run_urls[str(run_id)] = html_url
        return str(run_id)

    def _dispatched_runs(self) -> list[Created]:
        """The workflow's recent workflow_dispatch runs, newest first."""
        body = self._get(
            f"/actions/workflows/{self.settings.workflow}/runs",
            event="workflow_dispatch",
            per_page=20,
        )
        runs = body.get("workflow_runs") if isinstance(body, dict) else None
        if not isinstance(runs, list):
            raise PathError("github: malformed answer: no workflow_runs")
        return [
            Created(
                str(run["id"]),
                str(run.get("created_at") or ""),
                run["html_url"] if isinstance(run.get("html_url"), str) else None,
            )
            for run in runs
            if isinstance(run, dict) and isinstance(run.get("id"), int | str)
        ]

    def _note(self, line: str) -> None:
        self.notes.append(line)
        if self._notice is not None:
            self._notice(line)

    def run_url(self, run_id: str) -> str | None:
        """The run's page, from the dispatch's answer (return_run_details)."""
        return self._run_urls.get(run_id)

    def follow(self, run_id: str) -> RunOutcome:
        deadline = time.monotonic() + self.settings.run_timeout
        while True:
            run = self._get(f"/actions/runs/{run_id}")
            if not isinstance(run, dict):
                raise PathError(f"github: malformed answer for run {run_id}")
            url = run.get("html_url") if isinstance(run.get("html_url"), str) else None
            if run.get("status") == "completed":
                conclusion = str(run.get("conclusion"))
                # The run's span: run_started_at (a re-run's latest attempt) to updated_at.
                begun = provider_time(run.get("run_started_at"))
                ended = provider_time(run.get("updated_at"))
                if conclusion == "success":
                    return RunOutcome(
                        run_id, True, conclusion, url=url, log_url=url,
                        started_at=begun, completed_at=ended,
                    )  # fmt: skip
                billing = self.billing_reason(run)
                detail = billing or f"run {conclusion}"
                return RunOutcome(
                    run_id, False, conclusion, started=not billing, detail=detail, url=url,
                    log_url=url, started_at=begun, completed_at=ended,
                )  # fmt: skip
            if time.monotonic() >= deadline:
                raise PathError(
                    f"github: run {run_id} still {run.get('status')} after "
                    f"{self.settings.run_timeout:g} s"
                )
            self._sleep(self.settings.poll_interval)
