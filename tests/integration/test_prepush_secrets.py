"""Secret scan of the push range: added lines block, unchanged/allow-listed/removed do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prepush_repos import (
    ANTHROPIC_KEY,
    AWS_KEY,
    GITHUB_TOKEN,
    PASSWORD,
    PRIVATE_KEY_HEADER,
    STRIPE_KEY,
    commit_all,
    git,
    make_pushed_repo,
    safeship,
    write,
)

PLANTED = {
    "aws.py": (f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n', AWS_KEY, "AWS Access Key"),
    "gh.yaml": (f"token: {GITHUB_TOKEN}\n", GITHUB_TOKEN, "GitHub Token"),
    "pay.js": (f'const stripe = "{STRIPE_KEY}";\n', STRIPE_KEY, "Stripe Access Key"),
    "ai.py": (f'CLIENT_KEY = "{ANTHROPIC_KEY}"\n', ANTHROPIC_KEY, "Prefixed API Key"),
    "id_rsa.txt": (f"{PRIVATE_KEY_HEADER}\nMIIEowIBAAKCAQEA\n", "MIIEowIBAAKCAQEA", "Private Key"),
    "settings.py": (f'db_password = "{PASSWORD}"\n', PASSWORD, "Secret Keyword"),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_secret_in_an_added_line_blocks_and_is_masked(tmp_path: Path, name: str) -> None:
    repo = make_pushed_repo(tmp_path)
    text, value, rule = PLANTED[name]
    write(repo, name, "# a harmless first line\n" + text)
    commit_all(repo)
    done = safeship(repo, "prepush")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{name}:2: {rule}" in done.stdout
    assert value not in done.stdout + done.stderr
    assert "****" in done.stdout


def test_several_secrets_in_one_push_are_each_listed(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "a.py", f'X = "{AWS_KEY}"\nY = "{GITHUB_TOKEN}"\n')
    commit_all(repo)
    done = safeship(repo, "prepush", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["passed"] is False
    (secrets,) = [c for c in report["checks"] if c["check"] == "secrets"]
    found = {tuple(line.split(": ")[:2]) for line in secrets["lines"]}
    assert {("a.py:1", "AWS Access Key"), ("a.py:2", "GitHub Token")} <= found
    assert AWS_KEY not in done.stdout and GITHUB_TOKEN not in done.stdout


def test_the_same_secret_in_an_unchanged_line_does_not_block(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path, {"config.py": f'KEY = "{AWS_KEY}"\n'})
    write(repo, "config.py", f'KEY = "{AWS_KEY}"\nDEBUG = False\n')  # a line added below it
    commit_all(repo)
    done = safeship(repo, "prepush")
    assert done.returncode == 0, done.stdout
    assert "1 file(s) with added lines: no secret" in done.stdout


def test_an_allowlisted_secret_does_not_block(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "fixture.py", f'KEY = "{AWS_KEY}"  # pragma: allowlist secret\n')
    commit_all(repo)
    assert safeship(repo, "prepush").returncode == 0


def test_a_secret_in_the_baseline_does_not_block_and_a_new_one_does(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "known.py", f'KEY = "{AWS_KEY}"\n')
    baseline = safeship_scan(repo)
    write(repo, ".secrets.baseline", baseline)
    commit_all(repo)
    assert safeship(repo, "prepush").returncode == 0
    write(repo, "new.py", f'TOKEN = "{GITHUB_TOKEN}"\n')
    commit_all(repo)
    done = safeship(repo, "prepush")
    assert done.returncode == 1 and "new.py:1: GitHub Token" in done.stdout
    assert "known.py" not in done.stdout


def safeship_scan(repo: Path) -> str:
    """A real baseline, written by detect-secrets' own CLI."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "known.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "known.py" in done.stdout
    return done.stdout


def test_a_removed_secret_does_not_block(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path, {"leak.py": f'KEY = "{AWS_KEY}"\nOK = 1\n'})
    write(repo, "leak.py", "OK = 1\n")
    commit_all(repo)
    assert safeship(repo, "prepush").returncode == 0


def test_only_commits_not_on_the_upstream_count(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    commit_all(repo)
    assert safeship(repo, "prepush").returncode == 1
    git(repo, "push", "-q")  # pushed (e.g. before the hook): no longer in the range
    write(repo, "b.py", "x = 1\n")
    commit_all(repo)
    assert safeship(repo, "prepush").returncode == 0


def test_a_new_branch_is_compared_with_the_default_branch(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path, {"old.py": f'KEY = "{AWS_KEY}"\n'})
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "new.py", f'T = "{GITHUB_TOKEN}"\n')
    commit_all(repo)
    done = safeship(repo, "prepush")
    assert done.returncode == 1
    assert "branch feature has no upstream" in done.stdout
    assert "new.py:1" in done.stdout and "old.py" not in done.stdout


def test_staged_scope_scans_the_index_not_the_working_tree(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    git(repo, "add", "a.py")
    write(repo, "a.py", "KEY = None\n")  # the working tree differs from what is committed
    done = safeship(repo, "prepush", "--staged")
    assert done.returncode == 1 and "a.py:1: AWS Access Key" in done.stdout


def test_no_safeship_toml_still_runs_only_the_secret_scan(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "a.py", "x = 1\n")
    commit_all(repo)
    report = json.loads(safeship(repo, "prepush", "--json").stdout)
    assert [c["check"] for c in report["checks"]] == ["secrets"]
