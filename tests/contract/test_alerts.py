"""The "slack" channel against the loopback Slack webhook server: the Block Kit message field
by field, Block Kit's limits, and each answer mapped to the right DeliveryError."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest
from sample_alerts import burst, rollback, single
from slack_api import SECRET, SlackServer, block_kit_problem

from safeship.notify.base import DeliveryError, Notification
from safeship.notify.settings import SlackSettings
from safeship.notify.slack import SlackNotifier, message


def send(url: str, notification: Notification, timeout: float = 2.0) -> None:
    notifier = SlackNotifier(url, timeout=timeout)
    try:
        notifier.send(notification)
    finally:
        notifier.close()


def test_a_rollback_is_one_block_kit_message_field_by_field(slack_api: SlackServer) -> None:
    send(slack_api.webhook_url, single(rollback()))
    [posted] = slack_api.messages
    post = slack_api.calls("/services/")[0]
    assert post.headers["Content-Type"].startswith("application/json")
    # The fallback: the status, the environment, the summary; Slack's control characters escaped.
    assert posted.text == (
        "🔄 Deployment rolled back · production: v2.4.0 rolled back: error rate 12.0% &gt; 5.0% "
        "&lt;at step 2&gt;"
    )
    header, summary, fields, reason, link = posted.blocks
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "🔄 Deployment rolled back · production",
            "emoji": True,
        },
    }
    assert (
        summary["text"]["text"]
        == "v2.4.0 rolled back: error rate 12.0% &gt; 5.0% &lt;at step 2&gt;"
    )
    assert [f["text"] for f in fields["fields"]] == [
        "*Environment:*\nproduction",
        "*Version:*\nv2.4.0",
        "*Commit:*\n0123456",
        "*Triggered by:*\nalice",
        "*Duration:*\n83.4 s",
        "*Health score:*\n87.5%",
        "*Severity:*\ncritical",
        "*Deploy path:*\nlocal",
        "*error_rate:*\n12.0%",
        "*baseline_p95_ms:*\n40",
    ]
    assert (
        reason["text"]["text"]
        == "*Rollback reason:*\nerror rate 12.0% &gt; 5.0% &amp; rising (rule error_rate)"
    )
    assert link["text"]["text"] == (
        "<https://deploys.acme.example/d/42?env=production&amp;tab=health|Open the deployment>"
    )
    assert slack_api.rejected == []


def test_the_architecture_emojis_for_each_status(slack_api: SlackServer) -> None:
    started = rollback(condition="deployment.started", severity="info", status=None)
    succeeded = rollback(condition="deployment.succeeded", severity="info", status="succeeded")
    cases = [
        (started, "🚀 Deployment started"),
        (succeeded, "✅ Deployment succeeded"),
        (rollback(status="failed"), "❌ Deployment failed"),
        (rollback(condition="rollback.triggered"), "🔄 Rollback triggered"),
        (rollback(condition="latency.high", severity="warning"), "⚠️ Latency high"),
        (rollback(condition="latency.high", state="resolved"), "✅ Latency high resolved"),
    ]  # fmt: skip
    for alert, title in cases:
        header = message(single(alert))["blocks"][0]["text"]["text"]
        assert header == f"{title} · production"


def test_unknown_figures_are_left_out_not_shown_empty(slack_api: SlackServer) -> None:
    bare = rollback(
        version=None, commit=None, triggered_by=None, duration_s=None, health_score=None,
        rollback_reason=None, rollback_rule=None, path=None, dashboard_url=None, details={},
    )  # fmt: skip
    send(slack_api.webhook_url, single(bare))
    [posted] = slack_api.messages
    assert [b["type"] for b in posted.blocks] == ["header", "section", "section"]
    assert [f["text"] for f in posted.blocks[2]["fields"]] == [
        "*Environment:*\nproduction",
        "*Severity:*\ncritical",
    ]


def test_a_5000_character_reason_is_cut_to_the_section_limit(slack_api: SlackServer) -> None:
    long = rollback(rollback_reason="x" * 5000, summary="s" * 5000, environment="e" * 200)
    send(slack_api.webhook_url, single(long))
    [posted] = slack_api.messages
    assert slack_api.rejected == []
    assert len(posted.blocks[0]["text"]["text"]) == 150
    assert posted.blocks[0]["text"]["text"].endswith("…")
    reason = next(
        b for b in posted.blocks if "Rollback reason" in b.get("text", {}).get("text", "")
    )
    assert len(reason["text"]["text"]) == 3000 and reason["text"]["text"].endswith("…")
    assert len(posted.text) <= 3000


def test_sixty_alerts_in_one_group_stay_within_fifty_blocks(slack_api: SlackServer) -> None:
    group = burst(60)
    send(slack_api.webhook_url, group)
    [posted] = slack_api.messages
    assert slack_api.rejected == [] and len(posted.blocks) <= 50
    assert posted.blocks[0]["text"]["text"] == "⚠️ Latency high · production (+59 more)"
    listed = "\n".join(
        b["text"]["text"] for b in posted.blocks if b.get("text") and "•" in b["text"]["text"]
    )
    # The lead (the newest of the most severe) in full; the 59 others one line each.
    assert posted.blocks[1]["text"]["text"] == "p95 latency 139 ms &gt; 2x baseline 40 ms"
    assert listed.count("•") == 59
    assert "• ⚠️ Latency high — p95 latency 80 ms &gt; 2x baseline 40 ms _(18:00:00)_" in listed


def test_a_huge_group_counts_what_does_not_fit() -> None:
    group = burst(400)
    group = replace(
        group, alerts=tuple(replace(a, summary=a.summary + " " + "y" * 900) for a in group.alerts)
    )
    payload = message(group)
    assert block_kit_problem(payload["blocks"]) is None and len(payload["blocks"]) == 50
    more = payload["blocks"][-1]
    assert more["type"] == "context" and more["elements"][0]["text"].startswith("…and ")
    shown = sum(
        b["text"]["text"].count("• ")
        for b in payload["blocks"]
        if b.get("type") == "section" and b.get("text")
    )
    hidden = int(more["elements"][0]["text"].split()[1])
    assert shown + hidden == 399


def test_429_is_retry_after_from_the_header(slack_api: SlackServer) -> None:
    slack_api.rate_limit_next, slack_api.retry_after = 1, 7
    with pytest.raises(DeliveryError) as failed:
        send(slack_api.webhook_url, single(rollback()))
    error = failed.value
    assert (error.retry_after, error.permanent, error.maybe_delivered) == (7.0, False, False)
    assert str(error) == "slack: rate limited (HTTP 429: rate_limited); retry after 7 s"
    assert slack_api.messages == []


def test_500_is_maybe_delivered(slack_api: SlackServer) -> None:
    slack_api.fail("500")
    with pytest.raises(DeliveryError) as failed:
        send(slack_api.webhook_url, single(rollback()))
    assert failed.value.maybe_delivered and not failed.value.permanent
    assert len(slack_api.calls("/services/")) == 1  # one attempt: retrying is the core's


def test_a_hanging_slack_is_a_bounded_maybe_delivered(slack_api: SlackServer) -> None:
    slack_api.hang_seconds = 2.0
    slack_api.fail("hang")
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        send(slack_api.webhook_url, single(rollback()), timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert failed.value.maybe_delivered
    assert str(failed.value) == "slack: no answer within 0.3 s"


def test_a_revoked_webhook_is_permanent_and_never_shows_the_url(slack_api: SlackServer) -> None:
    revoked = slack_api.webhook_url.replace(SECRET, "Wr0ngSecretWr0ngSecret12")
    with pytest.raises(DeliveryError) as failed:
        send(revoked, single(rollback()))
    assert failed.value.permanent
    assert str(failed.value) == "slack: HTTP 404: no_service"


def test_an_unreachable_webhook_is_retryable_not_sent(slack_api: SlackServer) -> None:
    url = slack_api.webhook_url.replace(str(slack_api.port), "1")
    with pytest.raises(DeliveryError) as failed:
        send(url, single(rollback()))
    assert not failed.value.permanent and not failed.value.maybe_delivered
    assert SECRET not in str(failed.value)


def test_configured_reads_the_url_from_its_variable_and_never_prints_it(
    monkeypatch: pytest.MonkeyPatch, slack_api: SlackServer
) -> None:
    settings = SlackSettings(webhook_env="SAFESHIP_TEST_SLACK")
    assert SlackNotifier.min_interval == 1.0
    errors = io.StringIO()
    monkeypatch.delenv("SAFESHIP_TEST_SLACK", raising=False)
    assert SlackNotifier.configured(settings, errors) is None
    monkeypatch.setenv("SAFESHIP_TEST_SLACK", "hooks.slack.com/services/" + SECRET)
    assert SlackNotifier.configured(settings, errors) is None
    assert errors.getvalue().splitlines() == [
        "safeship: warning: [notify.slack] is configured but SAFESHIP_TEST_SLACK is not set; "
        "no Slack notifications",
        "safeship: warning: SAFESHIP_TEST_SLACK is not a webhook URL; no Slack notifications",
    ]
    monkeypatch.setenv("SAFESHIP_TEST_SLACK", slack_api.webhook_url)
    notifier = SlackNotifier.configured(settings, errors)
    assert notifier is not None
    # A server that echoes the URL back: the error line masks it.
    slack_api.fail("403")
    with pytest.raises(DeliveryError) as failed:
        notifier.send(single(rollback(summary=f"see {slack_api.webhook_url}")))
    notifier.close()
    assert SECRET not in str(failed.value) and SECRET not in errors.getvalue()
    assert SECRET not in repr(message(single(rollback(summary=f"see {slack_api.webhook_url}"))))


def test_more_than_ten_fields_take_a_second_section(slack_api: SlackServer) -> None:
    many = rollback(details={f"figure_{n}": str(n) for n in range(12)})
    send(slack_api.webhook_url, single(many))
    [posted] = slack_api.messages
    sections = [b["fields"] for b in posted.blocks if "fields" in b]
    assert [len(fields) for fields in sections] == [10, 10]  # 8 of ours + 12 figures
    assert sections[1][-1]["text"] == "*figure_11:*\n11"
