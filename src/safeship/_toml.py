"""TOML source positions: which line defines a key, and syntax errors as ``file:line``.

Kept free of pydantic so that fast paths (the env schema check) can use it.
"""

from __future__ import annotations

import math
import re
import tomllib
from datetime import date, datetime, time
from typing import Any

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_ASSIGNMENT = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_KEY_PART = re.compile(r"[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'")


# Tables and arrays nested deeper than this are refused (tomllib recurses per level of arrays
# and inline tables; dotted keys nest without limit): no config needs more.
MAX_DEPTH = 32
# Integers beyond 64 bits fit no database column or timeout.
_MAX_INT = 2**63 - 1


class TomlError(ValueError):
    """A TOML file that cannot be read: ``problem`` is one ``file:line: ...`` line."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def decode_toml(raw: bytes, filename: str) -> str:
    """UTF-8 text of a TOML file; TomlError naming the line (not the byte offset) otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise TomlError(
            f"{filename}:{line}: syntax: not valid UTF-8 (byte 0x{byte} at column {column}); "
            "save the file as UTF-8"
        ) from None


def parse_toml(source: str, filename: str) -> dict[str, Any]:
    """``tomllib.loads`` whose every failure is a TomlError of one ``file:line`` line.

    Refuses nesting deeper than MAX_DEPTH: tomllib itself would raise RecursionError on a few
    hundred nested arrays, and deep data would reach the validators after it.
    """
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise TomlError(toml_syntax_problem(exc, filename)) from None
    except RecursionError:
        line = _deepest_line(source)
        raise TomlError(
            f"{filename}:{line or '?'}: syntax: arrays or tables nested deeper than {MAX_DEPTH}"
        ) from None
    deep = _too_deep(data)
    if deep is not None:
        line = locate_key(source, deep)
        raise TomlError(
            f"{filename}:{line or '?'}: {format_key(deep)}: "
            f"arrays or tables nested deeper than {MAX_DEPTH}"
        )
    return data


def scalar_problems(data: object) -> list[tuple[tuple[str, ...], str]]:
    """Values no setting takes, with where they are: dates and times, nan and inf, integers
    beyond 64 bits, strings holding NUL. Checked before validation so that no model meets them."""
    found: list[tuple[tuple[str, ...], str]] = []
    stack: list[tuple[tuple[str, ...], object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*path, str(k)), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, str(i)), v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, datetime | date | time):
            found.append((path, "a date or time is not a valid value here"))
        elif isinstance(value, str) and "\x00" in value:
            found.append((path, "contains a NUL character"))
        elif isinstance(value, float) and not math.isfinite(value):
            found.append((path, "must be a finite number (not nan or inf)"))
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
            found.append((path, "number too large (integers fit in 64 bits)"))
    return found


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_key(path: tuple[str, ...]) -> str:
    """A key path as TOML writes it: ``a.b."c d"``; control characters escaped."""
    if not path:
        return "(top level)"
    parts = []
    for part in path:
        if len(part) > 40:  # cut, as a value is in a message (safeship.validation.shown)
            parts.append(f'{_quoted(part[:40])[:-1]}..." ({len(part)} characters)')
        elif _BARE_KEY.fullmatch(part):
            parts.append(part)
        else:
            parts.append(_quoted(part))
    return ".".join(parts)


def _quoted(key: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in key)
    return f'"{escaped}"'


