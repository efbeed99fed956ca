"""The everyday read-only commands without Typer: `status`, `history`, `config check`, `env check`.

A user runs these dozens of times a day and importing Typer alone takes some 60 ms, a fifth of
their whole run. A command line made only of what one of them declares here runs its command
function directly. Anything else returns None and goes through the Typer app, which owns every
usage message: --help, an unknown option, a missing or repeated value, a number that does not
parse or is out of bounds, another command. So this module never reports a usage error of its
own, and `tests/unit/test_cli_fast.py` checks that each spec declares exactly the parameters
(names, flags, kinds, bounds, defaults) of its Typer command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["path", "int", "flag", "paths"]


@dataclass(frozen=True)
class Option:
    param: str  # the command function's parameter
    kind: Kind
    low: int | None = None  # bounds of an "int", as the Typer option's min and max
    high: int | None = None


@dataclass(frozen=True)
class Spec:
    words: tuple[str, ...]  # ("config", "check")
    arguments: tuple[str, ...]  # positional parameters, in order
    required: int  # how many of them must be given
    options: Mapping[str, Option] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


CONFIG = Option("config", "path")


def _status(a: dict[str, Any]) -> int:
    from safeship.cli import params, status_cmd

    return status_cmd.run(a["config"], params.environment(a["environment"]))


def _history(a: dict[str, Any]) -> int:
    from safeship.cli import history_cmd, params

    environment = params.environment(a["environment"])
    return history_cmd.run(a["config"], environment, a["limit"], a["json_output"])


def _config_check(a: dict[str, Any]) -> int:
    from safeship.cli import config_cmd

    return config_cmd.run_check(a["config"])


def _env_check(a: dict[str, Any]) -> int:
    from safeship.cli.env_common import run_check

    return run_check(
        a["environment"],
        a["schema"],
        a["env_file"],
        a["from_process"],
        a["from_target"],
        a["json_output"],
        a["config"],
    )


COMMANDS: dict[tuple[str, ...], tuple[Spec, Callable[[dict[str, Any]], int]]] = {
    ("status",): (
        Spec(("status",), ("environment",), 0, {"--config": CONFIG, "-c": CONFIG}),
        _status,
    ),
    ("history",): (
        Spec(
            ("history",),
            ("environment",),
            0,
            {
                "--limit": Option("limit", "int", 1, 10000),
                "--json": Option("json_output", "flag"),
                "--config": CONFIG,
                "-c": CONFIG,
            },
            {"limit": 20},
        ),
        _history,
    ),
    ("config", "check"): (
        Spec(("config", "check"), (), 0, {"--config": CONFIG, "-c": CONFIG}),
        _config_check,
    ),
    ("env", "check"): (
        Spec(
            ("env", "check"),
            ("environment",),
            1,
            {
                "--schema": Option("schema", "path"),
                "--env-file": Option("env_file", "paths"),
                "--from-process": Option("from_process", "flag"),
                "--from-target": Option("from_target", "flag"),
                "--json": Option("json_output", "flag"),
                "--config": CONFIG,
                "-c": CONFIG,
            },
        ),
        _env_check,
    ),
}


def dispatch(argv: list[str]) -> int | None:
    """Run ``argv`` here when it is a plain line of one of the commands above (its exit code),
    else None: the Typer app runs it."""
    for words, (spec, command) in COMMANDS.items():
        if tuple(argv[: len(words)]) == words:
            values = parse(spec, argv[len(words) :])
            return None if values is None else command(values)
    return None


def parse(spec: Spec, args: list[str]) -> dict[str, Any] | None:
    """The command's parameters from ``args``, or None for anything Typer should answer."""
    values: dict[str, Any] = {name: None for name in spec.arguments}
    for declared in spec.options.values():
        values[declared.param] = False if declared.kind == "flag" else None
    values.update(spec.defaults)
    given: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        # --name=value for long options only: Click reads "-c=x" as the value "=x".
        flag, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        option = spec.options.get(flag)
        if option is None or (option.kind == "flag" and eq):
            return None  # --help, --, an unknown option, a flag given a value
        if option.param in given and option.kind != "paths":
            return None  # repeated: Typer's rule, not ours
        given.add(option.param)
        if option.kind == "flag":
            values[option.param] = True
            continue
        if not eq:
            if i >= len(args) or args[i].startswith("-"):
                return None  # the value is missing
            inline, i = args[i], i + 1
        value = _value(option, inline)
        if value is None:
            return None
        if option.kind == "paths":
            values[option.param] = [*(values[option.param] or []), value]
        else:
            values[option.param] = value
    if not spec.required <= len(positional) <= len(spec.arguments):
        return None
    values.update(zip(spec.arguments, positional, strict=False))
    return values


def _value(option: Option, text: str) -> Path | int | None:
    if option.kind in ("path", "paths"):
        return Path(text) if text else None
    try:
        number = int(text, 10)
    except ValueError:
        return None
    low, high = option.low, option.high
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return number
