"""One redaction function for every line safeship prints, logs, stores or sends.

Two sources of secrets: values registered as secret (variables marked ``secret`` in the env
schema, header values of smoke tests, tokens), and values that look like credentials on their
own (known key prefixes). Both are replaced by MASK wherever they appear in a string, including
inside longer text such as a URL or an error message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "****"

# Values shorter than this are not registered: masking "1" or "yes" everywhere would garble
# output without protecting anything.
MIN_SECRET_LENGTH = 4

# Credentials recognisable by shape alone. Each pattern matches the whole token.
CREDENTIAL_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"),  # OpenAI, Anthropic
    re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key ids
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),  # Google API keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    # user:password@ in URLs: keep the user and host, mask the password.
    re.compile(r"(?<=://)[^/\s:@]+:([^@\s/]+)(?=@)"),
)


class Redactor:
    """Masks registered secret values and credential-shaped strings. Thread-safe."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in secrets:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Register a secret value; every later redact() masks it."""
        if value is None or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value not in self._secrets:
                self._secrets.add(value)
                self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                # Longest first, so a secret containing another is masked whole.
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            return self._pattern

    def redact(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for credential in CREDENTIAL_PATTERNS:
            if credential.groups:
                text = credential.sub(lambda m: m.group(0).replace(m.group(1), MASK), text)
            else:
                text = credential.sub(MASK, text)
        return text

    def redact_data(self, value: Any) -> Any:
        """The same structure with every string in it redacted (dict keys included)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_data(v) for v in value)
        return value


# The process-wide redactor every sink, printer and error path uses.
REDACTOR = Redactor()


def register_secret(value: str | None) -> None:
    REDACTOR.add(value)


def redact(text: str) -> str:
    return REDACTOR.redact(text)


def redact_data(value: Any) -> Any:
    return REDACTOR.redact_data(value)
