"""A real SMTP server on a loopback port (aiosmtpd), for the "email" channel.

Behaviour from the standards, through aiosmtpd's implementation of them: RFC 5321 (SMTP and
its reply codes: 4yz transient, 5yz permanent), RFC 3207 (STARTTLS; before it, 530 "Must
issue a STARTTLS command first"), RFC 8314 (implicit TLS), RFC 4954 (AUTH; a refused
password is 535). AUTH LOGIN only (PLAIN is excluded), as the recipe in /work/shared/TESTING.md
§4 sets it up. Each received message is parsed (``email.policy.default``) and kept.

Faults for the next message: ``reply_next`` answers DATA with a given code ("451 ..." or
"550 ..."); ``hang_next`` keeps DATA waiting ``hang_seconds`` before answering.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from safeship._processes import free_port

USERNAME, PASSWORD = "safeship", "Sm7pPa55w0rdXq9Lk2"


def throwaway_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem), valid one day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated: bool
    tls: bool
    received_at: float = field(default_factory=time.time)  # epoch seconds


class SmtpServer:
    def __init__(
        self,
        cert: Path,
        key: Path,
        security: Literal["starttls", "tls", "none"] = "starttls",
        auth: bool = True,
    ) -> None:
        self.port = free_port()
        self.security = security
        self.messages: list[Received] = []
        self.reply_next: str | None = None
        self.hang_next = False
        self.hang_seconds = 5.0
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options: dict[str, Any] = {"auth_exclude_mechanism": ["PLAIN"]}
        if auth:
            options["authenticator"] = self._authenticate
            options["auth_required"] = True
        if security == "starttls":
            options |= {"tls_context": context, "require_starttls": True}
        elif security == "tls":
            # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; this is TLS throughout.
            options |= {"ssl_context": context, "server_hostname": "127.0.0.1"}
            options["auth_require_tls"] = False
        else:
            options["auth_require_tls"] = False
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    @staticmethod
    def _authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: a refusal answers 535

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hang_next:
            self.hang_next = False
            await asyncio.sleep(self.hang_seconds)
        if self.reply_next is not None:
            reply, self.reply_next = self.reply_next, None
            return reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        tls = session.ssl is not None or self.security == "tls"
        self.messages.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), message, session.authenticated, tls
            )
        )
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
