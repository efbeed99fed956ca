"""Affected tests: only the tests the change can break.

Python: the tests that import a changed module, directly or through other modules (the import
graph of the repository's tracked .py files, read with ``ast``), plus changed test files. A
change to something global (conftest.py, pyproject.toml, a lock file...) runs the full suite.
Other stacks: ``stack = "command"`` runs the command with ``{files}`` the changed files.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

from safeship.hooks.gitdiff import Change, git_bytes
from safeship.hooks.result import CheckResult, matches
from safeship.hooks.runner import expand, run_command
from safeship.hooks.settings import AffectedSettings

NAME = "affected"
_SOURCE_ROOTS = ("src/", "lib/")


def module_name(path: str) -> str:
    """``src/pkg/mod.py`` → ``pkg.mod``; ``pkg/__init__.py`` → ``pkg``."""
    for prefix in _SOURCE_ROOTS:
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(source: bytes, module: str, is_package: bool) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def affected_tests(root: Path, changed: list[str], test_dirs: list[str]) -> list[str]:
    """The test files (repository paths) that import a changed Python module, transitively."""
    listed = git_bytes(root, ["ls-files", "-z", "--", "*.py"]).split(b"\0")
    files = [p.decode("utf-8", "surrogateescape") for p in listed if p]
    by_module = {module_name(p): p for p in files}
    importers: dict[str, set[str]] = {}
    for path in files:
        try:
            source = (root / path).read_bytes()
        except OSError:
            continue
        name = module_name(path)
        for imported in _imports(source, name, path.endswith("__init__.py")):
            while imported:
                if imported in by_module:
                    importers.setdefault(by_module[imported], set()).add(path)
                    break
                imported = imported.rpartition(".")[0]
    queue = deque(p for p in changed if p.endswith(".py"))
    seen = set(queue)
    while queue:
        for importer in importers.get(queue.popleft(), ()):
            if importer not in seen:
                seen.add(importer)
                queue.append(importer)
    return sorted(p for p in seen if _is_test(p, test_dirs) and (root / p).is_file())


def _is_test(path: str, test_dirs: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    in_dir = any(path.startswith(d.rstrip("/") + "/") for d in test_dirs)
    return in_dir and (name.startswith("test_") or name.endswith("_test.py"))


def run_affected(change: Change, settings: AffectedSettings) -> CheckResult:
    if not settings.enabled:
        return CheckResult(NAME, "skipped", ("disabled",))
    paths = [f.path for f in change.files if f.status != "D"]
    if change.scope == "all" or any(matches(p, settings.global_files) for p in change.paths):
        passed, lines = run_command(settings.full, change.root, settings.timeout)
        return CheckResult(NAME, "passed" if passed else "failed", ("full suite", *lines))
    if settings.stack == "command":
        files = paths
    else:
        files = affected_tests(change.root, [f.path for f in change.files], settings.tests)
    if not files:
        return CheckResult(NAME, "skipped", ("no affected tests",))
    command = expand(settings.command, files)
    passed, lines = run_command(command, change.root, settings.timeout)
    return CheckResult(NAME, "passed" if passed else "failed", (f"{len(files)} file(s)", *lines))
