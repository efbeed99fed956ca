"""JSON bodies: look up a path, judge assertions. Used by smoke steps and HTTP checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from safeship.config.health import Assertion
from safeship.config.placeholders import parse_json_path

_MISSING = object()


def lookup(body: Any, path: str) -> Any:
    """The value at ``path`` (see parse_json_path), or the module's _MISSING marker."""
    current = body
    for part in parse_json_path(path):
        if isinstance(current, dict):
            key = str(part)
            if key not in current:
                return _MISSING
            current = current[key]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            return _MISSING
    return current


def found(value: Any) -> bool:
    return value is not _MISSING


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def failed_assertion(body: Any, assertion: Assertion) -> str | None:
    """Why ``assertion`` does not hold for ``body`` (one line), or None when it holds."""
    value = lookup(body, assertion.path)
    where = assertion.path
    given = assertion.model_fields_set
    exists = found(value)
    if assertion.exists is False:
        return f"{where} exists" if exists else None
    if not exists:
        return f"{where} is missing"
    if "equals" in given and value != assertion.equals:
        return f"{where} is {_short(value)}, expected {_short(assertion.equals)}"
    if assertion.is_array is not None and isinstance(value, list) != assertion.is_array:
        return f"{where} is {'an' if isinstance(value, list) else 'not an'} array"
    if assertion.length is not None or assertion.min_length is not None:
        if not isinstance(value, list | str | dict):
            return f"{where} has no length ({_short(value)})"
        if assertion.length is not None and len(value) != assertion.length:
            return f"{where} has length {len(value)}, expected {assertion.length}"
        if assertion.min_length is not None and len(value) < assertion.min_length:
            return f"{where} has length {len(value)}, expected at least {assertion.min_length}"
    return None


def first_failed(body: Any, assertions: Sequence[Assertion]) -> str | None:
    for assertion in assertions:
        problem = failed_assertion(body, assertion)
        if problem is not None:
            return problem
    return None
