"""The release tag: an annotated git tag on the commit a deployment shipped, named by the
``tag`` pattern (``deploy/{environment}/{date}.{n}``), pushed to ``remote``, signed with
``signing_key`` when one is configured.

A tag is never moved nor overwritten: with ``{n}`` in the pattern the next number free that
day is taken (the local tags and, when pushing, the remote's are looked at); without it, a name
already taken fails the step. A push that fails keeps the tag in the local repository and says
so (``git push REMOTE refs/tags/NAME`` sends it later). Every git call has a timeout, and git
is never allowed to prompt (for a password, a passphrase): a deploy's host has nobody to answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from safeship.analytics.leadtime import is_sha
from safeship.gates.base import GateVerdict, failed, passed, skipped
from safeship.gates.settings import ref_name_problem, tag_fields
from safeship.hooks.gitdiff import GitError, git_bytes
from safeship.postdeploy.base import STEP_ORDER, StepContext
from safeship.redaction import redact

if TYPE_CHECKING:
    from safeship.gates.settings import PostDeploySettings
    from safeship.registry import DeploymentRecord
    from safeship.registry.gate_rows import GateResult

# Seconds for a local git command, and for one that talks to the remote (ls-remote, push).
LOCAL_TIMEOUT: Final = 15.0
REMOTE_TIMEOUT: Final = 60.0
# {commit} in a tag's name: this many characters of the SHA.
SHORT_COMMIT: Final = 12
# Git never waits for someone to type a password or answer ssh's host-key question (unless
# the user's own GIT_SSH_COMMAND says otherwise).
NO_PROMPT: Final = {"GIT_TERMINAL_PROMPT": "0"}
NO_SSH_PROMPT: Final = {"GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
# Who the tag is by when the repository has no user configured (git refuses to tag then).
FALLBACK_TAGGER: Final = {
    "GIT_COMMITTER_NAME": "safeship",
    "GIT_COMMITTER_EMAIL": "safeship@localhost",
}


@dataclass(frozen=True)
class TagStep:
    pattern: str
    remote: str
    push: bool
    signing_key: str
    name: str = "tag"

    def run(self, context: StepContext) -> GateVerdict:
        record = context.record
        if not record.commit_sha:
            return skipped("no commit was recorded with this deployment: nothing to tag")
        if not is_sha(record.commit_sha):
            # A branch's name says where it is now, not what was shipped then.
            return skipped(
                f"the recorded commit {record.commit_sha!r} is not a SHA: nothing certain to tag"
            )
        repo = context.loaded.base_dir
        try:
            sha = _git(
                repo, ["rev-parse", "--verify", "--quiet", f"{record.commit_sha}^{{commit}}"]
            )
        except GitError:
            return failed(
                f"commit {record.commit_sha[:SHORT_COMMIT]} is not in the repository at {repo}"
            )
        taken = self._taken(repo)
        name = next_tag_name(self.pattern, tag_values(record, sha), taken)
        if name is None:
            return failed(
                f"tag {self.pattern.format(**tag_values(record, sha))} exists already "
                "(a tag is never overwritten: add {n} to the pattern)"
            )
        problem = ref_name_problem(name)
        if problem is not None:
            return failed(f"tag {name!r} is not a valid git tag name: {problem}")
        message = tag_message(record, sha, context.registry.gate_results(record.id))
        self._make(repo, name, sha, message)
        context.facts["tag"] = name
        figures = {"tag": name, "commit": sha, "signed": bool(self.signing_key)}
        done = f"tagged {name} on {sha[:SHORT_COMMIT]}" + (" (signed)" if self.signing_key else "")
        if not self.push:
            return passed(f"{done}; not pushed (push = false)", **figures, pushed=False)
        try:
            _git(repo, ["push", "--", self.remote, f"refs/tags/{name}"], remote=True)
        except GitError as exc:
            return failed(
                f"{done}, kept in the local repository but not pushed to {self.remote}: {exc}",
                **figures,
                pushed=False,
            )
        return passed(f"{done}, pushed to {self.remote}", **figures, pushed=True)

    def _taken(self, repo: Path) -> set[str]:
        """The tag names taken here and (when pushing) on the remote (when it cannot be read,
        the push fails and says why)."""
        local = _git(repo, ["for-each-ref", "--format=%(refname:strip=2)", "refs/tags"])
        taken = set(local.splitlines())
        if not self.push:
            return taken
        try:
            listed = _git(repo, ["ls-remote", "--tags", "--refs", self.remote], remote=True)
        except GitError:
            return taken
        prefix = "refs/tags/"
        for line in listed.splitlines():
            ref = line.partition("\t")[2]
            if ref.startswith(prefix):
                taken.add(ref[len(prefix) :])
        return taken

    def _make(self, repo: Path, name: str, sha: str, message: str) -> None:
        sign = ["-s", "-u", self.signing_key] if self.signing_key else ["-a"]
        env = {} if _has_user(repo) else FALLBACK_TAGGER
        _git(repo, ["tag", *sign, "-F", "-", "--", name, sha], input_=message, env=env)


def tag_values(record: DeploymentRecord, sha: str) -> dict[str, str]:
    """The placeholders' values (but {n}) for ``record``'s tag."""
    ended = record.completed_at or datetime.now(UTC)
    ended = ended if ended.tzinfo else ended.replace(tzinfo=UTC)
    return {
        "environment": record.environment,
        "version": record.version,
        "date": ended.astimezone(UTC).strftime("%Y-%m-%d"),
        "commit": sha[:SHORT_COMMIT],
    }


def next_tag_name(pattern: str, values: Mapping[str, str], taken: Collection[str]) -> str | None:
    """The tag's name: with {n}, one more than the highest number the same name has among
    ``taken`` (1 when none); without, the name itself unless it is taken (then None)."""
    fields = tag_fields(pattern)
    if "n" not in fields:
        name = pattern.format(**values)
        return None if name in taken else name
    numbered = _numbered(pattern, values)
    used = [int(m.group("n")) for t in taken if (m := numbered.fullmatch(t))]
    return pattern.format(**values, n=max(used, default=0) + 1)


def _numbered(pattern: str, values: Mapping[str, str]) -> re.Pattern[str]:
    import string

    parts = []
    seen_n = False
    for literal, field, _spec, _conversion in string.Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if field == "n":
            parts.append("(?P=n)" if seen_n else r"(?P<n>[0-9]{1,9})")
            seen_n = True
        elif field is not None:
            parts.append(re.escape(values[field]))
    return re.compile("".join(parts))


def tag_message(record: DeploymentRecord, sha: str, gates: Sequence[GateResult]) -> str:
    """The annotated tag's message: what was deployed, where, by whom, and the gates' verdicts."""
    ended = record.completed_at
    lines = [
        f"Deployed {record.version} to {record.environment}",
        "",
        f"deployment: {record.id}",
        f"version: {record.version}",
        f"environment: {record.environment}",
        f"commit: {sha}",
        f"triggered by: {record.triggered_by}",
    ]
    if ended is not None:
        moment = ended if ended.tzinfo else ended.replace(tzinfo=UTC)
        lines.append(f"succeeded at: {moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    verdicts = [g for g in gates if g.gate not in STEP_ORDER]
    lines += ["", "gates:" if verdicts else "gates: none configured"]
    for gate in verdicts:
        reason = " ".join((gate.reason or "").split())
        lines.append(
            f"  {gate.gate}: {gate.outcome or 'unfinished'}" + (f" ({reason})" if reason else "")
        )
    return redact("\n".join(lines)) + "\n"


def _has_user(repo: Path) -> bool:
    try:
        return bool(_git(repo, ["config", "user.email"]))
    except GitError:  # not set: git config exits 1
        return False


def _git(
    repo: Path,
    args: list[str],
    *,
    remote: bool = False,
    input_: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """git's output, stripped; GitError (one line, redacted: a remote's URL may hold a
    token) when it fails."""
    try:
        out = git_bytes(
            repo,
            args,
            input_=input_.encode("utf-8") if input_ is not None else None,
            timeout=REMOTE_TIMEOUT if remote else LOCAL_TIMEOUT,
            env={**NO_PROMPT, **_ssh_env(), **(env or {})},
        )
    except GitError as exc:
        raise GitError(redact(str(exc))) from None
    return out.decode("utf-8", "replace").strip()


def _ssh_env() -> dict[str, str]:
    import os

    return {} if "GIT_SSH_COMMAND" in os.environ else dict(NO_SSH_PROMPT)


def step(settings: PostDeploySettings) -> TagStep | None:
    if not settings.tag:
        return None
    return TagStep(settings.tag, settings.remote, settings.push, settings.signing_key)
