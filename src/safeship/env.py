"""Typed, validated settings for an application, from env.schema.toml: fail fast at start-up.

    from safeship import env

    settings = env.load("production", schema="env.schema.toml", env_files=[".env"])
    settings["DATABASE_POOL_SIZE"]        # 10 (an int; the schema's default)
    settings.NEXT_PUBLIC_ENABLE_AI_FEATURES  # True

``load`` raises ``InvalidEnvironment`` (a ValueError) listing every problem at once, or
``EnvSchemaError`` when the schema itself is wrong. Neither message, nor the settings' repr,
contains a secret's value; the secret values are also registered with ``safeship.redaction``, so
anything the application logs through it is masked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from safeship.envschema.problems import EnvSchemaError, EnvSourceError, InvalidEnvironment
from safeship.envschema.schema import SCHEMA_FILENAME, load_schema
from safeship.envschema.sources import collect
from safeship.envschema.validate import check
from safeship.redaction import MASK, register_secret

__all__ = [
    "EnvSchemaError",
    "EnvSourceError",
    "InvalidEnvironment",
    "Settings",
    "load",
]


class Settings(Mapping[str, Any]):
    """Read-only typed values of every variable of the schema (None: optional and not set).

    Values are reachable as items or attributes; ``repr`` masks the secret ones.
    """

    def __init__(self, environment: str, values: Mapping[str, Any], secret: frozenset[str]):
        self._environment = environment
        self._values = dict(values)
        self._secret = secret

    @property
    def environment(self) -> str:
        return self._environment

    @property
    def secret_names(self) -> frozenset[str]:
        return self._secret

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{name} is not a variable of {self._environment}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = {
            name: MASK if name in self._secret and value is not None else value
            for name, value in self._values.items()
        }
        return f"Settings({self._environment!r}, {shown!r})"


def load(
    environment: str,
    schema: str | os.PathLike[str] = SCHEMA_FILENAME,
    env_files: Sequence[str | os.PathLike[str]] = (),
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validate ``environment``'s variables and return them typed.

    Variables come from ``env_files`` (in order, later files win), then ``environ`` (default:
    ``os.environ``), which wins over the files, as when the files are loaded without override.
    """
    env_schema = load_schema(Path(schema)).environment(environment)
    variables = collect(
        env_files=[Path(p) for p in env_files],
        process=os.environ if environ is None else environ,
        names=env_schema.variables.keys(),
    )
    for name in env_schema.secret_names:
        register_secret(variables.values.get(name))
    result = check(env_schema, variables)
    result.raise_if_invalid()
    return Settings(environment, result.values, env_schema.secret_names)
