"""The rules for names and identifiers that come from users: one place, every face and target.

A version, commit or ``--triggered-by`` is stored in the registry, printed by ``history`` and
substituted into commands and URLs (the command target's ``url``), so each is checked before
anything is written: a version is a short token of letters, digits and ``. _ + -`` (no ``:``,
``/``, ``?``, ``@`` or ``#`` that could move a URL to another host or path), free text has no
control or format characters (no terminal escape sequences), and every string has a bound.

Kept free of pydantic and of the CLI: the config models, the targets and the commands use it.
"""

from __future__ import annotations

import re
import unicodedata

# Version: what the local target names its files after (<version>.json, <version>.log).
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}"
_VERSION = re.compile(VERSION_PATTERN)
# A commit: a SHA (or a short one), the registry's commit_sha column holds 64.
_COMMIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
# An environment name: a key in safeship.toml, a directory under .safeship/run, a lock's name.
ENVIRONMENT_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
_ENVIRONMENT = re.compile(ENVIRONMENT_PATTERN)

# Free text (who triggered a deploy): the registry's triggered_by column holds 255.
MAX_TEXT = 255
# A URL or a URL path given on the command line or in safeship.toml.
MAX_URL = 2048
# Any other string argument of the CLI (a check's name, a file path ...).
MAX_ARGUMENT = 4096
# Unicode categories never allowed in a name or text: controls (ESC, CR, LF, NUL, DEL, C1),
# format characters (bidi overrides, zero-width), surrogates, private use, unassigned.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DOT_SEGMENTS = frozenset({".", ".."})


class InvalidIdentifier(ValueError):
    """A name, identifier or argument that breaks its rule; the message is one line."""


def printable(line: str) -> str:
    """``line`` with control and other invisible characters escaped (``\\x1b``): what safeship
    prints of stored or user-given text never drives the terminal."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def shown(value: str, limit: int = 40) -> str:
    """``value`` quoted for a message: escapes visible, long values cut."""
    if len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    return repr(value)


def _control_character(value: str) -> str | None:
    for char in value:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return char
    return None


def check_text(what: str, value: str, max_length: int = MAX_TEXT) -> str:
    """Free text: not empty, at most ``max_length`` characters, no control or format characters."""
    if not value.strip():
        raise InvalidIdentifier(f"{what} must not be empty")
    if len(value) > max_length:
        raise InvalidIdentifier(
            f"{what} is {len(value)} characters long (at most {max_length}): {shown(value)}"
        )
    char = _control_character(value)
    if char is not None:
        raise InvalidIdentifier(
            f"{what} {shown(value)} contains the control character {char!r}"
            " (no escape sequences, line breaks or invisible characters)"
        )
    return value


def check_argument(what: str, value: str, max_length: int = MAX_ARGUMENT) -> str:
    """A command-line string: bounded, without control characters; may be empty."""
    if value == "":
        return value
    return check_text(what, value, max_length)


def _check_token(what: str, value: str, pattern: re.Pattern[str], rule: str, limit: int) -> str:
    if value == "":
        raise InvalidIdentifier(f"{what} must not be empty")
    if len(value) > limit:
        raise InvalidIdentifier(
            f"{what} is {len(value)} characters long (at most {limit}): {shown(value)}"
        )
    if not pattern.fullmatch(value):
        raise InvalidIdentifier(f"invalid {what} {shown(value)}: {rule}")
    return value


def check_version(version: str) -> str:
    """A version: 1-128 letters, digits and ``. _ + -``, starting with a letter or digit."""
    return _check_token(
        "version",
        version,
        _VERSION,
        "use letters, digits and . _ + - (starting with a letter or digit)",
        128,
    )


def check_commit(commit: str) -> str:
    """A commit SHA: 1-64 letters, digits and ``. _ + -``."""
    return _check_token(
        "commit",
        commit,
        _COMMIT,
        "use letters, digits and . _ + - (a commit SHA)",
        64,
    )


def check_triggered_by(triggered_by: str) -> str:
    """Who or what started a deploy: printable text, 1-255 characters."""
    return check_text("--triggered-by", triggered_by)


def check_environment_name(name: str) -> str:
    """An environment's name: lower-case letters, digits, ``_`` and ``-``, 1-63 characters."""
    return _check_token(
        "environment name",
        name,
        _ENVIRONMENT,
        "use lower-case letters, digits, _ and - (starting with a letter or digit)",
        63,
    )


