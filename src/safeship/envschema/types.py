"""One variable of the schema (``VariableSpec``), and turning one string value into a typed value.

Every value arrives as a string (that is all an environment holds). ``parse_value`` turns it into
the variable's typed value or raises ``ValueProblem`` with a code and a message;
``format_value`` is its inverse, so ``parse_value(spec, format_value(spec, v)) == v`` for every
value ``v`` that ``parse_value`` returned. Messages show the offending value only for variables
that are not secret.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from safeship.envschema import problems as codes
from safeship.envschema.patterns import Pattern

TYPES = (
    "string",
    "url",
    "int",
    "float",
    "bool",
    "enum",
    "literal",
    "port",
    "email",
    "duration",
    "json",
)

# Keys every variable may have, and the constraints each type accepts.
COMMON_KEYS = frozenset({"type", "optional", "default", "secret", "public", "description"})
_TEXT_CONSTRAINTS = frozenset({"min_length", "max_length", "startswith", "pattern"})
_NUMBER_CONSTRAINTS = frozenset({"min", "max"})
CONSTRAINTS: dict[str, frozenset[str]] = {
    "string": _TEXT_CONSTRAINTS,
    "url": _TEXT_CONSTRAINTS,
    "email": _TEXT_CONSTRAINTS,
    "int": _NUMBER_CONSTRAINTS,
    "float": _NUMBER_CONSTRAINTS,
    "port": _NUMBER_CONSTRAINTS,
    "duration": _NUMBER_CONSTRAINTS,
    "bool": frozenset(),
    "json": frozenset(),
    "enum": frozenset({"values"}),
    "literal": frozenset({"value"}),
}
ALL_KEYS = COMMON_KEYS.union(*CONSTRAINTS.values())

BOOL_TRUE = frozenset({"true", "1", "yes"})
BOOL_FALSE = frozenset({"false", "0", "no"})

# ASCII digits only: \d would also accept other scripts' digits, which int() takes but no
# program reading the variable in another language would.
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Long enough for any integer a program uses; far below Python's int-parsing limit (4300 digits).
_MAX_INT_DIGITS = 100
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# The WHATWG HTML "valid e-mail address" rule, the one browsers apply to <input type=email>.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h|d)")
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:us|ms|s|m|h|d))+")
# Microseconds per unit, largest first (the order format_duration tries them).
DURATION_UNITS = {"d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000}
DURATION_UNITS |= {"ms": 1_000, "us": 1}

# How much of a non-secret value a message quotes.
_SHOWN_CHARS = 40


@dataclass(frozen=True)
class VariableSpec:
    """One variable as the schema defines it for one environment."""

    name: str
    type: str = "string"
    optional: bool = False
    # The default as an environment string (what a missing variable is taken to be).
    default: str | None = None
    secret: bool = False
    public: bool = False
    description: str | None = None
    min: int | float | timedelta | None = None
    max: int | float | timedelta | None = None
    min_length: int | None = None
    max_length: int | None = None
    startswith: str | None = None
    pattern: Pattern | None = None
    values: tuple[str, ...] | None = None
    value: str | None = None
    # The schema table that defines it (an environment may inherit it from another).
    table: str = ""

    @property
    def required(self) -> bool:
        return not self.optional and self.default is None

    def rules(self) -> dict[str, Any]:
        """The rules as plain data (no location, no description): what diff compares."""
        rules: dict[str, Any] = {"type": self.type}
        for key in ("min", "max", "min_length", "max_length", "startswith", "value", "default"):
            value = getattr(self, key)
            if value is not None:
                rules[key] = format_bound(value) if isinstance(value, timedelta) else value
        if self.pattern is not None:
            rules["pattern"] = self.pattern.pattern
        if self.values is not None:
            rules["values"] = list(self.values)
        for flag in ("optional", "secret", "public"):
            rules[flag] = getattr(self, flag)
        return rules


class ValueProblem(Exception):
    """A value does not fit its variable; ``message`` never contains a secret's value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def shown(spec: VariableSpec, raw: str) -> str:
    """`` (got 'x')`` for a non-secret value, a note for a secret one: the tail of a message."""
    if spec.secret:
        return " (the value is secret and not shown)"
    text = raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "…"
    return f" (got {text!r})"


