"""Checks of command-line arguments, run as Typer callbacks while the arguments are parsed.

Each one applies a rule of safeship.validation, so a bad version, name or path is refused
before the config is read or anything is written; the InvalidIdentifier it raises becomes one
line and exit 2 (safeship.cli.errors). Kept light: `safeship --help` imports it.
"""

from __future__ import annotations

from safeship.validation import (
    MAX_ARGUMENT,
    check_argument,
    check_commit,
    check_environment_name,
    check_triggered_by,
    check_url_text,
    check_version,
)


def version(value: str) -> str:
    return check_version(value)


def commit(value: str | None) -> str | None:
    return None if value is None else check_commit(value)


def triggered_by(value: str) -> str:
    return check_triggered_by(value)


def environment(value: str | None) -> str | None:
    return None if value is None else check_environment_name(value)


def url(value: str | None) -> str | None:
    return None if value is None else check_url_text(value)


def text(value: str | None) -> str | None:
    """Any other string: at most MAX_ARGUMENT characters, no control characters."""
    return None if value is None else check_argument("argument", value, MAX_ARGUMENT)


def texts(values: list[str] | None) -> list[str] | None:
    for value in values or []:
        check_argument("argument", value, MAX_ARGUMENT)
    return values
