"""Build check: the configured command, run only when a build input changed."""

from __future__ import annotations

from safeship.hooks.gitdiff import Change
from safeship.hooks.result import CheckResult, matches
from safeship.hooks.runner import run_command
from safeship.hooks.settings import BuildSettings

NAME = "build"


def run_build(change: Change, settings: BuildSettings) -> CheckResult:
    if settings.command is None:
        return CheckResult(NAME, "skipped", ("no [prepush.build] command",))
    if change.scope != "all" and not any(matches(p, settings.inputs) for p in change.paths):
        return CheckResult(NAME, "skipped", ("no build input changed",))
    passed, lines = run_command(settings.command, change.root, settings.timeout)
    return CheckResult(NAME, "passed" if passed else "failed", tuple(lines))
