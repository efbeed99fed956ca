"""One redaction function for every line safeship prints, logs, stores or sends.

Two sources of secrets: values registered as secret (variables marked ``secret`` in the env
schema, header values of smoke tests, tokens), and values that look like credentials on their
own (known key prefixes, and long random-looking tokens: see ``is_high_entropy``). Both are
replaced by MASK wherever they appear in a string, including inside longer text such as a URL or
an error message.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
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
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),  # GitLab
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),  # npm
    re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),  # PyPI
    re.compile(r"\bhf_[A-Za-z0-9]{30,}"),  # Hugging Face
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{24,}"),  # Stripe webhook signing secrets
    re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),  # SendGrid
    re.compile(r"\bdop_v1_[a-f0-9]{64}\b"),  # DigitalOcean
    re.compile(r"\bSK[0-9a-fA-F]{32}\b"),  # Twilio API keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWTs
    re.compile(r"(?<=hooks\.slack\.com/services/)[A-Za-z0-9/]+"),  # Slack webhook URLs
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/-]{16,}=*"),  # Authorization: Bearer ...
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    # user:password@ in URLs: keep the user and host, mask the password.
    re.compile(r"(?<=://)[^/\s:@]+:([^@\s/]+)(?=@)"),
)

# Long random-looking tokens (base64 / URL-safe alphabets) are masked even without a known prefix:
# generated passwords, session secrets, API keys of services not listed above.
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{32,}(?![A-Za-z0-9+/=_-])")
# Random tokens of 32 characters from a 62-letter alphabet measure about 4.5 bits per character
# (rarely below 3.95); identifiers and words stay below 3.9 at that length. Tokens must also mix
# upper case, lower case and digits, which keeps lowercase hex (commit SHAs, UUIDs, fingerprints)
# and paths readable.
HIGH_ENTROPY_BITS = 3.9


def is_high_entropy(token: str) -> bool:
    """Whether ``token`` (32+ characters) looks like a random credential rather than a word."""
    if len(token) < 32 or token.startswith("/"):
        return False
    if not (
        any(c.isupper() for c in token)
        and any(c.islower() for c in token)
        and any(c.isdigit() for c in token)
    ):
        return False
    counts = Counter(token)
    n = len(token)
    bits = -sum(k / n * math.log2(k / n) for k in counts.values())
    return bits >= HIGH_ENTROPY_BITS


def _mask_high_entropy(text: str) -> str:
    return _TOKEN.sub(lambda m: MASK if is_high_entropy(m.group(0)) else m.group(0), text)


def looks_like_credential(value: str) -> bool:
    """Whether ``value`` contains a credential by shape alone (a known prefix or a random token).

    Registered secrets do not count: this is for deciding how to treat a value nobody declared.
    """
    return _redact_shapes(value) != value


def _redact_shapes(text: str) -> str:
    for credential in CREDENTIAL_PATTERNS:
        if credential.groups:
            text = credential.sub(lambda m: m.group(0).replace(m.group(1), MASK), text)
        else:
            text = credential.sub(MASK, text)
    return _mask_high_entropy(text)


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
        return _redact_shapes(text)

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
