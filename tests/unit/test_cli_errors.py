"""The faces' error lists (core._errors: the CLI's exit codes, the dashboard's statuses) name
exception classes by module: each name must still exist."""

from __future__ import annotations

import importlib
import sys

import pytest

from safeship.cli.errors import exit_code_for
from safeship.core import _errors as errors

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

    assert exit_code_for(ConfigError(["a: bad", "b: bad"])) == (2, "a: bad\nb: bad")
    assert exit_code_for(TargetError("gone")) == (1, "gone")
    assert exit_code_for(RegistryError("cannot open"))[0] == 1
    code, message = exit_code_for(KeyError("x"))
    assert code == 1 and message.startswith("unexpected KeyError")


def run_cli(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`safeship ARGV` through the console entry point, in this process."""
    from safeship.cli import main

    monkeypatch.setattr(sys, "argv", ["safeship", *argv])
    with pytest.raises(SystemExit) as exited:
        main.run()
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy", "staging", "-V", "v1", "--bogus"], "No such option: --bogus"),
        (["deploy"], "Missing argument 'environment'."),
        (["env", "check"], "Missing argument 'environment'."),
        (["history", "--limit", "0"], "Invalid value for '--limit'"),
        (["no-such-command"], "No such command 'no-such-command'."),
    ],
)
def test_click_usage_errors_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(argv, monkeypatch, capsys)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"safeship: error: {message}"), line
    assert line.endswith("--help)")  # where to read the usage


def test_a_control_character_in_a_bad_option_is_printed_escaped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["status", "--x\x1b[2J"], monkeypatch, capsys)
    (line,) = err.splitlines()
    assert code == 2 and line.isprintable() and "\\x1b[2J" in line


def test_help_still_prints_the_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["deploy", "--help"], monkeypatch, capsys)
    assert code == 0
    assert "Usage:" in out and "--version" in out and "--via-paths" in out
    code, _, err = run_cli([], monkeypatch, capsys)  # no command: the help, as before
    assert code == 2 and "Usage:" in err and "deploy" in err
