"""Typed, validated settings for an application, from env.schema.toml: fail fast at start-up.

    from safeship import env

    settings = env.load("production", schema="env.schema.toml", env_files=[".env"])
    settings["DATABASE_POOL_SIZE"]        # 10 (an int; the schema's default)
    settings.NEXT_PUBLIC_ENABLE_AI_FEATURES  # True

During a secret's rotation (docs/secrets.md) the releases also get the value it replaces in
``NAME_PREVIOUS``, so a token signed with the old key still verifies until the rotation
finishes::

    settings.previous("JWT_SECRET")     # the old key, or None outside a rotation's overlap
    settings.candidates("JWT_SECRET")   # (current, previous): try each in turn

``NAME_PREVIOUS`` need not be in the schema: every secret variable has it implied, typed and
validated like ``NAME``, optional, and secret (one the schema declares itself wins).

``load`` raises ``InvalidEnvironment`` (a ValueError) listing every problem at once, or
``EnvSchemaError`` when the schema itself is wrong. Neither message, nor the settings' repr,
contains a secret's value; the secret values are also registered with ``safeship.redaction``, so
anything the application logs through it is masked.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from safeship.envschema.problems import EnvSchemaError, EnvSourceError, InvalidEnvironment
from safeship.envschema.schema import PREVIOUS_SUFFIX, SCHEMA_FILENAME, load_schema
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

    def __init__(
        self,
        environment: str,
        values: Mapping[str, Any],
        secret: frozenset[str],
        previous: Mapping[str, Any] | None = None,
    ):
        self._environment = environment
        self._values = dict(values)
        self._secret = secret
        # NAME -> the value of its implied NAME_PREVIOUS (not a variable of the schema).
        self._previous = dict(previous or {})

    @property
    def environment(self) -> str:
        return self._environment

    @property
    def secret_names(self) -> frozenset[str]:
        return self._secret

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def previous(self, name: str) -> Any:
        """The value ``name`` had before a rotation that has not finished yet (its
        ``NAME_PREVIOUS``), typed like ``name``; None when there is none. KeyError when
        ``name`` is not a variable of the schema."""
        if name not in self._values:
            raise KeyError(f"{name} is not a variable of {self._environment}")
        slot = name + PREVIOUS_SUFFIX
        if slot in self._values:  # declared by the schema itself
            return self._values[slot]
        return self._previous.get(name)

    def candidates(self, name: str) -> tuple[Any, ...]:
        """The values to try for ``name``, newest first: the current one, then the previous
        one during a rotation's overlap (the ones that are set)."""
        return tuple(v for v in (self._values[name], self.previous(name)) if v is not None)

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
    slots = env_schema.previous_slots()
    with_slots = dataclasses.replace(
        env_schema, variables={**env_schema.variables, **{s.name: s for s in slots.values()}}
    )
    variables = collect(
        env_files=[Path(p) for p in env_files],
        process=os.environ if environ is None else environ,
        names=with_slots.variables.keys(),
    )
    secret = with_slots.secret_names | {
        name + PREVIOUS_SUFFIX for name in env_schema.secret_names
    }  # a declared NAME_PREVIOUS of a secret is a secret too
    for name in secret:
        register_secret(variables.values.get(name))
    result = check(with_slots, variables)
    result.raise_if_invalid()
    values = {name: result.values[name] for name in env_schema.variables}
    previous = {name: result.values[slot.name] for name, slot in slots.items()}
    shown_secret = frozenset(name for name in secret if name in env_schema.variables)
    return Settings(environment, values, shown_secret, previous)
