"""safeship prepush: run the pre-push gate by hand (the hooks call it too).

Exit 0 passed, 1 blocked (each reason listed), 2 usage error (not a repository, bad config).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MARKS = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip", "info": "info"}


def run(
    config: Path | None, all_files: bool, staged: bool, only: list[str], json_output: bool
) -> int:
    from safeship.config import ConfigError
    from safeship.hooks.gate import CHECKS, run_gate
    from safeship.hooks.gitdiff import GitError, Scope
    from safeship.hooks.secrets import BaselineError
    from safeship.redaction import redact

    unknown = [name for name in only if name not in CHECKS]
    if unknown or (all_files and staged):
        problem = (
            f"--only {unknown[0]}: unknown check (one of {', '.join(CHECKS)})"
            if unknown
            else "--all and --staged cannot be combined"
        )
        print(f"safeship: error: {problem}", file=sys.stderr)
        return 2
    scope: Scope = "all" if all_files else "staged" if staged else "push"
    try:
        report = run_gate(Path.cwd(), scope, config, only=frozenset(only))
    except ConfigError as exc:
        for line in exc.problems:
            print(f"safeship: error: {redact(line)}", file=sys.stderr)
        return 2
    except (GitError, BaselineError) as exc:
        print(f"safeship: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    if json_output:
        print(json.dumps(report.as_json(), indent=2))
        return 0 if report.passed else 1
    where = {"push": "push", "staged": "staged changes", "all": "every file"}[report.scope]
    print(f"safeship prepush: {where}{' (cached)' if report.cached else ''}")
    for note in report.notes:
        print(f"  note: {note}")
    for result in report.results:
        if result.status in ("passed", "skipped") and len(result.lines) <= 1:
            detail = f": {result.lines[0]}" if result.lines else ""
            print(f"[{MARKS[result.status]}] {result.name}{detail}")
            continue
        print(f"[{MARKS[result.status]}] {result.name}")
        for line in result.lines:
            print(f"         {redact(line)}")
    blocked = [r.name for r in report.results if r.blocks]
    if blocked:
        print(
            f"blocked by: {', '.join(blocked)} (fix, or push with --no-verify: the deploy notes it)"
        )
        return 1
    print("passed")
    return 0
