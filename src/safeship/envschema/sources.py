"""Where an environment's variables come from: .env files, a target, the process environment.

Later sources win: .env files in the order given (a later file overrides an earlier one), then
the target's variables, then the process environment, the way a process started with those
files loaded (python-dotenv's default, which does not override) would see them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from safeship.envschema.dotenv_file import read_env_file
from safeship.envschema.problems import Problem


@dataclass
class Variables:
    """The values one environment has, with where each came from and what reading found."""

    values: dict[str, str] = field(default_factory=dict)
    # Name -> ".env:4", "safeship.toml:12" or "railway production variables" (see
    # target_source); none for the process environment.
    locations: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Names that a source meant to set but could not (a value too large, a bad line): already
    # reported, so not reported again as missing.
    unreadable: set[str] = field(default_factory=set)
    # Names from sources that list only the application's variables (.env files, a target). The
    # process environment also holds PATH, HOME and the like: those are not warned about.
    declared: set[str] = field(default_factory=set)

    def set(self, name: str, value: str, location: str | None, *, declared: bool) -> None:
        self.values[name] = value
        if location is None:
            self.locations.pop(name, None)
        else:
            self.locations[name] = location
        self.unreadable.discard(name)
        if declared:
            self.declared.add(name)


def target_source(target_type: str, environment: str) -> str:
    """How a message names variables a target holds: ``railway production variables``."""
    return f"{target_type} {environment} variables"


def collect(
    *,
    env_files: Sequence[Path] = (),
    target: Mapping[str, str] | None = None,
    target_location: Callable[[str], str | None] | None = None,
    process: Mapping[str, str] | None = None,
    names: Collection[str] = (),
) -> Variables:
    """The variables from the given sources; from ``process`` only those in ``names``."""
    result = Variables()
    for path in env_files:
        parsed = read_env_file(path, context=result.values)
        result.problems.extend(parsed.problems)
        for problem in parsed.problems:
            if problem.variable and not problem.is_warning:
                result.unreadable.add(problem.variable)
        for name, value in parsed.values.items():
            result.set(name, value, parsed.location(name), declared=True)
    if target is not None:
        for name, value in target.items():
            where = target_location(name) if target_location else None
            result.set(name, value, where, declared=True)
    if process is not None:
        for name in names:
            if name in process:
                result.set(name, process[name], None, declared=False)
    return result
