"""What goes wrong with a schema or an environment's variables, and how it is told.

A ``Problem`` never carries a secret's value: the code that creates one decides what it may show
(see ``types.shown``), and everything printed still goes through ``safeship.redaction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Problem codes. Errors make a check fail; warnings are reported and do not.
MISSING = "missing"  # required and not set (an empty string counts as not set)
INVALID_TYPE = "invalid_type"  # not a value of the variable's type
TOO_SMALL = "too_small"  # below min / min_length
TOO_BIG = "too_big"  # above max / max_length
INVALID_PREFIX = "invalid_prefix"  # startswith
PATTERN_MISMATCH = "pattern_mismatch"  # pattern (full match)
INVALID_ENUM_VALUE = "invalid_enum_value"  # values
INVALID_LITERAL = "invalid_literal"  # value
NUL_CHARACTER = "nul_character"  # no process environment can hold it
VALUE_TOO_LARGE = "value_too_large"  # over what one environment entry may hold
DOTENV_SYNTAX = "dotenv_syntax"  # a .env line that cannot be parsed
DOTENV_ENCODING = "dotenv_encoding"  # a .env line that is not UTF-8
# Warnings.
UNKNOWN_VARIABLE = "unknown_variable"  # set, but not in the environment's schema
DOTENV_DUPLICATE = "dotenv_duplicate"  # a key set twice in one file: the last value wins
DOTENV_NO_VALUE = "dotenv_no_value"  # a bare KEY line without "=": ignored
WARNING_CODES = frozenset({UNKNOWN_VARIABLE, DOTENV_DUPLICATE, DOTENV_NO_VALUE})


class EnvSchemaError(Exception):
    """env.schema.toml cannot be used; each problem is one line ``file:line: key: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class EnvSourceError(Exception):
    """A source of variables cannot be read at all (a .env file that does not exist, ...)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    """One finding: which variable (None for a whole .env line), a stable code, a message.

    ``location`` is where the value came from (``.env:4``, ``safeship.toml:12``), when known.
    """

    variable: str | None
    code: str
    message: str
    location: str | None = None

    def text(self) -> str:
        """``location: VARIABLE: message``, the one-line form every command prints."""
        parts = [p for p in (self.location, self.variable) if p]
        return ": ".join([*parts, self.message])

    @property
    def is_warning(self) -> bool:
        return self.code in WARNING_CODES

    def as_json(self) -> dict[str, Any]:
        message = f"{self.location}: {self.message}" if self.location else self.message
        return {"variable": self.variable, "code": self.code, "message": message}


class InvalidEnvironment(ValueError):
    """An environment's variables do not satisfy its schema: every problem, at once."""

    def __init__(
        self, environment: str, errors: list[Problem], warnings: list[Problem] | None = None
    ) -> None:
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        lines = [f"environment {environment} is invalid ({count}):"]
        lines += [f"  {p.text()}" for p in errors]
        super().__init__("\n".join(lines))
        self.environment = environment
        self.errors = errors
        self.warnings = warnings or []
