"""GitHub deployments and their statuses: where developers look for what was deployed.

API: https://docs.github.com/en/rest/deployments/deployments#create-a-deployment and
https://docs.github.com/en/rest/deployments/statuses#create-a-deployment-status.

- A deployment is created with ``required_contexts: []`` (safeship ran its own gates; GitHub must
  not refuse for commit statuses) and ``auto_merge: false`` (never merge the default branch into
  the ref). Creating is not retried after a 5xx or a timeout, which may have created it.
- A status is retried like an idempotent request: posting the same state twice is harmless.
- Descriptions are redacted and cut to 140 characters, GitHub's limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, one_line

State = Literal["in_progress", "success", "failure", "error", "inactive"]
MAX_DESCRIPTION: Final = 140


class GitHubDeployments:
    """The deployments API of one repository (``owner/name``)."""

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        api_url: str = "https://api.github.com",
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repo = repo
        self._base = f"{api_url.rstrip('/')}/repos/{repo}/deployments"
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "safeship",
            "Authorization": f"Bearer {token}",
        }
        self._api = JsonApi(
            "github deployments",
            headers,
            timeout=timeout,
            retry=retry,
            secrets=[token],
            sleep=sleep,
        )

    def close(self) -> None:
        self._api.close()

    def create(
        self,
        ref: str,
        environment: str,
        *,
        payload: Mapping[str, Any],
        description: str = "",
    ) -> int:
        """Create a deployment of ``ref`` to ``environment``; GitHub's deployment id."""
        body = {
            "ref": ref,
            "environment": environment,
            "required_contexts": [],
            "auto_merge": False,
            "payload": dict(payload),
            "description": _description(description),
            "production_environment": environment == "production",
        }
        status, answer = self._api.request("POST", self._base, json=body, idempotent=False)
        deployment_id = answer.get("id") if isinstance(answer, dict) else None
        if status != 201 or not isinstance(deployment_id, int):
            message = answer.get("message") if isinstance(answer, dict) else None
            raise ApiError(
                one_line(
                    f"github deployments: no deployment created (HTTP {status}"
                    + (f": {message})" if isinstance(message, str) else ")")
                ),
                status,
            )
        return deployment_id

    def set_status(
        self,
        deployment_id: int,
        state: State,
        *,
        description: str = "",
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"state": state, "description": _description(description)}
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        if state == "success":
            body["auto_inactive"] = True  # earlier deployments of the environment: inactive
        self._api.request(
            "POST", f"{self._base}/{deployment_id}/statuses", json=body, idempotent=True
        )


def _description(text: str) -> str:
    return one_line(text, MAX_DESCRIPTION) if text.strip() else ""
