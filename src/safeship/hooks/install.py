"""`safeship hooks install/uninstall`: native git pre-commit and pre-push hooks calling safeship.

A hook safeship wrote carries ``MARKER``. A hook someone else wrote is never overwritten without
``force``; with ``chain`` it is kept as ``<hook>.safeship-chained`` and run first (same
arguments, same standard input), and uninstall puts it back.
"""

from __future__ import annotations

import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from safeship.hooks.gitdiff import git, repo_root

MARKER = "# safeship-hook: written by `safeship hooks install`"
# git tells a pre-push hook on stdin which refs it pushes; the gate checks each one's range.
HOOKS = {"pre-commit": "--staged", "pre-push": "--stdin-refs"}
CHAINED_SUFFIX = ".safeship-chained"


class HookConflict(Exception):
    """A hook not written by safeship is in the way."""


@dataclass(frozen=True)
class HookChange:
    hook: str
    action: str  # "installed", "replaced", "chained", "removed", "restored", "absent", "foreign"

    def text(self) -> str:
        return f"{self.hook}: {self.action}"


def hooks_dir(cwd: Path) -> Path:
    root = repo_root(cwd)
    path = Path(git(root, ["rev-parse", "--git-path", "hooks"]))
    return path if path.is_absolute() else root / path


def _script(hook: str, chained: bool) -> str:
    python = shlex.quote(sys.executable)
    args = HOOKS[hook]
    lines = [
        "#!/bin/sh",
        MARKER,
        "# Skip once with `git push --no-verify` (the next deploy notes it).",
    ]
    # Chained: stdin (the pushed refs) is read once, then given to both hooks.
    run = 'printf "%s\\n" "$input" | ' if chained else "exec "
    end = "; exit $?" if chained else ""
    if chained:
        saved = shlex.quote(hook + CHAINED_SUFFIX)
        lines += [
            "input=$(cat)",
            f'printf "%s\\n" "$input" | "$(dirname "$0")"/{saved} "$@" || exit $?',
        ]
    lines += [
        "if command -v safeship >/dev/null 2>&1; then",
        f"  {run}safeship prepush {args}{end}",
        "fi",
        f"{run}{python} -m safeship prepush {args}{end}",
    ]
    return "\n".join(lines) + "\n"


def _ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def install(cwd: Path, *, force: bool = False, chain: bool = False) -> list[HookChange]:
    directory = hooks_dir(cwd)
    foreign = [
        hook for hook in HOOKS if (directory / hook).exists() and not _ours(directory / hook)
    ]
    if foreign and not (force or chain):
        names = ", ".join(foreign)
        raise HookConflict(
            f"{directory}: {names}: a hook not written by safeship exists; "
            "--chain keeps it and runs it first, --force replaces it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    changes = []
    for hook in HOOKS:
        path = directory / hook
        saved = directory / (hook + CHAINED_SUFFIX)
        action = "installed"
        if hook in foreign:
            if chain:
                path.replace(saved)
                action = "chained"
            else:
                action = "replaced"
        chained = saved.exists()
        path.write_text(_script(hook, chained), encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        changes.append(HookChange(hook, action))
    return changes


def uninstall(cwd: Path, *, force: bool = False) -> list[HookChange]:
    directory = hooks_dir(cwd)
    changes = []
    for hook in HOOKS:
        path = directory / hook
        saved = directory / (hook + CHAINED_SUFFIX)
        if not path.exists():
            changes.append(HookChange(hook, "absent"))
            continue
        if not _ours(path) and not force:
            changes.append(HookChange(hook, "foreign"))  # not ours: left alone
            continue
        path.unlink()
        if saved.exists():
            saved.replace(path)
            changes.append(HookChange(hook, "restored"))
        else:
            changes.append(HookChange(hook, "removed"))
    return changes
