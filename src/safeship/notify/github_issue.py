"""Alerts as GitHub issues: one open issue per environment and condition (a failed or rolled-back
deploy), a comment per repeat, closed with a comment when the condition clears.

(``github_issues.py`` is another issue: the one an emergency deploy opens.)

API: https://docs.github.com/en/rest/issues/issues (GET /repos/{owner}/{repo}/issues with
state=open, labels (comma-separated), per_page (at most 100), page: issues and pull requests,
these with a "pull_request" key; POST /repos/{owner}/{repo}/issues with title, body, labels →
201; PATCH /repos/{owner}/{repo}/issues/{number} with state "closed" and state_reason
"completed" → 200) and https://docs.github.com/en/rest/issues/comments (POST
.../issues/{number}/comments with body → 201; GET .../issues/{number}/comments). GitHub asks
for a second between mutating requests (docs.github.com/en/rest/using-the-rest-api/
best-practices-for-using-the-rest-api): ``min_interval``.

Decisions:

- Stateless: the issue of a condition is found again, from any process, by a hidden marker in
  its body, ``<!-- safeship-alert: <Alert.key> -->``, among the open issues carrying the
  configured labels. No issue id is stored anywhere.
- Firing: no open issue → open one; an open one → add a comment (a repeat). Resolved (the next
  healthy deploy, the condition clearing): comment, then close it as completed; no open issue
  → nothing to do. A deploy's own good news (``deployment.started``/``succeeded``) opens
  nothing; ``test`` only lists the issues (it checks the token and the repository and writes
  nothing).
- Creating is not idempotent. The issue body and every comment carry the alert's outbox id
  (``<!-- safeship-alert-id: ... -->``): a send retried after a create that timed out finds the
  issue by its marker and sees its own id in it, so it neither opens a second issue nor
  comments. A comment that may have been posted (no answer) is looked for among the issue's
  comments before the retry posts it again.
- The token is a credential: read from ``token_env``, registered with redaction, never printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, ClassVar, Final, TextIO

from safeship.httpapi import one_line
from safeship.notify.base import Alert, DeliveryError, Notification, RouteDefaults
from safeship.notify.http_delivery import OneAttemptApi
from safeship.notify.settings import GitHubIssueSettings
from safeship.redaction import redact

# A deploy's own news, not a failure: never opens an issue.
NEWS: Final = frozenset({"deployment.started", "deployment.succeeded", "deployment.released"})
PER_PAGE: Final = 100
REMEMBERED: Final = 1000
MAX_PAGES: Final = 10  # 1,000 open labelled issues: beyond that the marker is not looked for


def marker(alert: Alert) -> str:
    return f"<!-- safeship-alert: {alert.key} -->"


def id_marker(alert: Alert) -> str:
    return f"<!-- safeship-alert-id: {alert.id} -->"


def title(alert: Alert) -> str:
    what = alert.condition.replace(".", " ").replace("_", " ")
    return one_line(f"safeship: {what} in {alert.environment}", 200)


def _cell(value: object) -> str:
    return one_line(str(value), 300).replace("|", "\\|")


def facts(alert: Alert) -> str:
    """The alert's figures as a Markdown table (the ones it has)."""
    rows: list[tuple[str, object]] = [
        ("environment", alert.environment),
        ("severity", alert.severity),
        ("version", alert.version),
        ("commit", alert.commit),
        ("triggered by", alert.triggered_by),
        ("status", alert.status),
        ("duration", None if alert.duration_s is None else f"{alert.duration_s:.0f} s"),
        ("health score", None if alert.health_score is None else f"{alert.health_score:.0%}"),
        ("rollback reason", alert.rollback_reason),
        ("rollback rule", alert.rollback_rule),
        ("deploy path", alert.path),
        ("deployment", alert.deployment_id),
        ("dashboard", alert.dashboard_url),
        ("when", alert.occurred_at.isoformat()),
        *alert.details.items(),
    ]
    lines = [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows if v is not None]
    return "| | |\n|---|---|\n" + "\n".join(lines)


def issue_body(alert: Alert) -> str:
    return redact(
        f"{one_line(alert.summary, 1000)}\n\n{facts(alert)}\n\n"
        "safeship keeps this issue open while the condition lasts: a repeat adds a comment, "
        "and the next healthy deploy closes it.\n\n"
        f"{marker(alert)}\n{id_marker(alert)}\n"
    )


def repeat_comment(alert: Alert) -> str:
    return redact(
        f"Again: {one_line(alert.summary, 1000)}\n\n{facts(alert)}\n\n{id_marker(alert)}\n"
    )


def resolved_comment(alert: Alert) -> str:
    return redact(f"Resolved: {one_line(alert.summary, 1000)}\n\n{id_marker(alert)}\n")


