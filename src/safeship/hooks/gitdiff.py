"""What a push (or a commit) changes: the files and the lines it adds.

Three scopes:

- ``push``: from the upstream branch to HEAD (its merge base, so commits only on the remote do
  not count); on a branch without upstream, from the merge base with the default branch
  (``origin/HEAD``, else ``origin/main``/``origin/master``/``main``/``master``); with none of
  those, everything at HEAD is new. In a shallow clone whose history does not reach the merge
  base, the upstream tree itself is the base.
- ``staged``: the index against HEAD (what a pre-commit hook sees). A repository with no commits
  yet is always this scope, against the empty tree.
- ``all``: every tracked file at HEAD.

Every git call has a timeout; git failures become ``GitError`` with one line, never a traceback.
File names are read NUL-separated (spaces, unicode, quotes), binary files are listed without
lines.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Scope = Literal["push", "staged", "all"]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
GIT_TIMEOUT = 30.0


class GitError(Exception):
    """git is missing, this is not a repository, or a git command failed."""


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # "A" added, "M" modified, "D" deleted (renames are delete + add)
    binary: bool = False
    # (line number in the new file, text) of every added line; none for binary/deleted files.
    added: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Change:
    root: Path
    scope: Scope
    base: str  # a commit or tree; EMPTY_TREE when everything is new
    head: str  # a commit, or "INDEX" for the staged scope
    tree: str  # the tree hash of head (the cache key)
    files: tuple[ChangedFile, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def show(self, path: str, side: Literal["base", "head"]) -> bytes | None:
        """A file's content at the base or at the head (None: it does not exist there)."""
        rev = self.base if side == "base" else ("" if self.head == "INDEX" else self.head)
        if side == "base" and rev == EMPTY_TREE:
            return None
        try:
            return git_bytes(self.root, ["cat-file", "blob", f"{rev}:{path}"])
        except GitError:
            return None


