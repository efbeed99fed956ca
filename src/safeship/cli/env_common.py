"""What the `safeship env` commands share, without Typer: `env check` runs from here directly
(safeship.cli.fast) as well as through the Typer command in safeship.cli.env_cmd."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safeship.core import EnvProject, EnvSources


def run_check(
    environment: str,
    schema: Path | None,
    env_files: list[Path] | None,
    from_process: bool,
    from_target: bool,
    json_output: bool,
    config: Path | None,
) -> int:
    """`safeship env check`: 0 valid, 1 invalid (every problem listed)."""
    from safeship import core

    sources = env_sources(env_files, from_process, from_target)
    report = core.env_check(env_project(schema, config), environment, sources)
    result = report.result
    if json_output:
        emit_json(result.as_json())
    else:
        for problem in result.errors:
            emit(f"error: {problem.text()} [{problem.code}]")
        for problem in result.warnings:
            emit(f"warning: {problem.text()} [{problem.code}]")
        verdict = "valid" if result.valid else "invalid"
        emit(
            f"{environment}: {verdict} ({report.variables} variables, "
            f"{plural(result.errors, 'error')}, {plural(result.warnings, 'warning')})"
        )
    return 0 if result.valid else 1


def env_project(schema: Path | None, config: Path | None) -> EnvProject:
    from safeship.core import EnvProject

    return EnvProject(schema=schema, config=config)


def env_sources(env_files: list[Path] | None, from_process: bool, from_target: bool) -> EnvSources:
    from safeship.core import EnvSources

    return EnvSources(tuple(env_files or ()), from_process, from_target)


def emit(line: str) -> None:
    from safeship.redaction import redact

    print(redact(line), flush=False)


def emit_json(data: Any) -> None:
    import json

    from safeship.redaction import redact_data

    print(json.dumps(redact_data(data), indent=2, ensure_ascii=False))


def plural(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"
