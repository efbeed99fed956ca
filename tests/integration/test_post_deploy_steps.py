"""The steps after a deploy, each on a deployment recorded as succeeded (the steps read only
its record): the release tag with real git (an annotated tag on the shipped commit, pushed to
a bare remote in a temporary directory, numbered {n} by what the day already has here and on
the remote, never overwritten; a push that fails keeps the tag locally and is a warning; a
deployment without a commit is skipped; signed with a throwaway GPG key when one is configured
and gpg is installed), and the artifacts (copied to the store with their checksums, bounded,
never a hidden file nor one outside the project)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from safeship.postdeploy.run import StepOutcome, run_post_deploy
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace, make_workspace

TAG_TABLE = """
[environments.local.post_deploy]
tag = "deploy/{{environment}}/{{date}}.{{n}}"
{more}
"""
IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "-q", str(bare)], check=True, timeout=30)
    return bare


def tagged_workspace(tmp_path: Path, remote: Path, more: str = "") -> tuple[Workspace, str]:
    """A workspace that is a git repository with one commit (its sha), ``remote`` as origin."""
    root = tmp_path / "ws"
    root.mkdir()
    ws = make_workspace(root, tables=TAG_TABLE.format(more=more))
    git(root, "init", "-q")
    git(root, "add", "safeship.toml")
    git(root, "commit", "-q", "-m", "the release")
    git(root, "remote", "add", "origin", str(remote))
    return ws, git(root, "rev-parse", "HEAD")


def succeeded(ws: Workspace, version: str, commit: str | None, by: str = "alice") -> str:
    """A deployment recorded as ended succeeded (the tag step reads only its record)."""
    with Registry(ws.loaded.registry_url()) as registry:
        deployment_id = registry.create_deployment(ENV, version, commit, by)
        gate = registry.start_gate(deployment_id, "chain")
        registry.finish_gate(gate, "passed", "succeeded in staging (1a2b3c4d)")
        registry.update_deployment(deployment_id, status="succeeded", completed=True)
    return deployment_id


def post_deploy(ws: Workspace, deployment_id: str) -> tuple[list[StepOutcome], str]:
    errors = io.StringIO()
    outcomes = run_post_deploy(ws.loaded, ENV, deployment_id, errors=errors)
    return outcomes, errors.getvalue()


def remote_tags(remote: Path) -> list[str]:
    return sorted(git(remote, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags").split())


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def test_an_annotated_tag_is_pushed_and_the_next_deploy_that_day_takes_the_next_number(
    tmp_path: Path, remote: Path
) -> None:
    ws, sha = tagged_workspace(tmp_path, remote)
    first = succeeded(ws, "v1", sha)
    outcomes, errors = post_deploy(ws, first)

    name = f"deploy/local/{today()}.1"
    pushed = f"tagged {name} on {sha[:12]}, pushed to origin"
    assert outcomes == [StepOutcome("tag", "passed", pushed)]
    assert errors == ""
    assert remote_tags(remote) == [name]
    assert git(remote, "cat-file", "-t", name) == "tag"  # annotated, not a lightweight tag
    assert git(remote, "rev-parse", f"{name}^{{commit}}") == sha
    message = git(remote, "cat-file", "tag", name)
    assert f"deployment: {first}" in message
    assert "version: v1" in message and "triggered by: alice" in message
    assert "chain: passed (succeeded in staging (1a2b3c4d))" in message
    assert "BEGIN PGP SIGNATURE" not in message  # no signing_key: not signed
    with Registry(ws.loaded.registry_url()) as registry:
        [_, row] = registry.gate_results(first)
    assert (row.gate, row.outcome, row.figures["tag"], row.figures["pushed"]) == (
        "tag", "passed", name, True,
    )  # fmt: skip

    second = succeeded(ws, "v2", sha)
    post_deploy(ws, second)
    assert remote_tags(remote) == [name, f"deploy/local/{today()}.2"]


def test_a_tag_taken_here_or_on_the_remote_is_never_overwritten(
    tmp_path: Path, remote: Path
) -> None:
    ws, sha = tagged_workspace(tmp_path, remote)
    day = today()
    # .1 taken here (on another commit), .2 only on the remote (pushed, then deleted here).
    (ws.root / "other").write_text("x")
    git(ws.root, "add", "other")
    git(ws.root, "commit", "-q", "-m", "another")
    other = git(ws.root, "rev-parse", "HEAD")
    git(ws.root, "tag", f"deploy/local/{day}.1", other)
    git(ws.root, "tag", f"deploy/local/{day}.2", other)
    git(ws.root, "push", "-q", "origin", f"refs/tags/deploy/local/{day}.2")
    git(ws.root, "tag", "-d", f"deploy/local/{day}.2")

    outcomes, _ = post_deploy(ws, succeeded(ws, "v1", sha))

    assert outcomes[0].outcome == "passed"
    assert remote_tags(remote) == [f"deploy/local/{day}.2", f"deploy/local/{day}.3"]
    assert git(ws.root, "rev-parse", f"deploy/local/{day}.1^{{commit}}") == other  # untouched
    assert git(ws.root, "rev-parse", f"deploy/local/{day}.3^{{commit}}") == sha


def test_a_push_that_fails_is_a_warning_and_the_tag_is_kept_locally(
    tmp_path: Path, remote: Path
) -> None:
    ws, sha = tagged_workspace(tmp_path, remote, more='remote = "nowhere"')
    deployment_id = succeeded(ws, "v1", sha)

    [outcome], errors = post_deploy(ws, deployment_id)

    name = f"deploy/local/{today()}.1"
    assert outcome.outcome == "failed"
    assert outcome.reason.startswith(
        f"tagged {name} on {sha[:12]}, kept in the local repository but not pushed to nowhere: "
        "git push:"
    )
    assert errors == f"safeship: warning: after the deploy: tag: {outcome.reason}\n"
    assert git(ws.root, "cat-file", "-t", name) == "tag"
    assert remote_tags(remote) == []
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(deployment_id)
    assert record is not None and record.status == "succeeded"  # a step never changes it


@pytest.mark.parametrize(
    ("commit", "why"),
    [
        (None, "no commit was recorded with this deployment: nothing to tag"),
        # A branch's name says where it is now, not what was shipped.
        ("main", "the recorded commit 'main' is not a SHA: nothing certain to tag"),
    ],
)
def test_a_deployment_without_a_commit_sha_is_not_tagged_and_says_why(
    tmp_path: Path, remote: Path, commit: str | None, why: str
) -> None:
    ws, _ = tagged_workspace(tmp_path, remote)

    [outcome], errors = post_deploy(ws, succeeded(ws, "v1", commit))

    assert outcome == StepOutcome("tag", "skipped", why)
    assert errors == f"safeship: after the deploy: tag skipped: {why}\n"
    assert remote_tags(remote) == []


@pytest.fixture
def gpg_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A throwaway ed25519 key without passphrase in a GNUPGHOME of its own; its fingerprint.
    The home is a short path under the system's temporary directory: gpg-agent's socket lives
    in it, and a socket's path has at most 107 bytes (pytest's tmp_path can be longer)."""
    if shutil.which("gpg") is None or shutil.which("gpgconf") is None:
        pytest.skip("gpg is not installed")
    home = Path(tempfile.mkdtemp(prefix="gpg-"))  # 0700
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        subprocess.run(
            ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Test <test@example.com>",
             "ed25519", "sign", "never"],
            env=env, capture_output=True, check=True, timeout=20,
        )  # fmt: skip
        listed = subprocess.run(
            ["gpg", "--list-keys", "--with-colons"], env=env, capture_output=True, text=True,
            check=True, timeout=20,
        ).stdout  # fmt: skip
        monkeypatch.setenv("GNUPGHOME", str(home))
        yield next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, timeout=20)
        shutil.rmtree(home, ignore_errors=True)


