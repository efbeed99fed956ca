"""The env check the deploy pipeline runs before any release starts.

``env_gate`` returns None when the project has no schema file (no gate), else a function that
checks the target's variables against the environment's schema and returns the problems as
lines (empty: the environment is valid). Before checking, it registers the values of the
variables the schema marks secret with ``safeship.redaction``, so that from then on every event,
registry row and printed line of this process masks them, whatever later fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safeship.envschema.problems import EnvSchemaError, EnvSourceError
from safeship.envschema.schema import load_schema
from safeship.envschema.sources import collect
from safeship.envschema.validate import check
from safeship.redaction import redact, register_secret
from safeship.targets.base import Target

EnvGate = Callable[[], list[str]]


def env_gate(schema_path: Path, environment: str, target: Target) -> EnvGate | None:
    if not schema_path.is_file():
        return None

    def run() -> list[str]:
        try:
            schema = load_schema(schema_path).environment(environment)
        except (EnvSchemaError, EnvSourceError) as exc:
            return [redact(line) for line in exc.problems]
        variables = target.variables()
        for name in schema.secret_names:
            register_secret(variables.get(name))
        result = check(schema, collect(target=variables))
        return [redact(problem.text()) for problem in result.errors]

    return run
