"""Change lead time from git: the commits a production deploy shipped, and their commit times.

The commits a deploy shipped are those reachable from its commit and not from the commit of
the environment's previous succeeded deploy (``git log NEW ^OLD``), at most ``limit`` of them.
Each git call has a timeout and a bounded output; a commit git does not know (a shallow clone,
another repository, a version string rather than a sha) is skipped and counted, never an
error.

The history itself is read by ``safeship.analytics.git_history`` (the deployment report's
"commits shipped" read it too): this module keeps what lead time needs, the sha and the commit
(committer) time.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

GIT_TIMEOUT: Final = 10.0
# The newest succeeded production deployments whose commits are read (one git call each).
MAX_DEPLOYMENTS: Final = 50
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


class GitUnavailable(Exception):
    """git is missing, the directory is no repository, or git failed (one line)."""


@dataclass(frozen=True)
class ShippedCommit:
    sha: str
    at: datetime  # the commit (committer) time, aware, UTC


def _git(repo: Path, args: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=repo,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise GitUnavailable("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitUnavailable(f"git {args[0]} took over {GIT_TIMEOUT:g} s") from None
    except OSError as exc:
        raise GitUnavailable(f"git: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitUnavailable(f"git {args[0]}: {lines[-1] if lines else 'failed'}")
    return done.stdout.decode("utf-8", "replace")


def repository_of(directory: Path) -> Path | None:
    """The root of the git repository ``directory`` is in, or None."""
    try:
        root = _git(directory, ["rev-parse", "--show-toplevel"]).strip()
    except GitUnavailable:
        return None
    return Path(root) if root else None


def is_sha(text: str | None) -> bool:
    return text is not None and _SHA.fullmatch(text) is not None


def commits_between(repo: Path, old: str | None, new: str, limit: int = 200) -> list[ShippedCommit]:
    """The commits reachable from ``new`` and not from ``old`` (None: all of ``new``'s
    history), newest first, at most ``limit``. GitUnavailable when git cannot tell (an
    unknown commit)."""
    from safeship.analytics.git_history import GitHistoryUnavailable
    from safeship.analytics.git_history import commits_between as history

    if not is_sha(new) or (old is not None and not is_sha(old)):
        raise GitUnavailable(f"not a commit sha: {new if not is_sha(new) else old!r}")
    try:
        commits = history(repo, old, new, limit)
    except GitHistoryUnavailable as exc:
        raise GitUnavailable(str(exc)) from None
    return [
        ShippedCommit(c.sha, c.committed_at.astimezone(UTC))
        for c in commits
        if c.committed_at is not None
    ]


@dataclass(frozen=True)
class LeadTimes:
    hours: list[float]  # one per shipped commit
    deployments: int  # deployments whose commits were read
    skipped: int  # deployments without a commit git knows

    def detail(self) -> str:
        skipped = f"; {self.skipped} without a commit git knows" if self.skipped else ""
        return (
            f"{len(self.hours)} commits shipped by {self.deployments} succeeded "
            f"deployment{'s' if self.deployments != 1 else ''}{skipped}"
        )


def lead_times(
    repo: Path,
    shipped: Sequence[tuple[str | None, str | None, datetime]],
    *,
    limit: int = 200,
) -> LeadTimes:
    """Each commit's lead time (hours, commit to the deploy's completion) over ``shipped``:
    (the previous succeeded deploy's commit, this deploy's commit, its completion), for the
    newest ``MAX_DEPLOYMENTS`` of them."""
    hours: list[float] = []
    read = skipped = 0
    for old, new, done in list(shipped)[-MAX_DEPLOYMENTS:]:
        if new is None or not is_sha(new):
            skipped += 1
            continue
        try:
            commits = commits_between(repo, old if is_sha(old) else None, new, limit)
        except GitUnavailable:
            skipped += 1
            continue
        read += 1
        hours += [max(0.0, (done - c.at).total_seconds() / 3600) for c in commits]
    return LeadTimes(hours, read, skipped)
