"""Issue 13's acceptance: a rolled-back production deploy reaches all five channels within 2 s
of the rollback, once each, checked field by field in the receivers; the next good deploy
resolves what it raised.

A real deploy (the demo service on the local target, the builtin router, the SQLite registry)
with every built-in channel configured, each against its loopback receiver: Slack (Block Kit),
a real SMTP server (STARTTLS, AUTH), PagerDuty (Events v2 and Change Events), GitHub issues and
a CloudEvents webhook.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from github_api import TOKEN as GITHUB_TOKEN
from github_api import GitHubServer
from pagerduty_api import ROUTING_KEY, PagerDutyServer
from slack_api import SlackServer
from smtp_server import PASSWORD as SMTP_PASSWORD
from smtp_server import USERNAME as SMTP_USER
from smtp_server import SmtpServer
from webhook_api import WebhookServer

from safeship.config import load_config
from safeship.pipeline import operations
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]

CHANNELS = """
[alerts]
production = ["{env}"]
close_timeout = 5.0

[notify.slack]
webhook_env = "ACCEPT_SLACK_URL"

[notify.email]
host = "127.0.0.1"
port = {smtp_port}
security = "starttls"
username = "{smtp_user}"
password_env = "ACCEPT_SMTP_PASSWORD"
from = "safeship@example.test"
to = ["ops@example.test"]
ca_file = "{ca_file}"

[notify.pagerduty]
routing_key_env = "ACCEPT_PD_KEY"
api_url = "{pagerduty}"
change_environments = ["{env}"]

[notify.github-issue]
repo = "acme/shop"
token_env = "ACCEPT_GITHUB_TOKEN"
api_url = "{github}"

[notify.webhook]
url_env = "ACCEPT_WEBHOOK_URL"
"""


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _mentions_rollback(value: Any) -> bool:
    return "rollback.triggered" in str(value) or "Rollback triggered" in str(value)


def test_a_rolled_back_production_deploy_reaches_every_channel_once_within_2_s(
    workspace_factory: WorkspaceFactory,
    slack_api: SlackServer,
    smtp_server: SmtpServer,
    smtp_cert: tuple[Path, Path],
    pagerduty_api: PagerDutyServer,
    github_api: GitHubServer,
    webhook_api: WebhookServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = workspace_factory(behaviours={"v2": "unhealthy_after=0.8"}, bake_time=0.2)
    config = ws.root / "safeship.toml"
    config.write_text(
        config.read_text()
        + CHANNELS.format(
            env=ENV,
            smtp_port=smtp_server.port,
            smtp_user=SMTP_USER,
            ca_file=smtp_cert[0],
            pagerduty=pagerduty_api.url,
            github=github_api.url,
        )
    )
    monkeypatch.setenv("ACCEPT_SLACK_URL", slack_api.webhook_url)
    monkeypatch.setenv("ACCEPT_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("ACCEPT_PD_KEY", ROUTING_KEY)
    monkeypatch.setenv("ACCEPT_GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("ACCEPT_WEBHOOK_URL", webhook_api.hook_url)
    loaded = load_config(config)

    assert operations.deploy(loaded, ENV, "v1", commit="a" * 40, triggered_by="ci").ok
    ws.set_bake_time(2.0)  # a first deploy bakes too: v1 went in quickly
    loaded = ws.loaded  # the same file, channels and all
    # What the good first deploy sent (its news: Slack, email, the webhook, a change event).
    before = (
        len(slack_api.messages),
        len(smtp_server.messages),
        len(webhook_api.deliveries),
        len(pagerduty_api.changes),
    )
    outcome = operations.deploy(loaded, ENV, "v2", commit="b" * 40, triggered_by="ci")
    assert outcome.status is Status.ROLLED_BACK and outcome.deployment_id is not None
    with Registry(ws.loaded.registry_url()) as registry:
        (triggered,) = [
            e for e in registry.events(outcome.deployment_id) if e.name == "rollback.triggered"
        ]
        counts = registry.outbox_counts()
    assert counts["pending"] == 0 and counts["failed"] == 0, counts
    rollback_at = triggered.timestamp.timestamp()

    # Slack: one message about the rollback, Block Kit valid, its fields the deploy's.
    slack = [m for m in slack_api.messages[before[0] :] if _mentions_rollback(m.blocks)]
    assert len(slack) == 1 and slack_api.rejected == []
    blocks = slack[0].blocks
    assert blocks[0]["type"] == "header" and "rolled back" in blocks[0]["text"]["text"]
    fields = " ".join(
        f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])
    )
    for expected in (ENV, "v2", "b" * 7, "ci"):
        assert expected in fields
    # Email: one message, text and HTML, over STARTTLS with AUTH, to the configured address.
    mail = [r for r in smtp_server.messages[before[1] :] if _mentions_rollback(r.message)]
    assert len(mail) == 1
    (received,) = mail
    assert received.tls and received.authenticated and received.rcpt_tos == ["ops@example.test"]
    assert received.message.get_content_type() == "multipart/alternative"
    assert received.message["X-Safeship-Environment"] == ENV
    assert received.message["X-Safeship-Severity"] == "critical"
    # PagerDuty: one alert opened for the rollback, with the condition's dedup key.
    (page,) = pagerduty_api.alerts  # the rollback pages; the deploy's outcome is a change event
    assert page.status == "triggered" and page.dedup_key == f"safeship/{ENV}/rollback.triggered"
    trigger = page.events[0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["routing_key"] == ROUTING_KEY
    # GitHub: one open issue for the environment's failed (rolled-back) deploy.
    rollback_issues = list(github_api.issue_records.values())
    assert len(rollback_issues) == 1 and rollback_issues[0].state == "open"
    assert ENV in rollback_issues[0].title and "v2" in (rollback_issues[0].body or "")
    assert f"safeship-alert: safeship/{ENV}/deployment.failed" in (rollback_issues[0].body or "")
    # The webhook: one delivery for the rollback (its alerts as one CloudEvents batch), the
    # deploy's outcome in CDEvents' type.
    (batch,) = [d for d in webhook_api.deliveries[before[2] :] if _mentions_rollback(d)]
    assert webhook_api.rejected == [] and webhook_api.duplicates == 0
    types = {e["subject"]: e["type"] for e in batch}
    assert types["deployment.failed"] == "dev.cdevents.service.rolledback.0.2.0"
    assert types["rollback.triggered"] == "dev.safeship.alert.rollback.triggered.firing"
    assert {e["source"] for e in batch} == {f"/safeship/{ENV}"}
    documents = [e for e in batch if e["subject"] == "rollback.triggered"]

    # All within 2 s of the rollback (each receiver's arrival time).
    (document_key,) = [k for k, e in webhook_api.events.items() if e is documents[0]]
    arrivals = [
        slack[0].received_at,
        received.received_at,
        page.received_at[0],
        rollback_issues[0].created_at,
        webhook_api.received_at[document_key],
    ]
    assert max(arrivals) - rollback_at < 2.0, [a - rollback_at for a in arrivals]

    # The next good deploy resolves the page and closes the issue, with a comment.
    assert operations.deploy(loaded, ENV, "v3", commit="c" * 40, triggered_by="ci").ok
    assert _wait(lambda: page.status == "resolved", 5.0)
    assert rollback_issues[0].state == "closed" and rollback_issues[0].comments
    # No credential anywhere a receiver could show.
    shown = str([m.blocks for m in slack_api.messages]) + str(
        [r.message.as_string() for r in smtp_server.messages]
    )
    for secret in (SMTP_PASSWORD, ROUTING_KEY, GITHUB_TOKEN, slack_api.webhook_url):
        assert secret not in shown