def parse_value(spec: VariableSpec, raw: str) -> Any:
    """The typed value of ``raw`` for ``spec``, or ValueProblem. ``raw`` is non-empty."""
    if "\x00" in raw:
        raise ValueProblem(
            codes.NUL_CHARACTER, "contains a NUL character, which no process environment can hold"
        )
    typed = _PARSERS[spec.type](spec, raw)
    _check_constraints(spec, raw, typed)
    return typed


def format_value(spec: VariableSpec, typed: Any) -> str:
    """The environment string of a typed value (the inverse of parse_value)."""
    if spec.type == "bool":
        return "true" if typed else "false"
    if spec.type == "float":
        return repr(float(typed))
    if spec.type == "duration":
        return format_bound(typed)
    if spec.type == "json":
        return json.dumps(typed, ensure_ascii=False)
    return str(typed)


def format_bound(value: int | float | timedelta) -> str:
    """A duration as the shortest exact text (``90s``, ``1500ms``); numbers as they are."""
    if not isinstance(value, timedelta):
        return str(value)
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    for unit, size in DURATION_UNITS.items():
        if micros % size == 0:
            return f"{sign}{abs(micros) // size}{unit}"
    raise AssertionError("unreachable: 1us divides everything")


def parse_duration(text: str) -> timedelta:
    """``1h30m``, ``250ms``, ``1.5s`` → timedelta. Raises ValueError."""
    if not _DURATION.fullmatch(text):
        raise ValueError("not a duration")
    micros = Decimal(0)
    for number, unit in _DURATION_PART.findall(text):
        micros += Decimal(number) * DURATION_UNITS[unit]
    try:
        return timedelta(microseconds=int(micros.to_integral_value()))
    except OverflowError:
        raise ValueError("duration out of range") from None


# -- parsers, one per type ------------------------------------------------------------------


def _string(spec: VariableSpec, raw: str) -> str:
    return raw


def _url(spec: VariableSpec, raw: str) -> str:
    bad = ValueProblem(
        codes.INVALID_TYPE, "must be a URL like scheme://host/path" + shown(spec, raw)
    )
    if any(c.isspace() or ord(c) < 32 for c in raw):
        raise bad
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        raise bad from None
    if not _SCHEME.fullmatch(parts.scheme) or not parts.hostname:
        raise bad
    return raw


def _email(spec: VariableSpec, raw: str) -> str:
    if not _EMAIL.fullmatch(raw):
        raise ValueProblem(codes.INVALID_TYPE, "must be an e-mail address" + shown(spec, raw))
    return raw


def _int(spec: VariableSpec, raw: str) -> int:
    if not _INT.fullmatch(raw):
        raise ValueProblem(codes.INVALID_TYPE, "must be an integer" + shown(spec, raw))
    if len(raw.lstrip("+-")) > _MAX_INT_DIGITS:
        raise ValueProblem(
            codes.INVALID_TYPE, f"must be an integer of at most {_MAX_INT_DIGITS} digits"
        )
    return int(raw)


def _port(spec: VariableSpec, raw: str) -> int:
    if _INT.fullmatch(raw) and len(raw) <= 6 and 1 <= int(raw) <= 65535:
        return int(raw)
    raise ValueProblem(
        codes.INVALID_TYPE, "must be a port number from 1 to 65535" + shown(spec, raw)
    )


def _float(spec: VariableSpec, raw: str) -> float:
    if not _FLOAT.fullmatch(raw):
        raise ValueProblem(codes.INVALID_TYPE, "must be a number" + shown(spec, raw))
    value = float(raw)
    if not math.isfinite(value):
        raise ValueProblem(codes.INVALID_TYPE, "must be a finite number" + shown(spec, raw))
    return value


