"""The registry's one exception and the checks every repository applies to its arguments."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from typing import Any


class RegistryError(Exception):
    """Any registry failure: bad URL, unreachable database, invalid argument, unknown id."""


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def check_text(name: str, value: str | None, limit: int | None, *, required: bool = True) -> None:
    """Refuse what one backend would store and the other refuse.

    Enforced here because SQLite ignores VARCHAR lengths and accepts NUL characters, and
    PostgreSQL does neither: the same call must fail the same way on both.
    """
    if value is None or value == "":
        if required:
            raise RegistryError(f"{name} must not be empty")
        return
    if "\x00" in value:
        raise RegistryError(f"{name} contains a NUL character")
    if limit is not None and len(value) > limit:
        raise RegistryError(f"{name} is longer than {limit} characters")


def check_fraction(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise RegistryError(f"{name} must be within 0.0-1.0, got {value}")


def check_count(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise RegistryError(f"{name} must not be negative, got {value}")


def check_finite(name: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise RegistryError(f"{name} must be a finite number, got {value}")


def parse_id(deployment_id: str) -> str | None:
    """The canonical form of a full UUID string, or None if it is not one."""
    try:
        return str(uuid.UUID(deployment_id))
    except (ValueError, TypeError, AttributeError):
        return None


def json_object(name: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``value`` after checking it is plain JSON.

    Checked here so both backends fail alike: the drivers raise different errors, and SQLite
    would accept NaN where PostgreSQL's json type refuses it.
    """
    data = dict(value or {})
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{name} is not plain JSON: {exc}") from exc
    return data
