"""TOML source positions: which line defines a key, and syntax errors as ``file:line``.

Kept free of pydantic so that fast paths (the env schema check) can use it.
"""

from __future__ import annotations

import re
import tomllib

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_ASSIGNMENT = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_KEY_PART = re.compile(r"[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'")


def toml_syntax_problem(exc: tomllib.TOMLDecodeError, filename: str) -> str:
    """A TOML syntax error as ``file:line: syntax: message``."""
    message = str(exc)
    match = _TOML_POSITION.search(message)
    line = match.group(1) if match else "?"
    return f"{filename}:{line}: syntax: {_TOML_POSITION.sub('', message)}"


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in _KEY_PART.findall(text))


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
    To locate many keys of one file, build one ``KeyIndex`` and ask it.
    """
    return KeyIndex(source).line(path)


class KeyIndex:
    """Where each key of a TOML source is defined: one pass over the file, then each lookup
    costs the length of the key (not of the file), so reporting every problem of a large file
    stays linear."""

    def __init__(self, source: str) -> None:
        # The first line defining each key; the first line defining a key below each prefix.
        self._defined: dict[tuple[str, ...], int] = {}
        self._within: dict[tuple[str, ...], int] = {}
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
            self._defined.setdefault(defined, number)
            for end in range(len(defined)):
                self._within.setdefault(defined[:end], number)

    def line(self, path: tuple[str, ...]) -> int | None:
        """The line of ``path`` as ``locate_key`` finds it."""
        if not path:
            return None
        if path in self._defined:
            return self._defined[path]
        if path in self._within:
            return self._within[path]  # e.g. [environments.local] for the key "environments"
        for end in range(len(path) - 1, 0, -1):
            if path[:end] in self._defined:
                return self._defined[path[:end]]
        return None