def _bool(spec: VariableSpec, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in BOOL_TRUE:
        return True
    if lowered in BOOL_FALSE:
        return False
    raise ValueProblem(
        codes.INVALID_TYPE, "must be one of true/false/1/0/yes/no" + shown(spec, raw)
    )


def _enum(spec: VariableSpec, raw: str) -> str:
    assert spec.values is not None
    if raw not in spec.values:
        allowed = ", ".join(spec.values)
        raise ValueProblem(codes.INVALID_ENUM_VALUE, f"must be one of {allowed}" + shown(spec, raw))
    return raw


def _literal(spec: VariableSpec, raw: str) -> str:
    if raw != spec.value:
        raise ValueProblem(codes.INVALID_LITERAL, f"must be {spec.value!r}" + shown(spec, raw))
    return raw


def _duration(spec: VariableSpec, raw: str) -> timedelta:
    try:
        return parse_duration(raw)
    except ValueError as exc:
        hint = "must be a duration such as 30s, 500ms, 5m, 1h30m (units us ms s m h d)"
        if str(exc) == "duration out of range":
            hint = "is a duration out of range"
        raise ValueProblem(codes.INVALID_TYPE, hint + shown(spec, raw)) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _json(spec: VariableSpec, raw: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ValueProblem(codes.INVALID_TYPE, f"must be JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise ValueProblem(codes.INVALID_TYPE, "must be JSON: nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, a number out of range, too many digits
        first = str(exc).splitlines()[0] if str(exc) else "invalid number"
        raise ValueProblem(codes.INVALID_TYPE, f"must be JSON: {first}") from None


_PARSERS: dict[str, Callable[[VariableSpec, str], Any]] = {
    "string": _string,
    "url": _url,
    "email": _email,
    "int": _int,
    "port": _port,
    "float": _float,
    "bool": _bool,
    "enum": _enum,
    "literal": _literal,
    "duration": _duration,
    "json": _json,
}
assert set(_PARSERS) == set(TYPES)


def _check_constraints(spec: VariableSpec, raw: str, typed: Any) -> None:
    if spec.min is not None and typed < spec.min:
        raise ValueProblem(
            codes.TOO_SMALL, f"must be at least {format_bound(spec.min)}" + shown(spec, raw)
        )
    if spec.max is not None and typed > spec.max:
        raise ValueProblem(
            codes.TOO_BIG, f"must be at most {format_bound(spec.max)}" + shown(spec, raw)
        )
    if spec.min_length is not None and len(raw) < spec.min_length:
        got = "" if spec.secret else f" (got {len(raw)})"
        raise ValueProblem(
            codes.TOO_SMALL, f"must be at least {spec.min_length} characters long{got}"
        )
    if spec.max_length is not None and len(raw) > spec.max_length:
        got = "" if spec.secret else f" (got {len(raw)})"
        raise ValueProblem(codes.TOO_BIG, f"must be at most {spec.max_length} characters long{got}")
    if spec.startswith is not None and not raw.startswith(spec.startswith):
        raise ValueProblem(
            codes.INVALID_PREFIX, f"must start with {spec.startswith!r}" + shown(spec, raw)
        )
    if spec.pattern is not None and not spec.pattern.fullmatch(raw):
        raise ValueProblem(
            codes.PATTERN_MISMATCH,
            f"must match the pattern {spec.pattern.pattern!r}" + shown(spec, raw),
        )


def coerce_default(spec: VariableSpec, value: Any) -> str:
    """A TOML default (``10``, ``true``, ``"30s"``, a table for json) as an environment string.

    Raises ValueError with the reason when the TOML value cannot stand for this type.
    """
    if spec.type == "json":
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
        except ValueError as exc:
            raise ValueError(f"cannot be written as JSON: {exc}") from None
    if isinstance(value, bool):
        if spec.type != "bool":
            raise ValueError(f"a boolean cannot be the default of type {spec.type}")
        return "true" if value else "false"
    if isinstance(value, int | float):
        if spec.type not in ("int", "float", "port", "duration"):
            raise ValueError(f"a number cannot be the default of type {spec.type} (quote it)")
        if spec.type == "duration":
            return format_bound(_seconds(value))
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"must be a string, number or boolean, not a {type(value).__name__}")


def _seconds(value: int | float) -> timedelta:
    try:
        return timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise ValueError("duration out of range") from None


def coerce_bound(type_name: str, value: Any) -> int | float | timedelta:
    """A TOML ``min``/``max`` for ``type_name``; a duration bound is a duration or seconds."""
    if type_name == "duration":
        if isinstance(value, str):
            return parse_duration(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _seconds(value)
        raise ValueError("must be a duration such as 30s, or a number of seconds")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value
