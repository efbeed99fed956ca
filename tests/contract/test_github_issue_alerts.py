"""The GitHub-issue channel against the loopback GitHub server: one open issue per environment
and condition, a comment per repeat, closed with a comment when resolved, and no second issue
after a create whose answer was lost."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from github_api import OWNER, REPO, TOKEN, FakeIssue, GitHubServer
from loopback import Received

from safeship.notify.base import Alert, DeliveryError, Notification, NotifierClass
from safeship.notify.github_issue import GitHubIssueAlerts
from safeship.notify.settings import GitHubIssueSettings
from safeship.redaction import MASK, redact

FAILED = Alert(
    id="4f1e9a53-0001",
    condition="deployment.failed",
    severity="error",
    state="firing",
    environment="production",
    summary="v2 rolled_back: error rate 12.0% > 5.0%",
    occurred_at=datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC),
    deployment_id="d-42",
    version="v2",
    commit="a84d88e",
    triggered_by="ci",
    status="rolled_back",
    duration_s=93.5,
    health_score=0.41,
    rollback_reason="error rate 12.0% > 5.0% | at step 10",
    rollback_rule="error_rate",
    dashboard_url="https://safeship.acme.example/production/d-42",
    details={"error_rate": "12.0%"},
)
MARKER = "<!-- safeship-alert: safeship/production/deployment.failed -->"


def channel(
    server: GitHubServer, errors: io.StringIO | None = None, **settings: Any
) -> GitHubIssueAlerts:
    merged = {"repo": f"{OWNER}/{REPO}", "api_url": server.url, "request_timeout": 0.5} | settings
    return GitHubIssueAlerts(TOKEN, GitHubIssueSettings.model_validate(merged), errors)


def notification(*alerts: Alert) -> Notification:
    return Notification(alerts[0].id, "github-issue", alerts[0].environment, alerts)


def send_all(server: GitHubServer, *notifications: Notification) -> None:
    issues = channel(server)
    try:
        for n in notifications:
            issues.send(n)
    finally:
        issues.close()


def test_open_then_a_repeat_comments_then_resolved_comments_and_closes(
    github_api: GitHubServer,
) -> None:
    repeat = replace(FAILED, id="4f1e9a53-0002", version="v3", summary="v3 failed: no health")
    resolved = replace(FAILED, id="4f1e9a53-0003", state="resolved", summary="v4 deployed")
    send_all(github_api, notification(FAILED))
    [issue] = github_api.issue_records.values()
    assert github_api.issues == [
        {
            "title": "safeship: deployment failed in production",
            "body": (
                "v2 rolled_back: error rate 12.0% > 5.0%\n\n"
                "| | |\n|---|---|\n"
                "| environment | production |\n"
                "| severity | error |\n"
                "| version | v2 |\n"
                "| commit | a84d88e |\n"
                "| triggered by | ci |\n"
                "| status | rolled_back |\n"
                "| duration | 94 s |\n"
                "| health score | 41% |\n"
                "| rollback reason | error rate 12.0% > 5.0% \\| at step 10 |\n"
                "| rollback rule | error_rate |\n"
                "| deployment | d-42 |\n"
                "| dashboard | https://safeship.acme.example/production/d-42 |\n"
                "| when | 2026-03-01T10:00:05+00:00 |\n"
                "| error_rate | 12.0% |\n\n"
                "safeship keeps this issue open while the condition lasts: a repeat adds a "
                "comment, and the next healthy deploy closes it.\n\n"
                f"{MARKER}\n<!-- safeship-alert-id: 4f1e9a53-0001 -->\n"
            ),
            "labels": ["safeship-alert"],
        }
    ]
    send_all(github_api, notification(repeat))
    assert len(github_api.issue_records) == 1
    [comment] = issue.comments
    assert comment.startswith("Again: v3 failed: no health\n\n| | |\n|---|---|\n")
    assert "| version | v3 |" in comment
    assert comment.endswith("<!-- safeship-alert-id: 4f1e9a53-0002 -->\n")
    send_all(github_api, notification(resolved))
    assert (
        issue.comments[1] == "Resolved: v4 deployed\n\n<!-- safeship-alert-id: 4f1e9a53-0003 -->\n"
    )
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    # The next failure opens a new issue: the closed one is not reopened.
    send_all(github_api, notification(replace(FAILED, id="4f1e9a53-0004")))
    assert [i.state for i in github_api.issue_records.values()] == ["closed", "open"]
    listed = github_api.calls("/issues")[0]
    assert (listed.method, listed.query) == (
        "GET", {"state": "open", "per_page": "100", "labels": "safeship-alert", "page": "1"},
    )  # fmt: skip


def test_one_issue_per_environment_and_condition_and_a_burst_is_one_issue(
    github_api: GitHubServer,
) -> None:
    rollback = replace(FAILED, id="r-1", condition="rollback.triggered", severity="critical")
    staging = replace(FAILED, id="s-1", environment="staging")
    again = replace(FAILED, id="4f1e9a53-0009", summary="v2 failed again")
    github_api.add_pull_request(MARKER)  # a pull request quoting the marker is not the issue
    send_all(github_api, notification(FAILED, rollback, again), notification(staging))
    titles = sorted(i.title for i in github_api.open_issues())
    assert titles == [
        "safeship: deployment failed in production",
        "safeship: deployment failed in staging",
        "safeship: rollback triggered in production",
    ]
    [production_failed] = [i for i in github_api.open_issues() if i.body and MARKER in i.body]
    assert [c.splitlines()[0] for c in production_failed.comments] == ["Again: v2 failed again"]


def test_good_news_opens_nothing_a_test_only_lists_and_resolving_nothing_is_quiet(
    github_api: GitHubServer,
) -> None:
    succeeded = replace(FAILED, id="g-1", condition="deployment.succeeded", severity="info")
    test = replace(FAILED, id="t-1", condition="test", severity="info")
    send_all(
        github_api,
        notification(succeeded),
        notification(test),
        notification(replace(FAILED, id="g-2", state="resolved")),
    )
    assert github_api.issue_records == {}
    assert [r.method for r in github_api.received] == ["GET", "GET"]


def test_the_issue_is_found_on_a_later_page(github_api: GitHubServer) -> None:
    send_all(github_api, notification(FAILED))  # issue #1: the oldest, listed last
    for number in range(2, 152):
        github_api.issue_records[number] = FakeIssue(
            number, f"other {number}", "", ["safeship-alert"]
        )
    send_all(github_api, notification(replace(FAILED, id="4f1e9a53-0010")))
    assert len(github_api.issue_records[1].comments) == 1
    assert len(github_api.issue_records) == 151
    pages = [r.query["page"] for r in github_api.received if r.method == "GET"]
    assert pages == ["1", "1", "2"]


def create(r: Received) -> bool:
    return r.method == "POST" and r.path.endswith("/issues")


def test_a_create_whose_answer_was_lost_is_found_again_not_opened_twice(
    github_api: GitHubServer,
) -> None:
    issues = channel(github_api)
    github_api.drop_after(create)  # GitHub opens it, the answer never comes
    try:
        with pytest.raises(DeliveryError) as caught:
            issues.send(notification(FAILED))
        assert caught.value.maybe_delivered
        issues.send(notification(FAILED))  # the core's retry of the same notification
    finally:
        issues.close()
    [issue] = github_api.issue_records.values()
    assert issue.comments == []  # it is this alert's own issue: no "again" comment either
    assert len([r for r in github_api.received if create(r)]) == 1


def test_a_hung_create_then_a_retry_opens_exactly_one_issue(github_api: GitHubServer) -> None:
    github_api.hang_seconds = 1.0
    github_api.fail("hang", match=create)
    issues = channel(github_api)
    try:
        with pytest.raises(DeliveryError) as caught:
            issues.send(notification(FAILED))
        assert caught.value.maybe_delivered and "no answer within 0.5 s" in str(caught.value)
        issues.send(notification(FAILED))
    finally:
        issues.close()
    assert len(github_api.open_issues()) == 1


def test_a_comment_whose_answer_was_lost_is_not_posted_twice(github_api: GitHubServer) -> None:
    send_all(github_api, notification(FAILED))
    resolved = replace(FAILED, id="4f1e9a53-0005", state="resolved", summary="v3 deployed")
    github_api.drop_after(lambda r: r.method == "POST" and r.path.endswith("/comments"))
    issues = channel(github_api)
    try:
        with pytest.raises(DeliveryError):
            issues.send(notification(resolved))
        issues.send(notification(resolved))
    finally:
        issues.close()
    [issue] = github_api.issue_records.values()
    assert [c.splitlines()[0] for c in issue.comments] == ["Resolved: v3 deployed"]
    assert issue.state == "closed"


def test_answers_become_delivery_errors(github_api: GitHubServer) -> None:
    issues = channel(github_api)
    try:
        github_api.fail("502")  # on the listing: a read, nothing can have been applied
        with pytest.raises(DeliveryError) as unread:
            issues.send(notification(FAILED))
        github_api.fail("429")
        with pytest.raises(DeliveryError) as throttled:
            issues.send(notification(FAILED))
        github_api.fail("500", match=create)
        with pytest.raises(DeliveryError) as outage:
            issues.send(notification(FAILED))
        github_api.issues_enabled = False
        with pytest.raises(DeliveryError) as disabled:
            issues.send(notification(FAILED))
    finally:
        issues.close()
    assert not (unread.value.maybe_delivered or unread.value.permanent)
    assert str(unread.value) == "github issues: server error (HTTP 502)"
    assert throttled.value.retry_after == 1.0 and not throttled.value.maybe_delivered
    assert outage.value.maybe_delivered and not outage.value.permanent
    assert disabled.value.permanent
    assert str(disabled.value) == "github issues: HTTP 410: Issues are disabled for this repo"


def test_the_used_up_rate_limit_is_a_wait_not_a_wrong_token(github_api: GitHubServer) -> None:
    github_api.rate_limit_reset = time.time() + 120
    issues = channel(github_api)
    try:
        with pytest.raises(DeliveryError) as caught:
            issues.send(notification(FAILED))
    finally:
        issues.close()
    assert not caught.value.permanent
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


def test_dropped_labels_are_one_warning(github_api: GitHubServer) -> None:
    github_api.drop_labels = True
    errors = io.StringIO()
    issues = channel(github_api, errors)
    try:
        issues.send(notification(FAILED))
        issues.send(notification(replace(FAILED, id="x-2", condition="rollback.triggered")))
    finally:
        issues.close()
    assert errors.getvalue() == (
        "safeship: warning: GitHub dropped the labels of alert issue #1 (the token needs triage "
        "access): a repeat will not find it and opens another\n"
    )


def test_configured_reads_the_token_from_its_variable_and_never_prints_it(
    github_api: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = io.StringIO()
    settings = GitHubIssueSettings(
        repo=f"{OWNER}/{REPO}", token_env="GH_ISSUE_TOKEN_FOR_TEST", api_url=github_api.url
    )
    monkeypatch.delenv("GH_ISSUE_TOKEN_FOR_TEST", raising=False)
    kind: NotifierClass = GitHubIssueAlerts  # the port, as the plugin registry loads it
    assert kind.configured(settings, errors) is None
    assert errors.getvalue() == (
        "safeship: warning: [notify.github-issue] is configured but GH_ISSUE_TOKEN_FOR_TEST is "
        "not set; no GitHub issue alerts\n"
    )
    monkeypatch.setenv("GH_ISSUE_TOKEN_FOR_TEST", TOKEN + "x")  # a wrong token
    issues = kind.configured(settings, errors)
    assert issues is not None
    try:
        with pytest.raises(DeliveryError) as caught:
            issues.send(notification(FAILED))
    finally:
        issues.close()
    assert caught.value.permanent
    assert (
        str(caught.value)
        == "github issues: the credentials were rejected (HTTP 401: Bad credentials)"
    )
    assert TOKEN not in errors.getvalue()
    assert redact(f"token {TOKEN}x") == f"token {MASK}"