def _too_deep(data: object) -> tuple[str, ...] | None:
    """The path to the first value nested deeper than MAX_DEPTH, or None (iteratively)."""
    stack: list[tuple[tuple[str, ...], object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            return path[: MAX_DEPTH + 1]
        if isinstance(value, dict):
            stack.extend(((*path, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*path, str(i)), v) for i, v in enumerate(value))
    return None


def _deepest_line(source: str) -> int | None:
    """The line where brackets and braces outside strings and comments first nest deeper than
    MAX_DEPTH (the file is too deep for tomllib, so this is a scan of the text)."""
    depth = 0
    line = 1
    quote = ""  # the delimiter of the string we are in: " ' \"\"\" or '''
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c == "\n":
            line += 1
        if quote:
            if c == "\\" and quote[0] == '"':
                line += source.startswith("\n", i + 1)
                i += 2
                continue
            if source.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
            if c == "\n" and len(quote) == 1:
                quote = ""  # an unterminated one-line string: tomllib says so, not us
        elif c == "#":
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            quote = c * 3 if source.startswith(c * 3, i) else c
            i += len(quote)
            continue
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None


def toml_syntax_problem(exc: tomllib.TOMLDecodeError, filename: str) -> str:
    """A TOML syntax error as ``file:line: syntax: message``."""
    message = str(exc)
    match = _TOML_POSITION.search(message)
    line = match.group(1) if match else "?"
    return f"{filename}:{line}: syntax: {_TOML_POSITION.sub('', message)}"


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(_unquote(part) for part in _KEY_PART.findall(text))


def _unquote(part: str) -> str:
    """A key part as tomllib reads it: a basic string's escapes (``\\u0000``) decoded."""
    if part.startswith('"') and "\\" in part:
        try:
            value = tomllib.loads(f"k = {part}")["k"]
        except (tomllib.TOMLDecodeError, RecursionError):
            return part.strip('"')
        return str(value)
    return part.strip("\"'")


def _table_path(
    keys: tuple[str, ...], arrays: dict[tuple[str, ...], int], new_element: bool
) -> tuple[str, ...]:
    """A table header's keys with array-of-tables indexes inserted (``[[a]]`` -> a.N)."""
    resolved: tuple[str, ...] = ()
    for position, key in enumerate(keys):
        resolved += (key,)
        if new_element and position == len(keys) - 1:
            arrays[resolved] = arrays.get(resolved, -1) + 1
        if resolved in arrays:
            resolved += (str(arrays[resolved]),)
    return resolved


def locate_key(source: str, path: tuple[str, ...]) -> int | None:
    """The line defining the longest prefix of ``path`` (1-based), or None.

    A missing key is reported at the table that should hold it; a key inside an inline table
    at the line of that inline table; a table only defined through its sub-tables at the first.
    Elements of an array of tables (``[[a.b]]``) are numbered as in the path: ``a.b.0``.
    """
    best_line: int | None = None
    best_len = 0
    first_within: int | None = None
    table: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}  # array of tables -> index of its last element
    for number, line in enumerate(source.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _table_path(_split_key(header.group(2)), arrays, header.group(1) == "[[")
            defined = table
        else:
            assignment = _ASSIGNMENT.match(line)
            if not assignment:
                continue
            defined = table + _split_key(assignment.group(1))
        common = 0
        for a, b in zip(defined, path, strict=False):
            if a != b:
                break
            common += 1
        if common == len(defined) and common > best_len:
            best_line, best_len = number, common
        elif common == len(path) and first_within is None:
            first_within = number  # e.g. [environments.local] for the key "environments"
    if best_len < len(path) and first_within is not None:
        return first_within
    return best_line


def locate_keys(source: str, paths: list[tuple[str, ...]]) -> list[int | None]:
    """``locate_key`` for each of ``paths``, in one pass over the file (a file of many problems
    is read once, not once per problem)."""
    best_line: list[int | None] = [None] * len(paths)
    best_len = [0] * len(paths)
    first_within: list[int | None] = [None] * len(paths)
    table: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _table_path(_split_key(header.group(2)), arrays, header.group(1) == "[[")
            defined = table
        else:
            assignment = _ASSIGNMENT.match(line)
            if not assignment:
                continue
            defined = table + _split_key(assignment.group(1))
        size = len(defined)
        for i, path in enumerate(paths):  # tuple comparisons: C speed
            if size > best_len[i] and path[:size] == defined:
                best_line[i], best_len[i] = number, size
            elif first_within[i] is None and defined[: len(path)] == path:
                first_within[i] = number
    return [
        within if best_len[i] < len(paths[i]) and within is not None else best_line[i]
        for i, within in enumerate(first_within)
    ]
