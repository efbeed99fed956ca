"""The "email" channel against a real SMTP server (aiosmtpd) on loopback: STARTTLS or implicit
TLS with a throwaway certificate, AUTH LOGIN, the message parsed and checked field by field,
and each SMTP failure mapped to the right DeliveryError."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sample_alerts import burst, rollback, single
from smtp_server import PASSWORD, USERNAME, SmtpServer

from safeship.notify.base import DeliveryError, Notification
from safeship.notify.email import EmailNotifier
from safeship.notify.settings import EmailSettings

Cert = tuple[Path, Path]


def settings(server: SmtpServer, cert: Path | None, **changes: Any) -> EmailSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": server.security,
        "username": USERNAME,
        "password_env": "SAFESHIP_TEST_SMTP_PASSWORD",
        "from": "safeship@acme.example",
        "to": ["ops@acme.example", "oncall@acme.example"],
        "ca_file": str(cert) if cert else None,
        "request_timeout": 2.0,
    }
    return EmailSettings.model_validate(values | changes)


def send(
    config: EmailSettings, notification: Notification, password: str | None = PASSWORD
) -> None:
    notifier = EmailNotifier(config, password)
    try:
        notifier.send(notification)
    finally:
        notifier.close()


def test_a_rollback_is_one_email_with_text_and_html(
    smtp_server: SmtpServer, smtp_cert: Cert
) -> None:
    send(settings(smtp_server, smtp_cert[0]), single(rollback(), "email"))
    [received] = smtp_server.messages
    assert received.authenticated and received.tls
    assert received.mail_from == "safeship@acme.example"
    assert received.rcpt_tos == ["ops@acme.example", "oncall@acme.example"]
    mail = received.message
    assert mail["Subject"] == (
        "[safeship] Deployment rolled back in production: v2.4.0 rolled back: error rate 12.0% "
        "> 5.0% <at step 2>"
    )
    assert mail["Message-ID"] == "<safeship.ntf-0001@acme.example>"
    assert mail["X-Safeship-Environment"] == "production"
    assert mail["X-Safeship-Severity"] == "critical"
    assert mail["X-Safeship-Condition"] == "deployment.failed"
    assert mail["Date"] == "Mon, 30 Nov 2026 18:00:00 +0000"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = text.replace("\r\n", "\n").splitlines()
    assert lines[:2] == [
        "🔄 Deployment rolled back",
        "v2.4.0 rolled back: error rate 12.0% > 5.0% <at step 2>",
    ]
    for line in [
        "Environment: production",
        "Version: v2.4.0",
        "Commit: 0123456",
        "Triggered by: alice",
        "Duration: 83.4 s",
        "Health score: 87.5%",
        "Severity: critical",
        "Deploy path: local",
        "error_rate: 12.0%",
        "Rollback reason: error rate 12.0% > 5.0% & rising (rule error_rate)",
        "Dashboard: https://deploys.acme.example/d/42?env=production&tab=health",
    ]:
        assert line in lines
    page = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # Escaped: the reason's & and the summary's <at step 2> are text, not markup.
    assert "<p>v2.4.0 rolled back: error rate 12.0% &gt; 5.0% &lt;at step 2&gt;</p>" in page
    assert (
        '<tr><th align="left">Rollback reason</th>'
        "<td>error rate 12.0% &gt; 5.0% &amp; rising (rule error_rate)</td></tr>" in page
    )
    assert '<a href="https://deploys.acme.example/d/42?env=production&amp;tab=health">' in page


def test_a_group_lists_the_others_and_keeps_one_message_id(
    smtp_server: SmtpServer, smtp_cert: Cert
) -> None:
    group = burst(5, "email")
    config = settings(smtp_server, smtp_cert[0])
    send(config, group)
    send(config, group)  # a retry after an unknown outcome: the same Message-ID, for dedup
    first, second = (r.message for r in smtp_server.messages)
    assert first["Message-ID"] == second["Message-ID"] == "<safeship.ntf-0000@acme.example>"
    assert first["Subject"].startswith("[safeship] Latency high in production (+4 more): ")
    text = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Also in this group (4):" in text and text.count("\n- ⚠️ Latency high: ") == 4


# aiosmtpd warns when AUTH is required without STARTTLS: here the whole connection is TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(smtp_cert: Cert) -> None:
    server = SmtpServer(*smtp_cert, security="tls")
    server.start()
    try:
        send(settings(server, smtp_cert[0]), single(rollback(), "email"))
    finally:
        server.stop()
    assert [r.tls for r in server.messages] == [True]


def test_an_untrusted_certificate_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(DeliveryError) as failed:
        send(settings(smtp_server, None), single(rollback(), "email"))
    assert failed.value.permanent
    assert "certificate of 127.0.0.1 is not trusted" in str(failed.value)
    assert smtp_server.messages == []


def test_a_refused_password_is_permanent_and_never_printed(
    smtp_server: SmtpServer, smtp_cert: Cert
) -> None:
    wrong = "Wr0ngPassw0rdWr0ng99"
    with pytest.raises(DeliveryError) as failed:
        send(settings(smtp_server, smtp_cert[0]), single(rollback(), "email"), password=wrong)
    assert failed.value.permanent
    assert str(failed.value).startswith("email: 127.0.0.1:")
    assert "the login was refused: 535" in str(failed.value)
    assert wrong not in str(failed.value) and PASSWORD not in str(failed.value)


def test_4xx_is_retryable_5xx_is_permanent(smtp_server: SmtpServer, smtp_cert: Cert) -> None:
    config = settings(smtp_server, smtp_cert[0])
    smtp_server.reply_next = "451 4.3.0 mailbox busy, try later"
    with pytest.raises(DeliveryError) as temporary:
        send(config, single(rollback(), "email"))
    assert not temporary.value.permanent
    assert "the message was refused: 451 4.3.0 mailbox busy, try later" in str(temporary.value)
    smtp_server.reply_next = "554 5.6.0 message rejected"
    with pytest.raises(DeliveryError) as permanent:
        send(config, single(rollback(), "email"))
    assert permanent.value.permanent
    send(config, single(rollback(), "email"))
    assert len(smtp_server.messages) == 1


def test_a_hanging_server_is_a_bounded_maybe_delivered(
    smtp_server: SmtpServer, smtp_cert: Cert
) -> None:
    smtp_server.hang_next, smtp_server.hang_seconds = True, 2.0
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        send(settings(smtp_server, smtp_cert[0], request_timeout=0.4), single(rollback(), "email"))
    assert time.monotonic() - started < 1.5
    assert failed.value.maybe_delivered and not failed.value.permanent
    assert "the message timed out" in str(failed.value)


def test_no_server_is_retryable(smtp_cert: Cert) -> None:
    server = SmtpServer(*smtp_cert)  # never started: the port refuses connections
    with pytest.raises(DeliveryError) as failed:
        send(settings(server, smtp_cert[0]), single(rollback(), "email"))
    assert not failed.value.permanent and not failed.value.maybe_delivered
    assert "the connection failed (ConnectionRefusedError" in str(failed.value)


def test_settings_refuse_clear_text_off_loopback_and_need_the_password(
    monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer, smtp_cert: Cert
) -> None:
    with pytest.raises(ValidationError, match='security = "none" sends mail and passwords'):
        settings(smtp_server, None, host="smtp.acme.example", security="none")
    assert settings(smtp_server, None, host="::1", security="none").security == "none"
    config = settings(smtp_server, smtp_cert[0])
    errors = io.StringIO()
    monkeypatch.delenv("SAFESHIP_TEST_SMTP_PASSWORD", raising=False)
    assert EmailNotifier.configured(config, errors) is None
    assert errors.getvalue() == (
        "safeship: warning: [notify.email] has a username but SAFESHIP_TEST_SMTP_PASSWORD is "
        "not set; no email notifications\n"
    )
    monkeypatch.setenv("SAFESHIP_TEST_SMTP_PASSWORD", PASSWORD)
    notifier = EmailNotifier.configured(config, errors)
    assert notifier is not None
    notifier.send(single(rollback(summary=f"password was {PASSWORD}"), "email"))
    [received] = smtp_server.messages
    assert PASSWORD not in received.message.as_string()


def test_without_a_username_it_sends_without_auth(smtp_cert: Cert) -> None:
    server = SmtpServer(*smtp_cert, auth=False)
    server.start()
    try:
        config = settings(server, smtp_cert[0], username=None)
        notifier = EmailNotifier.configured(config, io.StringIO())
        assert notifier is not None
        notifier.send(single(rollback(), "email"))
    finally:
        server.stop()
    [received] = server.messages
    assert received.tls and not received.authenticated
