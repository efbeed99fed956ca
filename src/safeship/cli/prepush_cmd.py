"""safeship prepush: run the pre-push gate by hand (the hooks call it too).

Exit 0 passed, 1 blocked (each reason listed), 2 usage error (not a repository, bad config).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeship.hooks.gate import GateReport
    from safeship.hooks.gitdiff import PushedRef

MARKS = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip", "info": "info"}


def run(
    config: Path | None,
    all_files: bool,
    staged: bool,
    only: list[str],
    json_output: bool,
    stdin_refs: bool = False,
) -> int:
    from safeship.config import ConfigError
    from safeship.hooks.gate import CHECKS, run_gate
    from safeship.hooks.gitdiff import GitError, Scope, parse_pushed_refs
    from safeship.hooks.secrets import BaselineError
    from safeship.redaction import redact

    unknown = [name for name in only if name not in CHECKS]
    if unknown or (all_files and staged) or (stdin_refs and (all_files or staged)):
        problem = (
            f"--only {unknown[0]}: unknown check (one of {', '.join(CHECKS)})"
            if unknown
            else "--all, --staged and --stdin-refs cannot be combined"
        )
        print(f"safeship: error: {problem}", file=sys.stderr)
        return 2
    scope: Scope = "all" if all_files else "staged" if staged else "push"
    reports: list[GateReport] = []
    try:
        # A pre-push hook is told which refs are pushed; each is checked on its own range.
        targets: list[PushedRef | None] = (
            list(parse_pushed_refs(sys.stdin.read())) if stdin_refs else [None]
        )
        for pushed in targets:
            reports.append(run_gate(Path.cwd(), scope, config, only=frozenset(only), pushed=pushed))
    except ConfigError as exc:
        for line in exc.problems:
            print(f"safeship: error: {redact(line)}", file=sys.stderr)
        return 2
    except (GitError, BaselineError) as exc:
        print(f"safeship: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    if json_output:
        data = [r.as_json() for r in reports]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2))
        return 0 if all(r.passed for r in reports) else 1
    if not reports:
        print("safeship prepush: nothing pushed but deletions")
        return 0
    blocked = [
        _render(report, pushed, redact) for report, pushed in zip(reports, targets, strict=True)
    ]
    return 1 if any(blocked) else 0


def _render(report: GateReport, pushed: PushedRef | None, redact: Callable[[str], str]) -> bool:
    """Print one report; whether it blocks."""
    where = {"push": "push", "staged": "staged changes", "all": "every file"}[report.scope]
    if pushed is not None:
        where += f" of {pushed.local_ref}"
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
        return True
    print("passed")
    return False
