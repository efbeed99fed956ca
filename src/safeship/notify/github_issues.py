"""The GitHub issue an emergency deploy opens, so the hotfix pull request is not forgotten.

API: https://docs.github.com/en/rest/issues/issues#create-an-issue (POST
/repos/{owner}/{repo}/issues with "title" (required), "body", "labels" → 201 with the issue:
{"id", "number", "html_url", "state": "open", ...}; 410 when issues are disabled, 422 on a
validation error). Not retried after a 5xx or a timeout, which may have opened it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, one_line
from safeship.notify.settings import GitHubSettings
from safeship.redaction import redact


@dataclass(frozen=True)
class EmergencyDeploy:
    """What the issue names: the deploy, who ran it, when, and how it ended."""

    environment: str
    version: str
    commit: str | None
    triggered_by: str
    operator: str
    when: str  # ISO 8601, UTC
    deployment_id: str
    outcome: str  # "succeeded", or "rolled_back: <reason>"

    def title(self) -> str:
        return one_line(
            f"Emergency deploy of {self.version} to {self.environment}: open a hotfix PR", 200
        )

    def body(self) -> str:
        what = f"commit `{self.commit}`" if self.commit else f"version `{self.version}`"
        rows = [
            ("environment", self.environment),
            ("version", self.version),
            ("commit", self.commit or "not given"),
            ("triggered by", self.triggered_by),
            ("run by", self.operator),
            ("when", self.when),
            ("safeship deployment", self.deployment_id),
            ("outcome", self.outcome),
        ]
        table = "\n".join(f"| {k} | {_cell(v)} |" for k, v in rows)
        return redact(
            "`safeship deploy --emergency` deployed from a workstation and skipped CI.\n\n"
            f"| | |\n|---|---|\n{table}\n\n"
            f"Open a hotfix pull request with {what} so the main branch and CI have it, "
            "then close this issue.\n"
        )


def _cell(value: str) -> str:
    return one_line(value, 300).replace("|", "\\|")


def open_issue(
    settings: GitHubSettings,
    token: str,
    deploy: EmergencyDeploy,
    *,
    labels: Sequence[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Open the issue; its web URL. ApiError (one line, no token) when GitHub refuses."""
    api = JsonApi(
        "github issues",
        {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "safeship",
            "Authorization": f"Bearer {token}",
        },
        timeout=settings.request_timeout,
        retry=RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait),
        secrets=[token],
        sleep=sleep,
    )
    body: dict[str, object] = {"title": deploy.title(), "body": deploy.body()}
    if labels:
        body["labels"] = list(labels)
    url = f"{settings.api_url.rstrip('/')}/repos/{settings.repo}/issues"
    try:
        status, answer = api.request("POST", url, json=body, idempotent=False)
    finally:
        api.close()
    html_url = answer.get("html_url") if isinstance(answer, dict) else None
    if status != 201 or not isinstance(html_url, str) or not html_url:
        raise ApiError(f"github issues: no issue opened (HTTP {status})", status)
    return html_url
