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

[notify.email]                                  # alerts by email over SMTP
host = "smtp.acme.example"
port = 587
security = "starttls"                           # "starttls" | "tls" | "none" (loopback only)
username = "safeship"
password_env = "SAFESHIP_SMTP_PASSWORD"
from = "safeship@acme.example"
to = ["ops@acme.example"]

[notify.webhook]                                # alerts as CloudEvents to any HTTP endpoint
url_env = "SAFESHIP_WEBHOOK_URL"
secret_env = "SAFESHIP_WEBHOOK_SECRET"          # optional: sign each body (HMAC-SHA256)

[notify.security]                               # a second channel of a kind, by its own name:
type = "slack"                                  # the notifier it is (its keys as that one's)
webhook_env = "SECURITY_SLACK_URL"              # e.g. the security team's Slack channel

[notify.pagerduty]                              # page on-call (Events API v2), change events
routing_key_env = "PAGERDUTY_ROUTING_KEY"       # the variable holding the integration key
change_environments = ["production"]            # whose deploys become PagerDuty change events

[notify.github-issue]                           # an issue per failing environment and condition
repo = "acme/shop"
token_env = "GITHUB_TOKEN"                      # a token with issues: write
labels = ["safeship-alert"]                     # the issues are found again by this label
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from safeship.settings_model import SettingsModel


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
    # One attempt's bound; the alerts core retries (honouring Slack's Retry-After).
    request_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0


class EmailSettings(SettingsModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, populate_by_name=True)

    # The SMTP server (a relay or the provider's submission host).
    host: Annotated[str, Field(min_length=1)]
    # 587 for starttls, 465 for tls, 25 for none.
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    # "none" sends in clear text: only to a relay on this machine (127.0.0.0/8, ::1, localhost).
    security: Literal["starttls", "tls", "none"] = "starttls"
    # With a username, AUTH with the password from ``password_env``; without, no AUTH.
    username: str | None = None
    # The password is a credential: read from this variable, never from the file.
    password_env: Annotated[str, Field(min_length=1)] = "SAFESHIP_SMTP_PASSWORD"
    # The sender address (``from`` in the file; the envelope sender too).
    sender: Annotated[str, Field(alias="from", min_length=3, pattern=r"@")]
    # The recipients: each gets the same message.
    to: Annotated[list[Annotated[str, Field(pattern=r"@")]], Field(min_length=1)]
    # Put before every subject, for mail rules.
    subject_prefix: str = "[safeship]"
    # A CA bundle (PEM) to verify the server's certificate with instead of the system's:
    # a private relay's CA. Verification itself is never turned off.
    ca_file: str | None = None
    # One attempt's bound (connect, TLS, each SMTP command); the alerts core retries.
    request_timeout: Annotated[float, Field(gt=0, le=120)] = 10.0

    @model_validator(mode="after")
    def _clear_text_only_on_loopback(self) -> EmailSettings:
        if self.security == "none" and not is_loopback_host(self.host):
            raise ValueError(
                'security = "none" sends mail and passwords in clear text: only for a relay on '
                'this machine (127.0.0.1, ::1, localhost); use "starttls" or "tls"'
            )
        return self


class WebhookSettings(SettingsModel):
    # The endpoint URL may carry a token: it is read from this variable, never from the file.
    url_env: Annotated[str, Field(min_length=1)] = "SAFESHIP_WEBHOOK_URL"
    # Optional: the variable holding a shared secret; each body is then signed (HMAC-SHA256)
    # in the ``X-Safeship-Signature: sha256=<hex>`` header.
    secret_env: str | None = None
    # The service the CDEvents subject names (its id and the artifact's purl).
    service: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._/-]+$")] = "app"
    # One attempt's bound; the alerts core retries.
    request_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0


def is_loopback_host(host: str) -> bool:
    """``host`` is this machine: localhost, 127.0.0.0/8 or ::1."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    """``[notify.slack]``, ``[notify.email]``, ``[notify.webhook]``, and a table per
    third-party notifier (``[notify.NAME]``, its keys
    the plugin's to read: see docs/plugins.md)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    slack: SlackSettings | None = None
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None
    pagerduty: PagerDutySettings | None = None
    # Keyed [notify.github-issue] in the file: the notifier's name, as for every channel.
    github_issue: GitHubIssueSettings | None = Field(default=None, alias="github-issue")

    @model_validator(mode="after")
    def _plugins_installed(self) -> NotifySettings:
        from pydantic import ValidationError

        from safeship.plugins import NOTIFIERS, is_registered, names

        for name, table in (self.model_extra or {}).items():
            if name == "github":
                raise ValueError("GitHub deployment statuses are configured in [github]")
            if not isinstance(table, dict):
                raise ValueError(f"notify.{name} must be a table")
            adapter = self.adapter(name)
            if not is_registered(NOTIFIERS, adapter):
                known = ", ".join(names(NOTIFIERS))
                what = "no notifier named"
                if adapter != name:
                    what = f"notify.{name}.type: no notifier"
                raise ValueError(f"{what} {adapter!r} is installed (known: {known})")
            if adapter in _BUILTIN_MODELS:
                try:  # a named channel of a built-in kind: that kind's keys and rules
                    self._named(name)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    key = ".".join(str(part) for part in first["loc"])
                    raise ValueError(f"notify.{name}.{key}: {first['msg']}") from None
        return self

    def adapter(self, name: str) -> str:
        """The notifier the channel ``name`` is: its table's ``type`` (a second channel of a
        kind under a name of its own, ``[notify.security] type = "slack"``), else ``name``."""
        from safeship.plugins import NOTIFIERS, is_registered

        table = (self.model_extra or {}).get(name)
        if name in _BUILTIN_MODELS or not isinstance(table, dict):
            return name
        kind = table.get("type")
        if not isinstance(kind, str) or not kind or is_registered(NOTIFIERS, name):
            return name  # a third party's own table (its "type", if any, is its own key)
        return kind

    def _named(self, name: str) -> Any:
        """The settings of the extra table ``name``: a named channel's as its kind's model
        (without ``type``), a third party's table as it is."""
        table = dict((self.model_extra or {})[name])
        adapter = self.adapter(name)
        if adapter == name:
            return table
        table.pop("type", None)
        model = _BUILTIN_MODELS.get(adapter)
        return model.model_validate(table) if model is not None else table

    def sections(self) -> dict[str, Any]:
        """Each configured notifier's settings by name: the built-ins' models, a third
        party's table."""
        builtins = {
            "slack": self.slack,
            "email": self.email,
            "webhook": self.webhook,
            "pagerduty": self.pagerduty,
            "github-issue": self.github_issue,
        }
        found: dict[str, Any] = {k: v for k, v in builtins.items() if v is not None}
        return found | {name: self._named(name) for name in self.model_extra or {}}


# The built-in channels' settings, by notifier name (a named channel of one of these kinds is
# validated as its model).
_BUILTIN_MODELS: dict[str, type[SettingsModel]] = {
    "slack": SlackSettings,
    "email": EmailSettings,
    "webhook": WebhookSettings,
    "pagerduty": PagerDutySettings,
    "github-issue": GitHubIssueSettings,
}
