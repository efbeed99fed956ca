"""Load safeship.toml into SafeshipConfig; every error names the file, the line and the key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from safeship._toml import (
    KeyIndex,
    TomlError,
    decode_toml,
    format_key,
    locate_key,
    parse_toml,
    scalar_problems,
    toml_syntax_problem,
)
from safeship.config.models import EnvironmentSettings, SafeshipConfig
from safeship.validation import shown

CONFIG_FILENAME = "safeship.toml"
# No config comes near this; a bigger file is a mistake (or /dev/zero behind a symlink).
MAX_CONFIG_BYTES = 1024 * 1024
# Problems reported (each located in the file); the rest are counted. Bounds the work and the
# output for a file of thousands of wrong keys.
MAX_PROBLEMS = 20

__all__ = ["locate_key", "toml_syntax_problem"]  # re-exported: callers import them from here


class ConfigError(Exception):
    """One or more problems in a config file, each rendered as ``file:line: key: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where it came from; paths in it are relative to ``base_dir``."""

    config: SafeshipConfig
    path: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        return self.base_dir / ".safeship"

    def run_dir(self, environment: str) -> Path:
        return self.state_dir / "run" / environment

    def environment(self, name: str) -> EnvironmentSettings:
        """The settings of environment ``name``; an unknown one is the config error, at the
        line of the file's environments table."""
        environments = self.config.environments
        if name not in environments:
            known = ", ".join(sorted(environments)) or "none"
            line = locate_key(self.path.read_text(encoding="utf-8"), ("environments",))
            raise ConfigError(
                [
                    f"{self.path.name}:{line or '?'}: environments.{name}: "
                    f"unknown environment (configured: {known})"
                ]
            )
        return environments[name]

    def registry_url(self) -> str:
        """The registry URL with a relative SQLite path resolved against the config's directory."""
        url = self.config.registry.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            return prefix + str(self.base_dir / url[len(prefix) :])
        return url


def find_config(explicit: Path | None, cwd: Path | None = None) -> Path:
    """The config path: ``--config`` when given, else safeship.toml in the current directory."""
    if explicit is not None:
        if not _is_file(explicit):
            raise ConfigError([f"{_shown_path(explicit)}: config file not found"])
        return explicit
    candidate = (cwd or Path.cwd()) / CONFIG_FILENAME
    if not _is_file(candidate):
        raise ConfigError(
            [f"{CONFIG_FILENAME} not found in {candidate.parent} (use --config PATH)"]
        )
    return candidate


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL in it
        return False


def _shown_path(path: Path) -> str:
    text = str(path)
    return text if text.isprintable() and len(text) <= 200 else shown(text, 200)


def load_config(path: Path) -> LoadedConfig:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{_shown_path(path)}: cannot read: {exc.strerror}"]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{_shown_path(path)}: larger than {MAX_CONFIG_BYTES} bytes"])
    try:
        source = decode_toml(raw, path.name)
    except TomlError as exc:
        raise ConfigError([exc.problem]) from None
    return LoadedConfig(parse_config(source, path.name), path.resolve())


def parse_config(source: str, filename: str = CONFIG_FILENAME) -> SafeshipConfig:
    """Validate safeship.toml's text strictly: no coercion from bool or str, bounded values.

    The data is validated as JSON in strict mode: a number is never taken from a string or a
    bool, and arrays still fill tuples (strict Python mode would refuse them).
    """
    try:
        data = parse_toml(source, filename)
    except TomlError as exc:
        raise ConfigError([exc.problem]) from None
    scalars = scalar_problems(data)
    if scalars:
        raise ConfigError(_problems(source, filename, scalars))
    try:
        return SafeshipConfig.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        found = []
        for error in exc.errors(include_url=False):
            path = _data_path(data, error["loc"], missing=error["type"] == "missing")
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                path += (str(error.get("ctx", {}).get("discriminator", "type")).strip("'"),)
            found.append((path, _message(error)))
        raise ConfigError(_problems(source, filename, found)) from None


def _problems(source: str, filename: str, found: list[tuple[tuple[str, ...], str]]) -> list[str]:
    """``file:line: key: message`` for the first MAX_PROBLEMS, then how many more there are."""
    first = found[:MAX_PROBLEMS]
    index = KeyIndex(source)
    lines = [index.line(path) for path, _ in first]
    problems = [
        f"{filename}:{line or '?'}: {format_key(path)}: {message}"
        for (path, message), line in zip(first, lines, strict=True)
    ]
    if len(found) > MAX_PROBLEMS:
        problems.append(f"{filename}: {len(found) - MAX_PROBLEMS} more problems (fix these first)")
    return problems


def _data_path(
    data: object, loc: tuple[int | str, ...], *, missing: bool = False
) -> tuple[str, ...]:
    """The error location as keys of the file: without the tags pydantic inserts for unions.

    A discriminated union (e.g. a check's ``type``) puts the tag in the location
    (``checks.0.http.url``); it is dropped where the data has no such key and the location
    goes on, or ends there for an error of the model itself (only a ``missing`` error names a
    key the data lacks, as its last part). A dict's key that fails its rule is
    reported at the key (pydantic adds ``[key]``).
    """
    path: list[str] = []
    current: object = data
    for position, part in enumerate(loc):
        if part == "[key]":
            continue
        if isinstance(current, dict):
            if part not in current and (position < len(loc) - 1 or not missing):
                continue
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
        path.append(str(part))
    return tuple(path)


def _message(error: object) -> str:
    assert isinstance(error, dict)
    kind = error.get("type")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "union_tag_not_found":
        return "required key is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown type {ctx.get('tag')!r} (expected one of: {ctx.get('expected_tags')})"
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, not {_toml_value(error.get('input'))}"
    if kind == "too_long" and isinstance(error.get("input"), list | dict):
        return f"at most {error.get('ctx', {}).get('max_length')} items"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


# Strict validation's type errors, said in TOML's words.
_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "tuple_type": "an array",
}


def _toml_value(value: object) -> str:
    """How a value from the file reads in a message: its kind, and the value when short."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {shown(value, 20)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "this value"