def git_bytes(
    root: Path,
    args: Sequence[str],
    *,
    input_: bytes | None = None,
    timeout: float = GIT_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """git's output; ``env``: variables set for it over this process's own."""
    try:
        done = subprocess.run(
            ["git", "-c", "core.quotePath=false", *args],
            cwd=root,
            input=input_,
            capture_output=True,
            timeout=timeout,
            check=False,
            env=None if env is None else {**os.environ, **env},
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took over {timeout:.0f} s") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return done.stdout


def git(root: Path, args: Sequence[str]) -> str:
    return git_bytes(root, args).decode("utf-8", "replace").strip()


def _try(root: Path, args: Sequence[str]) -> str | None:
    try:
        return git(root, args) or None
    except GitError:
        return None


def repo_root(cwd: Path) -> Path:
    try:
        return Path(git(cwd, ["rev-parse", "--show-toplevel"]))
    except GitError:
        raise GitError(f"{cwd}: not inside a git repository") from None


def _default_branch(root: Path, current: str | None) -> str | None:
    remote_head = _try(root, ["symbolic-ref", "-q", "refs/remotes/origin/HEAD"])
    candidates = [remote_head] if remote_head else []
    candidates += ["refs/remotes/origin/main", "refs/remotes/origin/master", "main", "master"]
    for ref in candidates:
        if ref == current:  # the branch being pushed is no base for itself
            continue
        if ref and _try(root, ["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"]):
            return ref
    return None


ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class PushedRef:
    """One line git gives a pre-push hook: what is pushed, and what the remote has now."""

    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str


def parse_pushed_refs(text: str) -> list[PushedRef]:
    """The pre-push hook's stdin (``<local ref> <local sha> <remote ref> <remote sha>`` lines).

    Deletions (a local sha of zeros) push no content and are left out.
    """
    refs = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4:
            if line.strip():
                raise GitError(f"pre-push input line not understood: {line.strip()[:80]!r}")
            continue
        ref = PushedRef(*parts)
        if ref.local_sha != ZERO_SHA:
            refs.append(ref)
    return refs


def _push_base(
    root: Path, head: str = "HEAD", pushed: PushedRef | None = None
) -> tuple[str, list[str]]:
    notes: list[str] = []
    remote_known = (
        pushed is not None
        and pushed.remote_sha != ZERO_SHA
        and _try(root, ["rev-parse", "--verify", "-q", f"{pushed.remote_sha}^{{commit}}"])
    )
    upstream = (
        None
        if pushed is not None
        else _try(root, ["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"])
    )
    if pushed is not None and remote_known:
        ref = pushed.remote_sha  # exactly what the remote has: the push adds the rest
    elif upstream:
        ref = upstream
    else:
        if pushed is not None:
            notes.append(f"{pushed.remote_ref} is new on the remote")
            branch: str | None = pushed.local_ref.removeprefix("refs/heads/")
        else:
            branch = _try(root, ["symbolic-ref", "-q", "--short", "HEAD"])
            notes.append(
                f"branch {branch} has no upstream" if branch else "detached HEAD (no branch)"
            )
        default = _default_branch(root, branch)
        if default is None:
            label = pushed.local_ref.removeprefix("refs/heads/") if pushed else "HEAD"
            notes.append(f"no default branch to compare with: every file at {label} is new")
            return EMPTY_TREE, notes
        ref = default
        notes.append(f"compared with {ref.removeprefix('refs/remotes/')}")
    merge_base = _try(root, ["merge-base", ref, head])
    if merge_base:
        return merge_base, notes
    if _try(root, ["rev-parse", "--is-shallow-repository"]) == "true":
        notes.append(f"shallow clone: no merge base with {ref}; compared with its tree")
        return git(root, ["rev-parse", f"{ref}^{{commit}}"]), notes
    notes.append(f"no common history with {ref}: every file at HEAD is new")
    return EMPTY_TREE, notes


def collect_change(cwd: Path, scope: Scope, pushed: PushedRef | None = None) -> Change:
    """The change of ``scope`` in the repository containing ``cwd``.

    ``pushed``: the ref a pre-push hook was told about; the push scope then covers that ref's
    new commits (which need not be HEAD's: ``git push origin other-branch``).
    """
    root = repo_root(cwd)
    has_head = _try(root, ["rev-parse", "--verify", "-q", "HEAD^{commit}"]) is not None
    notes: list[str] = []
    if not has_head and scope != "staged":
        notes.append("no commits yet: scanning the staged files")
        scope = "staged"
    if scope == "staged":
        base = git(root, ["rev-parse", "HEAD"]) if has_head else EMPTY_TREE
        tree = git(root, ["write-tree"])
        diff_args = ["--cached", base]
        head = "INDEX"
    else:
        pushed_head = pushed.local_sha if pushed is not None and scope == "push" else "HEAD"
        head = git(root, ["rev-parse", f"{pushed_head}^{{commit}}"])
        tree = git(root, ["rev-parse", f"{head}^{{tree}}"])
        if scope == "all":
            base = EMPTY_TREE
        else:
            base, notes_ = _push_base(root, head, pushed if scope == "push" else None)
            notes += notes_
        diff_args = [base, head]
    files = _diff(root, diff_args)
    return Change(root, scope, base, head, tree, tuple(files), tuple(notes))


_COMMON = ["diff", "--no-color", "--no-ext-diff", "--no-renames", "--no-textconv"]


def _diff(root: Path, diff_args: list[str]) -> list[ChangedFile]:
    listing = git_bytes(root, [*_COMMON, "--numstat", "-z", *diff_args]).split(b"\0")
    statuses = git_bytes(root, [*_COMMON, "--name-status", "-z", *diff_args]).split(b"\0")
    status_of = {
        statuses[i + 1].decode("utf-8", "surrogateescape"): statuses[i].decode()[:1]
        for i in range(0, len(statuses) - 1, 2)
    }
    entries: list[tuple[str, bool]] = []
    for item in listing:
        if not item:
            continue
        added, _deleted, raw_name = item.split(b"\t", 2)
        entries.append((raw_name.decode("utf-8", "surrogateescape"), added == b"-"))
    patch = git_bytes(root, [*_COMMON, "-U0", *diff_args])
    segments = patch.split(b"\ndiff --git ")
    if len(segments) != len(entries):  # cannot pair hunks with names: no lines, names only
        segments = [b""] * len(entries)
    result = []
    for (name, binary), segment in zip(entries, segments, strict=True):
        status = status_of.get(name, "M")
        lines = () if binary or status == "D" else tuple(_added_lines(segment))
        result.append(ChangedFile(name, status, binary, lines))
    return result


def _added_lines(segment: bytes) -> list[tuple[int, str]]:
    added: list[tuple[int, str]] = []
    number = 0
    for raw in segment.split(b"\n"):
        if raw.startswith(b"@@ "):
            target = raw.split(b" ")[2]  # +start[,count]
            number = int(target[1:].split(b",")[0])
        elif raw.startswith(b"+") and number:  # after the first hunk header
            added.append((number, raw[1:].decode("utf-8", "replace")))
            number += 1
    return added