def check_url_path(path: str) -> str:
    """An absolute URL path, e.g. ``/api/health?full=1``: it stays on the service's host.

    Refused: a relative path, ``//host`` (another host), ``.`` and ``..`` segments (plain or
    percent-encoded), a backslash, whitespace and control characters (CR/LF would split the
    request line). A query string is allowed. Messages name the rule, then the path.
    """
    if not path.startswith("/"):
        raise InvalidIdentifier(f"must start with /: {shown(path)}")
    if len(path) > MAX_URL:
        raise InvalidIdentifier(f"is {len(path)} characters long (at most {MAX_URL})")
    if path.startswith("//"):
        raise InvalidIdentifier(f"must not start with // (another host): {shown(path)}")
    char = _control_character(path)
    if char is not None:
        raise InvalidIdentifier(f"contains the control character {char!r}: {shown(path)}")
    if "\\" in path or any(c.isspace() for c in path):
        raise InvalidIdentifier(f"contains a backslash or whitespace: {shown(path)}")
    route = path.split("?", 1)[0].split("#", 1)[0]
    segments = route.lower().replace("%2e", ".").split("/")
    if any(segment in _DOT_SEGMENTS for segment in segments):
        raise InvalidIdentifier(f"must not contain . or .. segments: {shown(path)}")
    return path


def check_url_text(url: str, what: str = "URL") -> str:
    """A URL's text before parsing: at most MAX_URL characters, no control characters or spaces.

    Its scheme and host are the caller's to check (safeship.config.health.check_url).
    """
    if url == "":
        raise InvalidIdentifier(f"{what} must not be empty")
    if len(url) > MAX_URL:
        raise InvalidIdentifier(
            f"{what} is {len(url)} characters long (at most {MAX_URL}): {shown(url)}"
        )
    char = _control_character(url)
    if char is not None or any(c.isspace() for c in url):
        raise InvalidIdentifier(f"{what} {shown(url)} contains a control character or whitespace")
    return url


# {name} in an argument list; ${NAME} (a shell's syntax, passed through as it is) is not one.
_ARGV_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
# An environment variable's name, as POSIX shells take it.
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# An HTTP header's name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")


def check_argv(argv: list[str], known: tuple[str, ...]) -> list[str]:
    """A command as an argument list: a program, no NUL, only the ``known`` placeholders."""
    if not argv:
        raise InvalidIdentifier("needs at least the program to run")
    if not argv[0].strip():
        raise InvalidIdentifier("the program (the first argument) must not be empty")
    for argument in argv:
        if "\x00" in argument:
            raise InvalidIdentifier(f"argument {shown(argument)} contains a NUL character")
        for match in _ARGV_PLACEHOLDER.finditer(argument):
            if match.group(1) not in known:
                names = ", ".join(f"{{{name}}}" for name in known) or "none"
                raise InvalidIdentifier(
                    f"unknown placeholder {match.group(0)} in {shown(argument)}"
                    f" (known here: {names})"
                )
    return argv


def check_header(name: str, value: str) -> None:
    """An HTTP header: a token name, and a value without control characters (CR/LF would add
    headers of their own)."""
    if not _HEADER_NAME.fullmatch(name):
        raise InvalidIdentifier(f"invalid header name {shown(name)}")
    if len(value) > MAX_URL:
        raise InvalidIdentifier(f"header {name} is longer than {MAX_URL} characters")
    if not value.isascii() or any(c != "\t" and not c.isprintable() for c in value):
        raise InvalidIdentifier(
            f"header {name} must be printable ASCII (no control characters or line breaks)"
        )


def check_variables(env: dict[str, str]) -> dict[str, str]:
    """Environment variables for a process: POSIX names, values without NUL (which no process
    environment can hold)."""
    for name, value in env.items():
        if not _VARIABLE.fullmatch(name):
            raise InvalidIdentifier(f"{shown(name)} is not a valid environment variable name")
        if "\x00" in value:
            raise InvalidIdentifier(f"the value of {name} contains a NUL character")
    return env
