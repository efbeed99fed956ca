"""The everyday commands' fast path (safeship.cli.fast): the same parameters as their Typer
commands, the same answers, and Typer not imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import safeship
from safeship.cli import fast
from safeship.cli.main import cli


def _typer_command(words: tuple[str, ...]) -> Any:
    command: Any = cli()
    for word in words:
        command = command.commands[word]
    return command


@pytest.mark.parametrize("words", list(fast.COMMANDS), ids=" ".join)
def test_each_spec_declares_exactly_its_typer_commands_parameters(
    words: tuple[str, ...],
) -> None:
    spec, _ = fast.COMMANDS[words]
    command = _typer_command(words)
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    assert tuple(p.name for p in arguments) == spec.arguments
    assert sum(p.required for p in arguments) == spec.required
    options = [p for p in command.params if p.param_type_name == "option"]
    declared = {flag: option for flag, option in spec.options.items()}
    assert sorted(flag for p in options for flag in p.opts) == sorted(declared)
    for p in options:
        for flag in p.opts:
            option = declared[flag]
            assert option.param == p.name
            kinds = {"bool": "flag", "int": "int", "Path": "path", "list[Path]": "paths"}
            kind = kinds[p.bare_type()]
            assert option.kind == kind, flag
            assert (option.low, option.high) == (p.min, p.max), flag
        default = spec.defaults.get(p.name, False if p.is_flag else None)
        assert default == p.default, p.name
        assert not p.required and p.envvar is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status"], {"environment": None, "config": None}),
        (["status", "prod", "-c", "x.toml"], {"environment": "prod", "config": Path("x.toml")}),
        (["history", "--limit=5", "--json"], {"limit": 5, "json_output": True}),
        (["history", "--limit", "7", "staging"], {"limit": 7, "environment": "staging"}),
        (
            ["env", "check", "production", "--env-file", "a", "--env-file=b"],
            {"environment": "production", "env_file": [Path("a"), Path("b")]},
        ),
    ],
)
def test_plain_lines_are_parsed_here(argv: list[str], expected: dict[str, Any]) -> None:
    words = next(w for w in fast.COMMANDS if tuple(argv[: len(w)]) == w)
    values = fast.parse(fast.COMMANDS[words][0], argv[len(words) :])
    assert values is not None
    assert {k: values[k] for k in expected} == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--help"],
        ["status", "a", "b"],
        ["status", "--verbose"],
        ["status", "-c"],
        ["status", "-c=x.toml"],
        ["history", "--limit", "0"],
        ["history", "--limit", "10001"],
        ["history", "--limit", "ten"],
        ["history", "--json=yes"],
        ["history", "--limit", "5", "--limit", "6"],
        ["env", "check"],
        ["config", "check", "--", "x"],
        ["deploy", "production", "--version", "v1"],
        ["config"],
        [],
    ],
)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert fast.dispatch(argv) is None


def test_the_fast_path_answers_as_typer_does_and_imports_no_typer(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(
        '[project]\nname = "x"\n\n[environments.production]\nport = 18080\n'
        '[environments.production.target]\ncommand = ["python", "-m", "app"]\n'
    )
    probe = (
        "import sys\nfrom safeship.cli.entry import run\nsys.argv = ['safeship', *sys.argv[1:]]\n"
        "try:\n    run()\nfinally:\n    print('typer' in sys.modules, file=sys.stderr)\n"
    )

    def run_safeship(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", probe, *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(safeship.__file__).parents[1])},
        )

    for words in (["config", "check"], ["status"]):
        fast_run = run_safeship(*words, "-c", "safeship.toml")
        typer_run = run_safeship(*words, "-csafeship.toml")  # not a plain line: Typer runs it
        assert fast_run.returncode == typer_run.returncode == 0, (fast_run.stderr, words)
        assert fast_run.stdout == typer_run.stdout
        assert fast_run.stderr.splitlines()[-1] == "False"
        assert typer_run.stderr.splitlines()[-1] == "True"
