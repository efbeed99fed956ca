"""Check one environment's variables against its schema: every problem at once, typed values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from safeship.envschema import problems as codes
from safeship.envschema.problems import InvalidEnvironment, Problem
from safeship.envschema.schema import EnvironmentSchema
from safeship.envschema.sources import Variables
from safeship.envschema.types import ValueProblem, parse_value


@dataclass
class CheckResult:
    environment: str
    # Every variable of the schema: its typed value, its default, or None (optional, not set).
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "valid": self.valid,
            "errors": [p.as_json() for p in self.errors],
            "warnings": [p.as_json() for p in self.warnings],
        }

    def raise_if_invalid(self) -> None:
        if self.errors:
            raise InvalidEnvironment(self.environment, self.errors, self.warnings)


def check(schema: EnvironmentSchema, variables: Variables) -> CheckResult:
    """Validate ``variables`` for ``schema``; never raises for any input."""
    result = CheckResult(schema.name)
    for problem in variables.problems:
        (result.warnings if problem.is_warning else result.errors).append(problem)
    for name, spec in schema.variables.items():
        raw = variables.values.get(name)
        location = variables.locations.get(name)
        if not raw:  # an empty string counts as missing
            if spec.default is not None:
                result.values[name] = parse_value(spec, spec.default)  # checked at load
                continue
            result.values[name] = None
            if spec.required and name not in variables.unreadable:
                what = "is set to an empty string, which counts as missing" if raw == "" else ""
                result.errors.append(
                    Problem(name, codes.MISSING, what or "is required but not set", location)
                )
            continue
        try:
            result.values[name] = parse_value(spec, raw)
        except ValueProblem as problem:
            result.values[name] = None
            result.errors.append(Problem(name, problem.code, problem.message, location))
    # A secret's NAME_PREVIOUS (a rotation's overlap) is implied: known, not drift.
    implied = {slot.name for slot in schema.previous_slots().values()}
    for name in sorted(variables.declared - schema.variables.keys() - implied):
        result.warnings.append(
            Problem(
                name,
                codes.UNKNOWN_VARIABLE,
                f"is not in the schema of {schema.name}",
                variables.locations.get(name),
            )
        )
    return result
