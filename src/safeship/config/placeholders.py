"""Strings in the health settings: ``${NAME}``/``{name}`` placeholders, JSON paths, URLs.

Shared by the settings (their syntax, checked at load) and the checks (resolving them).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from safeship.validation import check_url_text

# ${NAME}: an environment variable; {name}: a value captured by an earlier smoke step.
PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}|\{([^{}]*)\}")
# An environment variable's name (also a capture's).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = re.compile(r"([^.\[\]]*)((?:\[\d+\])*)")


def parse_json_path(path: str) -> tuple[str | int, ...]:
    """``"$"`` is the whole body; ``"items.0.id"`` and ``"$.items[0].id"`` go down keys and indexes.

    A segment of digits is an index into an array (or a key, on an object). Raises ValueError.
    """
    text = path.removeprefix("$").removeprefix(".") if path.startswith("$") else path
    if not text:
        if path.startswith("$"):
            return ()
        raise ValueError("empty JSON path (use $ for the whole body)")
    parts: list[str | int] = []
    for segment in text.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None or not (match.group(1) or match.group(2)):
            raise ValueError(f"invalid JSON path {path!r} (e.g. $, items.0.id, data[0].name)")
        key, indexes = match.groups()
        if key:
            parts.append(int(key) if key.isdigit() else key)
        parts.extend(int(i) for i in re.findall(r"\d+", indexes))
    return tuple(parts)


def placeholders(text: str) -> tuple[list[str], list[str]]:
    """(environment variable names, capture names) referenced in ``text``, in order.

    Raises ValueError for a placeholder whose name is not a valid identifier.
    """
    env: list[str] = []
    captures: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        variable, capture = match.group(1), match.group(2)
        name = variable if variable is not None else capture
        if not NAME.fullmatch(name):
            raise ValueError(f"{match.group(0)!r} is not a valid placeholder name")
        (env if variable is not None else captures).append(name)
    return env, captures


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON-like value (dict values and list items, recursively)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


def check_url(url: str, schemes: tuple[str, ...], *, host_required: bool = True) -> str:
    """Validate a URL's scheme and host; raises ValueError with a one-line message."""
    check_url_text(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in schemes:
        expected = ", ".join(f"{s}://" for s in schemes)
        raise ValueError(f"URL must start with {expected}")
    if host_required and not parts.hostname:
        raise ValueError(f"URL {url!r} has no host")
    return url
