"""The commits a deployment shipped: the git history between two commits of the project's
repository, read with ``git log`` (no git library)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

# Fields separated by the unit separator, commits by the record separator: a subject may hold
# any printable character.
_FIELD = "\x1f"
_RECORD = "\x1e"
_FORMAT = f"%H{_FIELD}%an{_FIELD}%aI{_FIELD}%cI{_FIELD}%s{_RECORD}"
# git log answers in milliseconds; a repository on a hung network mount must not hold a report.
GIT_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class CommitShipped:
    sha: str
    author: str
    at: datetime | None  # authored
    subject: str
    # When it was committed (a rebase or cherry-pick keeps the author time): change lead time
    # counts from here.
    committed_at: datetime | None = None


class GitHistoryUnavailable(Exception):
    """The history cannot be read (no git, not a repository, a commit it does not have)."""


def commits_between(repo: Path, old: str | None, new: str, limit: int = 200) -> list[CommitShipped]:
    """The commits reachable from ``new`` and not from ``old`` (all of ``new``'s history when
    ``old`` is None), newest first, at most ``limit``."""
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    for sha in (old, new):
        if sha is not None and (not sha or sha.startswith("-")):
            raise GitHistoryUnavailable(f"not a commit: {sha!r}")
    revisions = [f"{old}..{new}"] if old else [new]
    command = ["git", "-C", str(repo), "log", f"--max-count={limit}", f"--format={_FORMAT}"]
    try:
        done = subprocess.run(
            [*command, *revisions, "--"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitHistoryUnavailable(f"git log failed: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise GitHistoryUnavailable(lines[0] if lines else f"git log exited {done.returncode}")
    return [_commit(record) for record in done.stdout.split(_RECORD) if record.strip()]


def _commit(record: str) -> CommitShipped:
    sha, author, at, committed, subject = [
        *record.strip("\n").split(_FIELD, 4),
        "",
        "",
        "",
        "",
        "",
    ][:5]
    return CommitShipped(
        sha=sha, author=author, at=_time(at), subject=subject, committed_at=_time(committed)
    )


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
