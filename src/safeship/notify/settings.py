"""The optional ``[github]`` and ``[notify]`` sections of safeship.toml.

[github]                                        # report every deploy as a GitHub deployment
repo = "acme/shop"
token_env = "GITHUB_TOKEN"                      # a token with deployments: write (issues: write
                                                # for the emergency issue)
api_url = "https://api.github.com"              # GitHub Enterprise: https://HOST/api/v3
environment_url = "https://{environment}.acme.example"   # optional; {environment} is replaced
log_url = "https://ci.acme.example/deploys"     # optional
issue_labels = ["hotfix"]                       # optional: labels of the emergency deploy issue

[notify.slack]                                  # alerts to a Slack incoming webhook
webhook_env = "SLACK_WEBHOOK_URL"               # the variable holding the webhook URL (a secret)
events = ["path.failover", "rollback.triggered", "deployment.failed"]

[notify.pagerduty]                              # page on-call (Events API v2), change events
routing_key_env = "PAGERDUTY_ROUTING_KEY"       # the variable holding the integration key
change_environments = ["production"]            # whose deploys become PagerDuty change events

[notify.github-issue]                           # an issue per failing environment and condition
repo = "acme/shop"
token_env = "GITHUB_TOKEN"                      # a token with issues: write
labels = ["safeship-alert"]                     # the issues are found again by this label
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from safeship.events.model import EventName
from safeship.settings_model import SettingsModel

DEFAULT_ALERTS: tuple[EventName, ...] = ("path.failover", "rollback.triggered", "deployment.failed")


class GitHubSettings(SettingsModel):
    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    token_env: str = "GITHUB_TOKEN"
    api_url: str = "https://api.github.com"
    environment_url: str | None = None
    log_url: str | None = None
    request_timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    max_retry_wait: Annotated[float, Field(ge=0, le=300)] = 30.0
    # Labels of the issue an emergency deploy opens (GitHub drops them without push access).
    issue_labels: list[str] = Field(default_factory=list)


class SlackSettings(SettingsModel):
    # The webhook URL is a credential: it is read from this variable, never from the file.
    webhook_env: Annotated[str, Field(min_length=1)] = "SLACK_WEBHOOK_URL"
    # Which events alert. "deployment.failed" also covers a remote path's run that failed
    # (path.completed with ok false): that deploy ran elsewhere and has no event of its own.
    events: Annotated[list[EventName], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_ALERTS)
    )
    request_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    # Slack answers 429 with Retry-After; a longer wait than this drops the alert (one warning).
    max_retry_wait: Annotated[float, Field(ge=0, le=120)] = 10.0


class PagerDutySettings(SettingsModel):
    """``[notify.pagerduty]``: PagerDuty Events API v2 (alerts) and Change Events."""

    # The integration key is a credential: read from this variable, never from the file.
    routing_key_env: Annotated[str, Field(min_length=1)] = "PAGERDUTY_ROUTING_KEY"
    # PagerDuty's EU service region: https://events.eu.pagerduty.com (or a test server).
    api_url: str = "https://events.pagerduty.com"
    # Which environments' deploys (deployment.succeeded / deployment.failed) are change events.
    change_environments: list[str] = Field(default_factory=lambda: ["production"])
    # payload.group of every alert: the logical grouping on PagerDuty's side (a service name).
    group: Annotated[str, Field(min_length=1, max_length=255)] = "safeship"
    request_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0


class GitHubIssueSettings(SettingsModel):
    """``[notify.github-issue]``: one open issue per failing environment and condition. The
    defaults of token_env and api_url are [github]'s; repo is named here (this table does not
    read [github])."""

    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    token_env: Annotated[str, Field(min_length=1)] = "GITHUB_TOKEN"
    api_url: str = "https://api.github.com"
    # The open issues are found again among those with these labels: the token needs triage
    # access (GitHub silently drops the labels of an issue opened without it; one warning).
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=lambda: ["safeship-alert"]
    )
    request_timeout: Annotated[float, Field(gt=0, le=60)] = 10.0


class NotifySettings(SettingsModel):
    """``[notify.slack]``, and a table per third-party notifier (``[notify.NAME]``, its keys
    the plugin's to read: see docs/plugins.md)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    slack: SlackSettings | None = None
    pagerduty: PagerDutySettings | None = None
    # Keyed [notify.github-issue] in the file: the notifier's name, as for every channel.
    github_issue: GitHubIssueSettings | None = Field(default=None, alias="github-issue")

    @model_validator(mode="after")
    def _plugins_installed(self) -> NotifySettings:
        from safeship.plugins import NOTIFIERS, is_registered, names

        for name, table in (self.model_extra or {}).items():
            if name == "github":
                raise ValueError("GitHub deployment statuses are configured in [github]")
            if not isinstance(table, dict):
                raise ValueError(f"notify.{name} must be a table")
            if not is_registered(NOTIFIERS, name):
                known = ", ".join(names(NOTIFIERS))
                raise ValueError(f"no notifier named {name!r} is installed (known: {known})")
        return self

    def sections(self) -> dict[str, Any]:
        """Each configured notifier's settings by name: the built-ins' models, a third
        party's table."""
        found: dict[str, Any] = {"slack": self.slack} if self.slack is not None else {}
        if self.pagerduty is not None:
            found["pagerduty"] = self.pagerduty
        if self.github_issue is not None:
            found["github-issue"] = self.github_issue
        return found | dict(self.model_extra or {})
