"""Secret scan of a change: only the lines it adds, with detect-secrets' plugins and filters.

detect-secrets (pinned) is the engine: its plugins find candidates on each added line and its
filters drop the false ones (``pragma: allowlist secret``, templated values, UUIDs, lock
files, ...). A ``.secrets.baseline`` at the repository root chooses the plugins and filters and
its known secrets are not reported again. ``PrefixedKeyDetector`` adds key prefixes
detect-secrets 1.5 lacks. A finding is reported as ``path:line: rule: the line`` with the secret
replaced by the mask and the whole line passed through the redaction: no value is printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detect_secrets.core import baseline as ds_baseline
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.core.scan import _is_filtered_out, _scan_line
from detect_secrets.exceptions import InvalidBaselineError, UnableToReadBaselineError
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.settings import get_plugins, transient_settings
from detect_secrets.util.code_snippet import get_code_snippet

from safeship.hooks.gitdiff import Change
from safeship.hooks.result import CheckResult
from safeship.redaction import MASK, redact

BASELINE_FILENAME = ".secrets.baseline"
_SHOWN = 120
_TOKEN_CHARS = r"[A-Za-z0-9_\-+/=.~]"


class PrefixedKeyDetector(RegexBasedDetector):
    """API keys recognisable by their prefix that detect-secrets 1.5 has no plugin for."""

    secret_type = "Prefixed API Key"
    denylist = (
        re.compile(r"\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}"),  # Anthropic
        re.compile(r"\bsk-proj-[A-Za-z0-9_-]{40,}"),  # OpenAI project keys (new format)
        re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),  # Google API keys
        re.compile(r"\bhf_[A-Za-z0-9]{34,}"),  # Hugging Face
        re.compile(r"\bdop_v1_[a-f0-9]{64}\b"),  # DigitalOcean
        re.compile(r"\bwhsec_[A-Za-z0-9+/=]{24,}"),  # Stripe webhook signing secrets
        re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}"),  # GitHub fine-grained tokens
    )


class BaselineError(Exception):
    """.secrets.baseline cannot be read."""


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    shown: str  # the line with the secret masked

    def text(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.shown}"

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "rule": self.rule, "shown": self.shown}


def _settings_and_known(root: Path) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    path = root / BASELINE_FILENAME
    if not path.is_file():
        classes: list[type[Any]] = list(get_mapping_from_secret_type_to_class().values())
        plugins = [{"name": cls.__name__} for cls in classes]
        return {"plugins_used": plugins}, set()
    try:
        data = ds_baseline.upgrade(ds_baseline.load_from_file(str(path)))
        known = {
            (filename, str(entry["hashed_secret"]))
            for filename, entries in data.get("results", {}).items()
            for entry in entries
        }
    except (UnableToReadBaselineError, InvalidBaselineError, KeyError, TypeError, AttributeError):
        raise BaselineError(f"{BASELINE_FILENAME}: not a detect-secrets baseline") from None
    return data, known


def _masked(line: str, secrets: set[str]) -> str:
    text = line.strip()
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:  # the whole token around it (a plugin may report only a part, e.g. "ghp")
            text = re.sub(f"{_TOKEN_CHARS}*{re.escape(secret)}{_TOKEN_CHARS}*", MASK, text)
    text = redact(text)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def scan_change(change: Change) -> list[Finding]:
    """Every secret on an added line of ``change``, not allow-listed nor in the baseline."""
    config, known = _settings_and_known(change.root)
    findings: list[Finding] = []
    with transient_settings(config) as settings:
        settings.disable_filters(
            "detect_secrets.filters.common.is_invalid_file",  # reads the working tree
            "detect_secrets.filters.common.is_baseline_file",
        )
        plugins: list[BasePlugin] = [*get_plugins(), PrefixedKeyDetector()]
        for changed in change.files:
            if changed.path == BASELINE_FILENAME or not changed.added:
                continue
            if _is_filtered_out(["filename"], filename=changed.path):
                continue
            found = [
                (secret, text)
                for secret, text in _scan_lines(changed.path, list(changed.added), plugins)
                if (changed.path, secret.secret_hash) not in known
            ]
            values: dict[int, set[str]] = {}
            for secret, _ in found:
                values.setdefault(secret.line_number, set()).add(secret.secret_value or "")
            for secret, text in found:
                shown = _masked(text, values[secret.line_number])
                findings.append(Finding(changed.path, secret.line_number, secret.type, shown))
    return _distinct(findings)


def _scan_lines(
    path: str, lines: list[tuple[int, str]], plugins: list[BasePlugin]
) -> Iterator[tuple[PotentialSecret, str]]:
    texts = [text for _, text in lines]
    for index, (number, raw) in enumerate(lines):
        line = raw.rstrip()
        context = get_code_snippet(texts, index + 1)
        if _is_filtered_out(["line"], filename=path, line=line, context=context):
            continue
        for plugin in plugins:
            for secret in _scan_line(
                plugin=plugin, filename=path, line=line, line_number=number, context=context
            ):
                if not _is_filtered_out(
                    ["context"],
                    filename=path,
                    secret=secret.secret_value,
                    plugin=plugin,
                    line=line,
                    context=context,
                ):
                    yield secret, line


def _distinct(findings: list[Finding]) -> list[Finding]:
    """One finding per line and rule (a line can hold the same secret twice)."""
    seen: set[tuple[str, int, str]] = set()
    result = []
    for finding in findings:
        key = (finding.path, finding.line, finding.rule)
        if key not in seen:
            seen.add(key)
            result.append(finding)
    return result


def run_secrets(change: Change) -> CheckResult:
    """The gate's secret step."""
    findings = scan_change(change)
    if findings:
        return CheckResult("secrets", "failed", tuple(f.text() for f in findings))
    scanned = sum(1 for f in change.files if f.added)
    return CheckResult("secrets", "passed", (f"{scanned} file(s) with added lines: no secret",))
