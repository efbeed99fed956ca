"""The pre-push gate: the enabled checks over one change, cached by tree hash.

The cache lives in ``.safeship/prepush/`` at the repository root: one file per key (the scope,
the base, the tree of HEAD or of the index, and the contents of the files the checks read
beside the tree: safeship.toml, the env schema, .env files, .secrets.baseline), so a re-run
with nothing changed reads one small JSON file. Each run of the push scope also records, per
commit, whether HEAD passed: ``gate_record_for`` reads it for the deploy's registry note.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeship._files import private_dir, write_private
from safeship.hooks.gitdiff import Change, PushedRef, Scope, collect_change
from safeship.hooks.result import CheckResult
from safeship.hooks.settings import GateConfig, load_gate_config

CACHE_DIR = Path(".safeship") / "prepush"
CACHE_VERSION = "1"


@dataclass
class GateReport:
    scope: Scope
    commit: str | None
    tree: str
    results: list[CheckResult]
    notes: list[str] = field(default_factory=list)
    cached: bool = False

    @property
    def passed(self) -> bool:
        return not any(r.blocks for r in self.results)

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "scope": self.scope,
            "commit": self.commit,
            "tree": self.tree,
            "cached": self.cached,
            "notes": self.notes,
            "checks": [r.as_json() for r in self.results],
        }


CHECKS = ("secrets", "env", "affected", "build", "openapi", "impact")


def _checks(gate: GateConfig) -> list[tuple[str, Callable[[Change], CheckResult]]]:
    from safeship.hooks.affected import run_affected
    from safeship.hooks.build import run_build
    from safeship.hooks.env import run_env
    from safeship.hooks.impact import run_impact
    from safeship.hooks.openapi import run_openapi
    from safeship.hooks.secrets import run_secrets

    settings = gate.prepush
    checks: list[tuple[str, Callable[[Change], CheckResult]]] = []
    if settings.secrets:
        checks.append(("secrets", run_secrets))
    if gate.config is not None:  # the other checks need their configuration
        checks += [
            ("env", lambda c: run_env(c, gate)),
            ("affected", lambda c: run_affected(c, settings.affected)),
            ("build", lambda c: run_build(c, settings.build)),
            ("openapi", lambda c: run_openapi(c, settings.openapi)),
        ]
        if settings.impact:
            checks.append(("impact", lambda c: run_impact(c, gate)))
    return checks


def _cache_key(change: Change, gate: GateConfig, only: frozenset[str]) -> str:
    digest = hashlib.sha256(
        "\0".join(
            [CACHE_VERSION, change.scope, change.base, change.tree, ",".join(sorted(only))]
        ).encode()
    )
    extra = [change.root / ".secrets.baseline"]
    if gate.path is not None:
        extra.append(gate.path)
        folder = gate.path.parent
        if gate.config is not None:
            extra.append(folder / gate.config.project.env_schema)
        extra += sorted(folder.glob(".env*"))
    for path in extra:
        digest.update(f"\0{path}\0".encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()[:32]


def run_gate(
    cwd: Path,
    scope: Scope,
    config_path: Path | None,
    *,
    only: frozenset[str] = frozenset(),
    use_cache: bool = True,
    pushed: PushedRef | None = None,
) -> GateReport:
    """Run the gate; raises GitError / ConfigError / BaselineError for the CLI to render.

    ``pushed``: the ref a pre-push hook is pushing (its new commits are the change).
    """
    started = time.monotonic()
    change = collect_change(cwd, scope, pushed)
    if config_path is None:
        candidate = change.root / "safeship.toml"
        config_path = candidate if candidate.is_file() else None
    gate = load_gate_config(config_path)
    commit = None if change.head == "INDEX" else change.head
    cache = change.root / CACHE_DIR
    key = _cache_key(change, gate, only)
    cached = _read_json(cache / f"{key}.json") if use_cache else None
    if cached is not None:
        results = [CheckResult.from_json(r) for r in cached["checks"]]
        report = GateReport(change.scope, commit, change.tree, results, list(change.notes), True)
    else:
        results = [check(change) for name, check in _checks(gate) if not only or name in only]
        report = GateReport(change.scope, commit, change.tree, results, list(change.notes))
        _write_json(cache / f"{key}.json", report.as_json())
    if commit is not None and change.scope == "push" and not only:
        record = {"commit": commit, "passed": report.passed, "checked_at": time.time()}
        _write_json(cache / "commits" / f"{commit}.json", record)
    if change.scope == "push" and not only:  # the analytics' count of pushes blocked
        _record_run(gate, change, report, pushed, time.monotonic() - started)
    return report


def _record_run(
    gate: GateConfig,
    change: Change,
    report: GateReport,
    pushed: PushedRef | None,
    seconds: float,
) -> None:
    """This run in the project's registry (bounded in time; never changes the verdict)."""
    from datetime import UTC, datetime

    from safeship.analytics.recording import record_prepush_run

    ref = pushed.local_ref if pushed is not None else None
    record_prepush_run(
        gate.config,
        gate.path,
        ran_at=datetime.now(UTC),
        repository=change.root.name,
        branch=ref.removeprefix("refs/heads/") if ref else None,
        commit_sha=report.commit,
        verdict="passed" if report.passed else "blocked",
        duration_seconds=seconds,
        failed_checks=[r.name for r in report.results if r.blocks],
    )


def gate_record_for(commit: str, base_dir: Path) -> dict[str, Any]:
    """Whether ``commit`` passed the pre-push gate in the repository at ``base_dir``.

    ``{"commit", "gate": "passed" | "failed" | "not_run", "checked_at"}``: "not_run" is what a
    push made with ``--no-verify`` (or from a machine without the hooks) leaves.
    """
    safe = "".join(c for c in commit if c in "0123456789abcdefABCDEF")
    record = _read_json(Path(base_dir) / CACHE_DIR / "commits" / f"{safe}.json") if safe else None
    if record is None:
        return {"commit": commit, "gate": "not_run", "checked_at": None}
    return {
        "commit": commit,
        "gate": "passed" if record.get("passed") else "failed",
        "checked_at": record.get("checked_at"),
    }


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically; a cache that cannot be written is only a slower next run."""
    try:
        private_dir(path.parent)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            write_private(ignore, "*\n")
        write_private(path, json.dumps(data))
    except OSError:
        pass