class GitHubIssueAlerts:
    """The "github-issue" notifier (``safeship.notify.base.Notifier``), configured by
    ``[notify.github-issue]``."""

    min_interval: ClassVar[float] = 1.0
    # A failed or rolled-back deploy (the deployment.failed alert says which): one issue for it.
    default_route: ClassVar[RouteDefaults] = RouteDefaults(
        conditions=frozenset({"deployment.failed"})
    )

    @classmethod
    def configured(
        cls, settings: GitHubIssueSettings, errors: TextIO | None = None
    ) -> GitHubIssueAlerts | None:
        """None, with one warning line, when the token's variable is not set."""
        token = os.environ.get(settings.token_env, "").strip()
        if not token:
            print(
                f"safeship: warning: [notify.github-issue] is configured but {settings.token_env}"
                " is not set; no GitHub issue alerts",
                file=errors or sys.stderr,
            )
            return None
        return cls(token, settings, errors)

    def __init__(
        self, token: str, settings: GitHubIssueSettings, errors: TextIO | None = None
    ) -> None:
        self._settings = settings
        self._errors = errors
        self._repo_url = f"{settings.api_url.rstrip('/')}/repos/{settings.repo}"
        self._api = OneAttemptApi(
            "github issues",
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "safeship",
                "Authorization": f"Bearer {token}",
            },
            timeout=settings.request_timeout,
            secrets=[token],
        )
        # Alert id → its comment was posted (True) or may have been (False: sent, no answer,
        # looked for before posting again). A retry after a failed close does not comment twice.
        self._comments: dict[str, bool] = {}
        self._warned_labels = False

    def send(self, notification: Notification) -> None:
        alerts = [
            a for a in notification.alerts if a.condition not in NEWS or a.state == "resolved"
        ]
        if not alerts:
            return
        open_issues = self.open_issues()
        for alert in alerts:
            if alert.condition == "test":
                continue  # the listing above was the test
            found = next((i for i in open_issues if marker(alert) in (i.get("body") or "")), None)
            if alert.state == "firing" and found is None:
                open_issues.append(self._open(alert))
            elif alert.state == "firing" and found is not None:
                if id_marker(alert) not in (found.get("body") or ""):  # not the one it opened
                    self._comment(found["number"], alert, repeat_comment(alert))
            elif found is not None:
                self._comment(found["number"], alert, resolved_comment(alert))
                self._close(found["number"])
                open_issues.remove(found)

    def open_issues(self) -> list[dict[str, Any]]:
        """The open issues (not pull requests) with the configured labels."""
        found: list[dict[str, Any]] = []
        params: dict[str, str | int] = {"state": "open", "per_page": PER_PAGE}
        if self._settings.labels:
            params["labels"] = ",".join(self._settings.labels)
        for page in range(1, MAX_PAGES + 1):
            _, items = self._api.attempt(
                "GET", f"{self._repo_url}/issues", params={**params, "page": page}
            )
            if not isinstance(items, list):
                raise DeliveryError("github issues: the issue list is not a list")
            found.extend(i for i in items if isinstance(i, dict) and "pull_request" not in i)
            if len(items) < PER_PAGE:
                break
        return found

    def _open(self, alert: Alert) -> dict[str, Any]:
        body: dict[str, Any] = {"title": title(alert), "body": issue_body(alert)}
        if self._settings.labels:
            body["labels"] = list(self._settings.labels)
        _, issue = self._api.attempt("POST", f"{self._repo_url}/issues", json=body)
        if not isinstance(issue, dict) or not isinstance(issue.get("number"), int):
            raise DeliveryError("github issues: the new issue has no number", maybe_delivered=True)
        if self._settings.labels and not issue.get("labels"):
            self._warn_unlabelled(issue["number"])
        issue.setdefault("body", body["body"])
        return issue

    def _comment(self, number: int, alert: Alert, text: str) -> None:
        url = f"{self._repo_url}/issues/{number}/comments"
        posted = self._comments.get(alert.id)
        if posted or (posted is False and self._commented(url, alert)):
            self._remember(alert.id, True)
            return
        try:
            self._api.attempt("POST", url, json={"body": text})
        except DeliveryError as exc:
            if exc.maybe_delivered:
                self._remember(alert.id, False)
            raise
        self._remember(alert.id, True)

    def _remember(self, alert_id: str, posted: bool) -> None:
        self._comments.pop(alert_id, None)
        self._comments[alert_id] = posted
        while len(self._comments) > REMEMBERED:  # `safeship serve` runs for months
            del self._comments[next(iter(self._comments))]

    def _commented(self, url: str, alert: Alert) -> bool:
        """Whether a comment of ``alert`` is on the issue already (bounded pages)."""
        for page in range(1, MAX_PAGES + 1):
            _, items = self._api.attempt("GET", url, params={"per_page": PER_PAGE, "page": page})
            comments: Iterable[Any] = items if isinstance(items, list) else ()
            if any(
                id_marker(alert) in str(c.get("body") or "")
                for c in comments
                if isinstance(c, dict)
            ):
                return True
            if not isinstance(items, list) or len(items) < PER_PAGE:
                return False
        return False

    def _close(self, number: int) -> None:
        body = {"state": "closed", "state_reason": "completed"}
        self._api.attempt("PATCH", f"{self._repo_url}/issues/{number}", json=body)

    def _warn_unlabelled(self, number: int) -> None:
        if self._warned_labels:
            return
        self._warned_labels = True
        line = (
            f"safeship: warning: GitHub dropped the labels of alert issue #{number} (the token "
            "needs triage access): a repeat will not find it and opens another"
        )
        print(one_line(line, 400), file=self._errors or sys.stderr)

    def close(self) -> None:
        self._api.close()
