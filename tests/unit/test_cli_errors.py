"""The CLI's exit codes name exception classes by module: each name must still exist."""

from __future__ import annotations

import importlib

import pytest

from safeship.cli import errors

TABLES = [
    tuple(entry.split(":"))
    for entry in (*errors.USAGE_ERRORS, *errors.FAILURES, *errors.PROBLEM_LISTS)
]


@pytest.mark.parametrize(("module", "name"), TABLES)
def test_every_named_exception_exists(module: str, name: str) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type) and issubclass(cls, BaseException)


def test_exit_codes() -> None:
    from safeship.config import ConfigError
    from safeship.registry import RegistryError
    from safeship.targets.base import TargetError

    assert errors.exit_code_for(ConfigError(["a: bad", "b: bad"])) == (2, "a: bad\nb: bad")
    assert errors.exit_code_for(TargetError("gone")) == (1, "gone")
    assert errors.exit_code_for(RegistryError("cannot open"))[0] == 1
    code, message = errors.exit_code_for(KeyError("x"))
    assert code == 1 and message.startswith("unexpected KeyError")
