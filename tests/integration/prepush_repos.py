"""Real temporary git repositories with a bare remote, for the pre-push gate's tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TIMEOUT = 30.0
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
SAFESHIP = [sys.executable, "-m", "safeship"]

# Planted secrets, one per kind; built from pieces so this file holds none whole.
AWS_KEY = "AKIA" + "QYLPMN5HHHFPZAM2"
GITHUB_TOKEN = "ghp_" + "x7Rk2LmQ9vTz4NbW8cYd3FhJ6pSa1GeUo5Ki"
STRIPE_KEY = "sk_live_" + "51H8xQ2LmN4pR7sT9vW1yZ3bC5dF"
ANTHROPIC_KEY = "sk-ant-api03-" + "Zq8Lm2Nx4Rt6Vb9Kc1Hd3Fg5Jp7Ws0Ye" * 3
PRIVATE_KEY_HEADER = "-----BEGIN RSA " + "PRIVATE KEY-----"
PASSWORD = "Tr0ub4dor&3horse" + "Battery"


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=TIMEOUT,
        check=check,
    )  # fmt: skip


def safeship(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAFESHIP, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=TIMEOUT,
        input=stdin,
    )  # fmt: skip


def commit_all(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def write(repo: Path, name: str, text: str) -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_pushed_repo(tmp: Path, files: dict[str, str] | None = None) -> Path:
    """A clone of a bare remote with one pushed commit on main (upstream set)."""
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    repo = tmp / "work"
    git(tmp, "clone", "-q", str(remote), str(repo))
    git(repo, "checkout", "-q", "-b", "main")
    for name, text in (files or {"README.md": "hello\n"}).items():
        write(repo, name, text)
    commit_all(repo, "initial")
    git(repo, "push", "-q", "-u", "origin", "main")
    git(repo, "remote", "set-head", "origin", "main")
    return repo
