"""Load safeship.toml into SafeshipConfig; every error names the file, the line and the key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from safeship._toml import locate_key, toml_syntax_problem
from safeship.config.models import SafeshipConfig

CONFIG_FILENAME = "safeship.toml"

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
        if not explicit.is_file():
            raise ConfigError([f"{explicit}: config file not found"])
        return explicit
    candidate = (cwd or Path.cwd()) / CONFIG_FILENAME
    if not candidate.is_file():
        raise ConfigError(
            [f"{CONFIG_FILENAME} not found in {candidate.parent} (use --config PATH)"]
        )
    return candidate


def load_config(path: Path) -> LoadedConfig:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return LoadedConfig(parse_config(source, path.name), path.resolve())


def parse_config(source: str, filename: str = CONFIG_FILENAME) -> SafeshipConfig:
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([toml_syntax_problem(exc, filename)]) from None
    try:
        return SafeshipConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = _data_path(data, error["loc"])
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                path += (str(error.get("ctx", {}).get("discriminator", "type")).strip("'"),)
            line = locate_key(source, path)
            key = ".".join(path) if path else "(top level)"
            problems.append(f"{filename}:{line or '?'}: {key}: {_message(error)}")
        raise ConfigError(problems) from None


def _data_path(data: object, loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """The error location as keys of the file: without the tags pydantic inserts for unions.

    A discriminated union (e.g. a check's ``type``) puts the tag in the location
    (``checks.0.http.url``); it is dropped where the data has no such key but a ``type``
    with that value.
    """
    path: list[str] = []
    current: object = data
    for part in loc:
        if isinstance(current, dict):
            if part not in current and current.get("type") == part:
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
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")
