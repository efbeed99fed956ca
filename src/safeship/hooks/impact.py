"""Deploy impact summary: what this change will do to a deploy. Never fails the gate."""

from __future__ import annotations

from safeship.envschema.problems import EnvSchemaError
from safeship.envschema.schema import parse_schema
from safeship.hooks.gitdiff import Change
from safeship.hooks.result import CheckResult, matches
from safeship.hooks.settings import GateConfig

NAME = "impact"
MIGRATIONS = ["**/migrations/**", "**/alembic/versions/**", "**/*migration*", "migrations/**"]
DEPENDENCIES = [
    "pyproject.toml", "requirements*.txt", "*.lock", "package.json", "package-lock.json",
    "pnpm-lock.yaml", "go.mod", "go.sum", "Gemfile", "Cargo.toml", "Pipfile",
]  # fmt: skip
NOT_DEPLOYED = ["*.md", "docs/**", "tests/**", "test/**", ".github/**", "benchmarks/**"]


def _variables(change: Change, path: str, side: str) -> set[str] | None:
    content = change.show(path, "base" if side == "base" else "head")
    if content is None:
        return set()
    try:
        return set(parse_schema(content.decode("utf-8"), path).all_variables())
    except (EnvSchemaError, UnicodeDecodeError):
        return None


def run_impact(change: Change, gate: GateConfig) -> CheckResult:
    lines: list[str] = []
    deployed = [p for p in change.paths if not matches(p, NOT_DEPLOYED)]
    environments = sorted(gate.config.environments) if gate.config else []
    if deployed and environments:
        lines.append(f"environments affected: {', '.join(environments)}")
    elif not deployed:
        lines.append("environments affected: none (docs/tests only)")
    risk = 0
    schema = gate.config.project.env_schema if gate.config else "env.schema.toml"
    if schema in change.paths:
        before, after = _variables(change, schema, "base"), _variables(change, schema, "head")
        if before is None or after is None:
            lines.append(f"env variables: {schema} cannot be read at one side")
        else:
            added, removed = sorted(after - before), sorted(before - after)
            if added or removed:
                risk += 1
            lines.append(f"env variables added: {', '.join(added) or 'none'}")
            lines.append(f"env variables removed: {', '.join(removed) or 'none'}")
    migrations = [p for p in change.paths if matches(p, MIGRATIONS)]
    dependencies = [p for p in change.paths if matches(p, DEPENDENCIES)]
    lines.append(f"migrations: {', '.join(migrations) if migrations else 'none'}")
    lines.append(f"dependencies changed: {', '.join(dependencies) if dependencies else 'no'}")
    added_lines = sum(len(f.added) for f in change.files)
    risk += 2 * bool(migrations) + bool(dependencies) + (len(deployed) > 20) + (added_lines > 500)
    level = "low" if risk == 0 else "medium" if risk <= 2 else "high"
    lines.append(
        f"estimated deploy risk: {level} "
        f"({len(deployed)} deployed file(s), {added_lines} line(s) added)"
    )
    return CheckResult(NAME, "info", tuple(lines))
