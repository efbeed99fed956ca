""".env files, parsed by python-dotenv's own parser, with a problem for every odd line.

python-dotenv skips a line it cannot parse with a logged warning and silently lets a repeated key
win; here each becomes a Problem naming the file and line, so a check can say what happened:

- a line that cannot be parsed (an unclosed quote, a missing key): error ``dotenv_syntax``;
- bytes that are not UTF-8: error ``dotenv_encoding`` (the line is ignored);
- a value over what one process environment entry can hold: error ``value_too_large``;
- a key set twice: warning ``dotenv_duplicate`` (the last value wins, as in python-dotenv);
- a bare ``KEY`` without ``=``: warning ``dotenv_no_value`` (ignored).

``${NAME}`` and ``${NAME:-default}`` are expanded as python-dotenv does, from the variables set
earlier in the same file or in the files read before it (not from the process environment, so a
check gives the same answer on every machine). Messages never quote a line's content: it may
hold a secret.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv.parser import parse_stream
from dotenv.variables import parse_variables

from safeship.envschema import problems as codes
from safeship.envschema.limits import (
    MAX_ENV_FILE_BYTES,
    MAX_ENV_KEYS,
    MAX_ENV_LINE_BYTES,
    MAX_ENV_LINES,
    InputRefused,
    read_limited,
    size,
)
from safeship.envschema.problems import EnvSourceError, Problem

# Linux refuses to start a process whose single environment entry ("KEY=value" and its NUL) is
# longer than MAX_ARG_STRLEN, 32 pages of 4 KiB: the release would fail with E2BIG.
MAX_ENTRY_BYTES = 131_072
# A key at the start of a line, to name the variable of a line that cannot be parsed.
_LEADING_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)")


@dataclass
class EnvFile:
    """What one .env file sets: values, the line of each, and the problems found."""

    path: Path
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def location(self, name: str) -> str:
        return f"{self.path}:{self.lines[name]}"


def read_env_file(path: Path, context: Mapping[str, str] | None = None) -> EnvFile:
    """Parse ``path``; ``context`` holds variables earlier files set (for ``${NAME}``)."""
    try:
        raw = read_limited(path, MAX_ENV_FILE_BYTES)
    except FileNotFoundError:
        raise EnvSourceError([f"{path}: file not found"]) from None
    except IsADirectoryError:
        raise EnvSourceError([f"{path}: is a directory, not a .env file"]) from None
    except InputRefused as exc:
        raise EnvSourceError([f"{path}: {exc}"]) from None
    except OSError as exc:
        raise EnvSourceError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    return parse_env_text(raw, path, context)


def _check_bounds(raw: bytes, path: Path) -> None:
    """Refuse a file over the bounds of ``limits`` before parsing it (EnvSourceError)."""
    if len(raw) > MAX_ENV_FILE_BYTES:
        raise EnvSourceError(
            [f"{path}: is larger than {size(MAX_ENV_FILE_BYTES)}, the most safeship reads here"]
        )
    lines = raw.count(b"\n") + 1
    if lines > MAX_ENV_LINES:
        raise EnvSourceError(
            [f"{path}: has {lines} lines; a .env file may have at most {MAX_ENV_LINES}"]
        )
    start = 0
    for number in range(1, lines + 1):
        end = raw.find(b"\n", start)
        end = len(raw) if end < 0 else end
        if end - start > MAX_ENV_LINE_BYTES:
            raise EnvSourceError(
                [
                    f"{path}:{number}: the line is {size(end - start)} long; a line may be at "
                    f"most {size(MAX_ENV_LINE_BYTES)} (no process can receive such an entry)"
                ]
            )
        start = end + 1


def parse_env_text(raw: bytes, path: Path, context: Mapping[str, str] | None = None) -> EnvFile:
    """What ``raw`` sets; EnvSourceError when it is over a bound of ``limits``."""
    _check_bounds(raw, path)
    result = EnvFile(path)
    text = _decode(raw, result)
    known: dict[str, str] = dict(context or {})
    for binding in parse_stream(io.StringIO(text)):
        # A binding's text starts where the previous one ended, so it begins with the blank and
        # comment-free lines before it.
        line = binding.original.line + _leading_blank_lines(binding.original.string)
        if binding.error:
            key = _LEADING_KEY.match(binding.original.string)
            result.problems.append(
                Problem(
                    key.group(1) if key else None,
                    codes.DOTENV_SYNTAX,
                    "cannot parse this line (expected KEY=value; is a quote left open?)",
                    f"{path}:{line}",
                )
            )
            continue
        if binding.key is None:
            continue  # a blank or comment line
        name = binding.key
        if binding.value is None:
            result.problems.append(
                Problem(
                    name,
                    codes.DOTENV_NO_VALUE,
                    "has no '=' and is ignored (write NAME= for an empty value)",
                    f"{path}:{line}",
                )
            )
            continue
        value = "".join(atom.resolve(known) for atom in parse_variables(binding.value))
        if name in result.lines:
            result.problems.append(
                Problem(
                    name,
                    codes.DOTENV_DUPLICATE,
                    f"is set again (first on line {result.lines[name]}); the last value wins",
                    f"{path}:{line}",
                )
            )
        entry = len(name.encode()) + 2 + len(value.encode("utf-8", "surrogatepass"))
        if entry > MAX_ENTRY_BYTES:
            result.problems.append(
                Problem(
                    name,
                    codes.VALUE_TOO_LARGE,
                    f"value is {size(entry)}: a process cannot receive an environment entry "
                    f"over {size(MAX_ENTRY_BYTES)} (Linux MAX_ARG_STRLEN); the value is ignored",
                    f"{path}:{line}",
                )
            )
            result.values.pop(name, None)
            result.lines[name] = line
            continue
        if name not in result.lines and len(result.lines) >= MAX_ENV_KEYS:
            raise EnvSourceError(
                [f"{path}:{line}: {name}: more than {MAX_ENV_KEYS} variables in one file"]
            )
        result.values[name] = value
        result.lines[name] = line
        known[name] = value
    result.problems.sort(key=_line_of)
    return result


def _line_of(problem: Problem) -> int:
    assert problem.location is not None
    return int(problem.location.rsplit(":", 1)[1])


def _leading_blank_lines(text: str) -> int:
    stripped = text.lstrip()
    return text[: len(text) - len(stripped)].count("\n") if stripped else 0


def _decode(raw: bytes, result: EnvFile) -> str:
    """The text of the file; each line that is not UTF-8 is reported and replaced by a blank."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            key = _LEADING_KEY.match(line[: exc.start].decode("utf-8", "replace"))
            result.problems.append(
                Problem(
                    key.group(1) if key else None,
                    codes.DOTENV_ENCODING,
                    f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); "
                    "the line is ignored",
                    f"{result.path}:{number}",
                )
            )
            lines[number - 1] = b""
    return b"\n".join(lines).decode("utf-8")
