"""The env step of the gate: the schema loads, .env.example matches it, configured environments'
local variables (.env, .env.ENV) are valid. Runs only when the schema, .env.example or
safeship.toml changed (or with ``--all``); reuses ``safeship.envschema`` as ``safeship env`` does.
"""

from __future__ import annotations

import os

from safeship.envschema.example import EXAMPLE_FILENAME, parity
from safeship.envschema.problems import EnvSchemaError, EnvSourceError
from safeship.envschema.schema import load_schema
from safeship.envschema.sources import collect
from safeship.envschema.validate import check
from safeship.hooks.gitdiff import Change
from safeship.hooks.result import CheckResult
from safeship.hooks.settings import GateConfig
from safeship.redaction import redact

NAME = "env"


def run_env(change: Change, gate: GateConfig) -> CheckResult:
    if gate.config is None or gate.path is None:
        return CheckResult(NAME, "skipped", ("no safeship.toml",))
    settings = gate.prepush.env
    schema_path = gate.path.parent / gate.config.project.env_schema
    if not settings.enabled or not schema_path.is_file():
        return CheckResult(NAME, "skipped", ("disabled" if not settings.enabled else "no schema",))
    example_path = schema_path.parent / EXAMPLE_FILENAME
    watched = {_relative(change, p) for p in (schema_path, example_path, gate.path)}
    if change.scope != "all" and not watched & set(change.paths):
        return CheckResult(NAME, "skipped", ("schema, .env.example and config unchanged",))
    try:
        schema = load_schema(schema_path)
        problems: list[str] = []
        if example_path.is_file():
            report = parity(schema, example_path)
            problems += [p.text() for p in report.problems if not p.is_warning]
        for environment in settings.environments:
            files = [
                path
                for path in (
                    schema_path.parent / ".env",
                    schema_path.parent / f".env.{environment}",
                )
                if path.is_file()
            ]
            result = check(schema.environment(environment), collect(env_files=files))
            problems += [f"{environment}: {p.text()}" for p in result.errors]
    except (EnvSchemaError, EnvSourceError) as exc:
        problems = list(exc.problems)
    if problems:
        return CheckResult(NAME, "failed", tuple(redact(line) for line in problems))
    return CheckResult(NAME, "passed", ("schema, parity and environments valid",))


def _relative(change: Change, path: os.PathLike[str]) -> str:
    try:
        return os.path.relpath(os.path.realpath(path), os.path.realpath(change.root)).replace(
            os.sep, "/"
        )
    except ValueError:
        return str(path)
