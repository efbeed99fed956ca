"""The "email" channel: a notification as one email over SMTP (a text and an HTML part).

Standards: RFC 5321 (SMTP; reply codes: 4yz transient, 5yz permanent, §4.2.1), RFC 3207
(STARTTLS), RFC 8314 (implicit TLS, port 465), RFC 5322 (Message-ID), RFC 2046
(multipart/alternative: the plain part first, the preferred HTML part last).

Decisions:

- ``security``: "starttls" (default, port 587) or "tls" (implicit TLS, port 465); the
  server's certificate is always verified, against the system's CAs or ``ca_file``. "none"
  (clear text) is accepted by the settings only for a relay on this machine.
- The password is a credential: read from the variable ``password_env`` names, registered as a
  secret, never printed; AUTH only when ``username`` is set.
- Message-ID is derived from the notification's id (the outbox id of its first alert), so a
  retried send carries the same Message-ID and receivers (and mail clients) drop the
  duplicate. Headers ``X-Safeship-Environment`` and ``X-Safeship-Severity`` let a mail rule
  sort alerts without parsing the subject.
- One connection and one attempt per ``send``; ``request_timeout`` bounds each step. Errors
  map to ``DeliveryError``: a 4yz reply or a connection that failed before DATA is retried; a
  5yz reply (a refused password, sender or recipient) is permanent; a connection lost after
  the message was handed over is ``maybe_delivered``.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import sys
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, ClassVar, TextIO

from safeship.httpapi import one_line
from safeship.notify.base import EVERYTHING, Alert, DeliveryError, Notification, RouteDefaults
from safeship.notify.presentation import facts, heading, rollback_text
from safeship.notify.settings import EmailSettings
from safeship.redaction import redact, register_secret

if TYPE_CHECKING:
    import smtplib

MAX_SUBJECT = 200
# What was under way when a send failed, for its line.
_STEPS = {
    "connect": "the connection",
    "auth": "the login",
    "data": "the message",
    "quit": "closing the connection",
}
_ID_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def message_id(notification: Notification, sender: str) -> str:
    """``<safeship.ID@DOMAIN>``: the same for every attempt at one notification. An id with
    characters a Message-ID cannot hold is replaced by its digest."""
    local = notification.id
    if not _ID_SAFE.match(local):
        local = hashlib.sha256(local.encode()).hexdigest()[:32]
    domain = sender.rsplit("@", 1)[-1].strip("<> ") or "safeship.invalid"
    return f"<safeship.{local}@{domain}>"


def subject(notification: Notification, prefix: str) -> str:
    lead = notification.lead
    more = len(notification.alerts) - 1
    extra = f" (+{more} more)" if more else ""
    text = f"{prefix} {heading(lead).title} in {lead.environment}{extra}: {lead.summary}"
    return one_line(text.strip(), MAX_SUBJECT)


def _text_alert(alert: Alert) -> list[str]:
    lines = [str(heading(alert)), alert.summary, ""]
    lines += [f"{label}: {value}" for label, value in facts(alert)]
    lines += [f"{name}: {value}" for name, value in alert.details.items()]
    reason = rollback_text(alert)
    if reason:
        lines.append(f"Rollback reason: {reason}")
    if alert.dashboard_url:
        lines.append(f"Dashboard: {alert.dashboard_url}")
    lines.append(f"At: {alert.occurred_at.isoformat()}")
    return lines


def text_body(notification: Notification) -> str:
    lead = notification.lead
    lines = _text_alert(lead)
    others = [a for a in notification.alerts if a is not lead]
    if others:
        lines += ["", f"Also in this group ({len(others)}):"]
        lines += [f"- {heading(a)}: {a.summary} ({a.occurred_at.isoformat()})" for a in others]
    lines += ["", f"Notification {notification.id} from safeship."]
    return "\n".join(lines) + "\n"


def _html_alert(alert: Alert) -> str:
    e = html.escape
    rows = [(label, value) for label, value in facts(alert)] + list(alert.details.items())
    reason = rollback_text(alert)
    if reason:
        rows.append(("Rollback reason", reason))
    table = "".join(
        f'<tr><th align="left">{e(label)}</th><td>{e(value)}</td></tr>' for label, value in rows
    )
    link = ""
    if alert.dashboard_url and alert.dashboard_url.startswith(("https://", "http://")):
        link = f'<p><a href="{e(alert.dashboard_url)}">Open the deployment</a></p>'
    return f"<h2>{e(str(heading(alert)))}</h2><p>{e(alert.summary)}</p><table>{table}</table>{link}"


def html_body(notification: Notification) -> str:
    e = html.escape
    lead = notification.lead
    parts = [_html_alert(lead)]
    others = [a for a in notification.alerts if a is not lead]
    if others:
        items = "".join(
            f"<li>{e(str(heading(a)))}: {e(a.summary)} ({e(a.occurred_at.isoformat())})</li>"
            for a in others
        )
        parts.append(f"<h3>Also in this group ({len(others)})</h3><ul>{items}</ul>")
    parts.append(f"<p><small>Notification {e(notification.id)} from safeship.</small></p>")
    return "<!DOCTYPE html><html><body>" + "".join(parts) + "</body></html>\n"


def email_message(notification: Notification, settings: EmailSettings) -> EmailMessage:
    """The email for ``notification``: multipart/alternative, text then HTML."""
    lead = notification.lead
    mail = EmailMessage()
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.to)
    mail["Subject"] = subject(notification, settings.subject_prefix)
    mail["Date"] = format_datetime(lead.occurred_at)
    mail["Message-ID"] = message_id(notification, settings.sender)
    mail["X-Safeship-Environment"] = notification.environment
    mail["X-Safeship-Severity"] = notification.severity
    mail["X-Safeship-Condition"] = lead.condition
    mail.set_content(redact(text_body(notification)))
    mail.add_alternative(redact(html_body(notification)), subtype="html")
    return mail


class EmailNotifier:
    """The "email" channel (``safeship.notify.base.Notifier``), configured by
    ``[notify.email]``."""

    min_interval: ClassVar[float] = 0.0
    default_route: ClassVar[RouteDefaults] = EVERYTHING

    @classmethod
    def configured(
        cls, settings: EmailSettings, errors: TextIO | None = None
    ) -> EmailNotifier | None:
        """The channel, or None (with one warning line) when it has a username but its
        password variable is unset."""
        password: str | None = None
        if settings.username:
            password = os.environ.get(settings.password_env, "")
            if not password:
                print(
                    f"safeship: warning: [notify.email] has a username but {settings.password_env} "
                    "is not set; no email notifications",
                    file=errors or sys.stderr,
                )
                return None
        return cls(settings, password)

    def __init__(self, settings: EmailSettings, password: str | None = None) -> None:
        register_secret(password)
        self._settings = settings
        self._password = password

    def send(self, notification: Notification) -> None:
        import smtplib

        mail = email_message(notification, self._settings)
        stage = "connect"  # past "data", a lost connection may have delivered the message
        try:
            with self._connect() as smtp:
                if self._settings.username and self._password is not None:
                    stage = "auth"
                    smtp.login(self._settings.username, self._password)
                stage = "data"
                smtp.send_message(mail)
                stage = "quit"
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            temporary = all(400 <= code < 500 for code in codes)
            raise self._error(
                f"every recipient refused ({', '.join(str(c) for c in sorted(set(codes)))})",
                permanent=not temporary,
            ) from None
        except smtplib.SMTPResponseException as exc:
            noun = "the sender" if isinstance(exc, smtplib.SMTPSenderRefused) else _STEPS[stage]
            what = f"{noun} was refused: {exc.smtp_code} {_reply(exc.smtp_error)}"
            raise self._error(what, permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise self._error(f"the server does not support {exc}", permanent=True) from None
        except smtplib.SMTPException as exc:  # SMTPServerDisconnected and the like
            raise self._lost(stage, exc) from None
        except OSError as exc:  # refused, DNS, timeout, TLS (ssl.SSLError is an OSError)
            import ssl

            if isinstance(exc, ssl.SSLCertVerificationError):
                host, why = self._settings.host, exc.verify_message
                what = f"the certificate of {host} is not trusted ({why})"
                raise self._error(
                    f"{what}; set ca_file to its CA if it is a private relay", permanent=True
                ) from None
            raise self._lost(stage, exc) from None

    def close(self) -> None:
        """Nothing is held between sends: each opens and closes its own connection."""

    def _connect(self) -> smtplib.SMTP:
        import smtplib
        import ssl

        s = self._settings
        timeout = s.request_timeout
        if s.security == "tls":
            context = ssl.create_default_context(cafile=s.ca_file)
            return smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=timeout)
        try:
            if s.security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=ssl.create_default_context(cafile=s.ca_file))
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _error(self, what: str, *, permanent: bool = False, maybe: bool = False) -> DeliveryError:
        where = f"{self._settings.host}:{self._settings.port}"
        return DeliveryError(
            one_line(f"email: {where}: {what}"), permanent=permanent, maybe_delivered=maybe
        )

    def _lost(self, stage: str, exc: BaseException) -> DeliveryError:
        # smtplib reports a read timeout as SMTPServerDisconnected("... timed out").
        timed_out = isinstance(exc, TimeoutError) or "timed out" in str(exc)
        kind = "timed out" if timed_out else "failed"
        detail = one_line(str(exc), 120) or type(exc).__name__
        return self._error(
            f"{_STEPS[stage]} {kind} ({type(exc).__name__}: {detail})",
            maybe=stage in ("data", "quit"),
        )


def _reply(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return one_line(text, 120)
