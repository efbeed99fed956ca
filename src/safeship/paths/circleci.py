"""The circleci path: trigger a pipeline and follow its workflows.

API: https://circleci.com/docs/api/v2/ (triggerPipeline, listWorkflowsByPipelineId,
getCurrentUser; header Circle-Token). Availability: the token works (GET /api/v2/me).
A pipeline whose workflows all end not_run or unauthorized never started a deploy.

triggerPipeline (POST /project/{slug}/pipeline, {"branch", "parameters"}) does not support
projects integrated through the GitHub App; with ``definition_id`` set, triggerPipelineRun is
used instead (POST /project/{slug}/pipeline/run, {"definition_id", "config": {"branch"},
"checkout": {"branch"}, "parameters"}), which CircleCI documents as superseding it.

A trigger is never sent twice. The project's pipelines on the branch are listed before it
(listPipelinesForProject, GET /project/{slug}/pipeline?branch=); when the trigger fails after
it was sent (no answer, the connection dropped, a 5xx), the pipeline that appears since (within
``reconcile_timeout``) is adopted and followed, with one line saying so; none, or more than one,
is a one-line PathError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, notice_to_stderr
from safeship.paths.base import (
    Availability,
    PathDefaults,
    PathError,
    Runner,
    RunOutcome,
    provider_time,
    token_from,
)
from safeship.paths.settings import CircleCIPathSettings, PathsSettings
from safeship.reconcile import Created, Request, post_or_adopt

DONE = frozenset({"success", "failed", "error", "canceled", "not_run", "unauthorized"})
NOT_STARTED = frozenset({"not_run", "unauthorized"})


class CircleCIPath(PathDefaults):
    name = "circleci"

    @classmethod
    def configured(cls, settings: PathsSettings, runner: Runner | None) -> CircleCIPath:
        if settings.circleci is None:
            raise PathError("circleci: no [paths.circleci] table")
        return cls(settings.circleci)

    def __init__(
        self,
        settings: CircleCIPathSettings,
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
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self._token:
            headers["Circle-Token"] = self._token
        self._api = JsonApi(
            "circleci",
            headers,
            timeout=settings.request_timeout,
            retry=RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait),
            secrets=[self._token] if self._token else [],
            sleep=sleep,
        )

    def _url(self, path: str) -> str:
        return f"{self.settings.api_url.rstrip('/')}/api/v2{path}"

    def _call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        try:
            return self._api.request(method, self._url(path), json=body, params=params)[1]
        except ApiError as exc:
            raise PathError(str(exc)) from None

    def _pipelines(self) -> list[Created]:
        """The project's recent pipelines on the branch, newest first."""
        slug, branch = self.settings.project_slug, self.settings.branch
        answer = self._call("GET", f"/project/{slug}/pipeline", params={"branch": branch})
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise PathError("circleci: malformed answer: the pipeline list has no items")
        return [
            Created(str(item["id"]), str(item.get("created_at") or ""))
            for item in items
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]

    def is_available(self) -> Availability:
        if not self._token:
            return Availability(False, f"{self.settings.token_env} is not set")
        try:
            self._call("GET", "/me")
        except PathError as exc:
            return Availability(False, str(exc))
        return Availability(True, "CircleCI token accepted")

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        if not self._token:
            raise PathError(f"circleci: {self.settings.token_env} is not set")
        parameters = {"version": version, "environment": environment}
        if commit:
            parameters["commit"] = commit
        slug, branch = self.settings.project_slug, self.settings.branch
        if self.settings.definition_id:
            body: dict[str, Any] = {
                "definition_id": self.settings.definition_id,
                "config": {"branch": branch},
                "checkout": {"branch": branch},
                "parameters": parameters,
            }
            url = self._url(f"/project/{slug}/pipeline/run")
        else:
            body = {"branch": branch, "parameters": parameters}
            url = self._url(f"/project/{slug}/pipeline")
        posted = post_or_adopt(
            self._api,
            url,
            body,
            Request("circleci", "the pipeline trigger", "", noun="pipeline"),
            self._pipelines,
            error=PathError,
            timeout=self.settings.reconcile_timeout,
            interval=self.settings.poll_interval,
            sleep=self._sleep,
        )
        if posted.adopted is not None:
            self.notes.append(posted.line)
            if self._notice is not None:
                self._notice(posted.line)
            return posted.adopted.id
        answer = posted.answer
        pipeline_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(pipeline_id, str) or not pipeline_id:
            raise PathError("circleci: malformed answer: the pipeline has no id")
        return pipeline_id

    def follow(self, run_id: str) -> RunOutcome:
        deadline = time.monotonic() + self.settings.run_timeout
        while True:
            answer = self._call("GET", f"/pipeline/{run_id}/workflow")
            items = answer.get("items") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise PathError(f"circleci: malformed answer for pipeline {run_id}: no items")
            statuses = [str(i.get("status")) for i in items if isinstance(i, dict)]
            if statuses and all(s in DONE for s in statuses):
                begun, ended = _span([i for i in items if isinstance(i, dict)])
                if all(s == "success" for s in statuses):
                    return RunOutcome(run_id, True, "success", started_at=begun, completed_at=ended)
                bad = next(s for s in statuses if s != "success")
                started = not all(s in NOT_STARTED for s in statuses)
                return RunOutcome(
                    run_id, False, bad, started, f"workflow {bad}",
                    started_at=begun, completed_at=ended,
                )  # fmt: skip
            if time.monotonic() >= deadline:
                limit = self.settings.run_timeout
                raise PathError(f"circleci: pipeline {run_id} not finished after {limit:g} s")
            self._sleep(self.settings.poll_interval)


def _span(workflows: list[dict[str, Any]]) -> tuple[datetime | None, datetime | None]:
    """The pipeline's span: its first workflow's created_at to its last one's stopped_at."""
    starts = [t for t in (provider_time(w.get("created_at")) for w in workflows) if t is not None]
    stops = [t for t in (provider_time(w.get("stopped_at")) for w in workflows) if t is not None]
    return (min(starts) if starts else None, max(stops) if stops else None)