def test_a_tag_is_signed_with_the_configured_key(
    tmp_path: Path, remote: Path, gpg_key: str
) -> None:
    ws, sha = tagged_workspace(tmp_path, remote, more=f'signing_key = "{gpg_key}"')

    [outcome], errors = post_deploy(ws, succeeded(ws, "v1", sha))

    name = f"deploy/local/{today()}.1"
    assert outcome == StepOutcome(
        "tag", "passed", f"tagged {name} on {sha[:12]} (signed), pushed to origin"
    ), errors
    assert "BEGIN PGP SIGNATURE" in git(remote, "cat-file", "tag", name)
    verified = subprocess.run(
        ["git", "tag", "-v", name], cwd=ws.root, capture_output=True, text=True, timeout=30
    )
    assert verified.returncode == 0, verified.stderr


ARTIFACTS_TABLE = """
[environments.local.post_deploy]
artifacts = ["dist/*.whl", "sbom.json", "build/**/*"]
max_files = {max_files}
"""


def artifacts_workspace(tmp_path: Path, max_files: int = 10) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "dist").mkdir()
    (root / "dist" / "app-1.0-py3-none-any.whl").write_bytes(b"wheel" * 100)
    (root / "build" / "html").mkdir(parents=True)
    (root / "build" / "html" / "index.html").write_text("<p>docs</p>")
    (root / "build" / ".env").write_text("SECRET=1")  # hidden: never swept in
    (root / "build" / "outside").symlink_to(tmp_path / "elsewhere.txt")
    (tmp_path / "elsewhere.txt").write_text("not the project's")
    return make_workspace(root, tables=ARTIFACTS_TABLE.format(max_files=max_files))


def test_artifacts_are_stored_with_their_checksums_and_linked_to_the_deployment(
    tmp_path: Path,
) -> None:
    ws = artifacts_workspace(tmp_path)
    deployment_id = succeeded(ws, "v1", None)

    [outcome], errors = post_deploy(ws, deployment_id)

    assert outcome == StepOutcome(
        "artifacts", "passed",
        "stored 2 files (511 bytes) (no stored report to add); sbom.json matched nothing",
    ), errors  # fmt: skip
    with Registry(ws.loaded.registry_url()) as registry:
        stored = registry.stored_files("artifact", ENV)
        [_, row] = registry.gate_results(deployment_id)
    assert sorted(f.name for f in stored) == ["app-1.0-py3-none-any.whl", "index.html"]
    for file in stored:
        assert file.deployment_id == deployment_id
        assert hashlib.sha256(Path(file.url).read_bytes()).hexdigest() == file.sha256
        assert Path(file.url).stat().st_mode & 0o077 == 0  # private
    assert [(f["source"], f["sha256"]) for f in row.figures["files"]] == [
        ("build/html/index.html", hashlib.sha256(b"<p>docs</p>").hexdigest()),
        ("dist/app-1.0-py3-none-any.whl", hashlib.sha256(b"wheel" * 100).hexdigest()),
    ]


def test_more_files_than_the_bound_store_none(tmp_path: Path) -> None:
    ws = artifacts_workspace(tmp_path, max_files=1)

    [outcome], errors = post_deploy(ws, succeeded(ws, "v1", None))

    assert outcome.outcome == "failed"
    assert outcome.reason.startswith("more than max_files = 1 files match ")
    assert outcome.reason.endswith(": none was stored")
    assert errors == f"safeship: warning: after the deploy: artifacts: {outcome.reason}\n"
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.stored_files() == []
