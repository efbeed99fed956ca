"""The gate over real repositories: git edge cases, the cache, hooks, the configured checks."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from prepush_repos import (
    AWS_KEY,
    ENV,
    GITHUB_TOKEN,
    commit_all,
    git,
    make_pushed_repo,
    safeship,
    write,
)

from safeship.hooks.gate import gate_record_for, run_gate


def test_detached_head_compares_with_the_default_branch(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    commit_all(repo)
    git(repo, "checkout", "-q", "--detach")
    done = safeship(repo, "prepush")
    assert done.returncode == 1 and "detached HEAD" in done.stdout and "a.py:1" in done.stdout


def test_no_upstream_and_no_remote_scans_every_file(tmp_path: Path) -> None:
    repo = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    commit_all(repo)
    done = safeship(repo, "prepush")
    assert done.returncode == 1
    assert "every file at HEAD is new" in done.stdout and "a.py:1" in done.stdout


def test_a_repository_with_no_commits_scans_the_staged_files(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    assert safeship(repo, "prepush").returncode == 0  # nothing staged, nothing to push
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    git(repo, "add", "a.py")
    done = safeship(repo, "prepush")
    assert done.returncode == 1 and "no commits yet" in done.stdout and "a.py:1" in done.stdout


def test_a_shallow_clone_without_the_merge_base_uses_the_upstream_tree(tmp_path: Path) -> None:
    origin = make_pushed_repo(tmp_path)
    for n in range(3):
        write(origin, f"f{n}.txt", f"{n}\n")
        commit_all(origin)
        git(origin, "push", "-q")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{tmp_path / 'remote.git'}", str(shallow))
    write(shallow, "b.py", f'KEY = "{AWS_KEY}"\n')
    commit_all(shallow)
    done = safeship(shallow, "prepush")
    assert done.returncode == 1 and "b.py:1" in done.stdout and "Traceback" not in done.stderr
    assert "f0.txt" not in done.stdout


def test_binary_files_and_odd_names(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + AWS_KEY.encode() + b"\x00\xff")
    write(repo, "dir with space/ünïcode näme.py", f'KEY = "{AWS_KEY}"\n')
    write(repo, 'quote"d.txt', "plain text\n")
    commit_all(repo)
    done = safeship(repo, "prepush")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dir with space/ünïcode näme.py:1: AWS Access Key" in done.stdout
    assert "logo.png" not in done.stdout and AWS_KEY not in done.stdout


def test_outside_a_repository_is_a_usage_error_in_one_line(tmp_path: Path) -> None:
    done = safeship(tmp_path, "prepush")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "not inside a git repository" in done.stderr


def test_an_unchanged_rerun_is_served_from_the_cache_and_recorded_per_commit(
    tmp_path: Path,
) -> None:
    repo = make_pushed_repo(tmp_path)
    write(repo, "a.py", "x = 1\n")
    commit_all(repo)
    first = run_gate(repo, "push", None)
    second = run_gate(repo, "push", None)
    assert not first.cached and second.cached and second.passed
    assert second.as_json()["checks"] == first.as_json()["checks"]
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert gate_record_for(head, repo)["gate"] == "passed"
    assert gate_record_for("0" * 40, repo)["gate"] == "not_run"
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')  # a new tree: not the cached answer
    commit_all(repo)
    third = run_gate(repo, "push", None)
    assert not third.cached and not third.passed
    assert gate_record_for(git(repo, "rev-parse", "HEAD").stdout.strip(), repo)["gate"] == "failed"
    assert git(repo, "status", "--porcelain").stdout == ""  # the cache is ignored by git


def _run_hook(repo: Path, hook: str) -> tuple[int, str]:
    import subprocess

    done = subprocess.run(
        [str(repo / ".git" / "hooks" / hook)],
        cwd=repo,
        env={**ENV, "PATH": os.path.dirname(sys.executable) + os.pathsep + ENV["PATH"]},
        capture_output=True,
        text=True,
        input="",
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_hooks_install_block_a_push_and_uninstall(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    done = safeship(repo, "hooks", "install")
    assert done.returncode == 0 and "pre-push: installed" in done.stdout
    hook = repo / ".git" / "hooks" / "pre-push"
    assert hook.stat().st_mode & stat.S_IXUSR
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    git(repo, "add", "a.py")
    committed = git(repo, "commit", "-q", "-m", "leak", check=False)
    assert committed.returncode != 0 and "a.py:1: AWS Access Key" in committed.stderr
    git(repo, "commit", "-q", "--no-verify", "-m", "leak")
    pushed = git(repo, "push", "-q", check=False)
    assert pushed.returncode != 0 and "a.py:1: AWS Access Key" in pushed.stderr + pushed.stdout
    assert git(repo, "push", "-q", "--no-verify", check=False).returncode == 0
    assert "pre-push: removed" in safeship(repo, "hooks", "uninstall").stdout
    assert not hook.exists()


def test_a_foreign_hook_is_kept_unless_forced_and_can_be_chained(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path)
    hook = repo / ".git" / "hooks" / "pre-commit"
    foreign = "#!/bin/sh\necho foreign-ran\nexit 0\n"
    hook.write_text(foreign)
    hook.chmod(0o755)
    refused = safeship(repo, "hooks", "install")
    assert refused.returncode == 2 and "--chain" in refused.stderr
    assert hook.read_text() == foreign
    chained = safeship(repo, "hooks", "install", "--chain")
    assert chained.returncode == 0 and "pre-commit: chained" in chained.stdout
    code, output = _run_hook(repo, "pre-commit")
    assert code == 0 and "foreign-ran" in output and "safeship prepush" in output
    assert "pre-commit: restored" in safeship(repo, "hooks", "uninstall").stdout
    assert hook.read_text() == foreign
    forced = safeship(repo, "hooks", "install", "--force")
    assert forced.returncode == 0 and "pre-commit: replaced" in forced.stdout


CONFIG = """
[project]
name = "shop"

[environments.staging]
port = 18080
[environments.staging.target]
command = ["python", "-m", "http.server", "{port}"]

[prepush.env]
environments = ["staging"]

[prepush.build]
command = ["python", "-c", "import sys; sys.exit(3)"]
inputs = ["src/**"]
"""


def test_configured_checks_env_build_and_impact(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path, {"safeship.toml": CONFIG, "src/app.py": "x = 1\n"})
    write(repo, "env.schema.toml", '[staging]\nAPI_URL = { type = "url" }\n')
    write(repo, ".env.example", "API_URL=\n")
    write(repo, "migrations/0001_init.sql", "create table t (id int);\n")
    commit_all(repo)
    report = json.loads(safeship(repo, "prepush", "--json").stdout)
    by_name = {c["check"]: c for c in report["checks"]}
    assert by_name["env"]["status"] == "failed"  # no .env.staging: API_URL missing
    assert any("API_URL" in line for line in by_name["env"]["lines"])
    assert by_name["build"]["status"] == "skipped"  # src/ unchanged
    impact = "\n".join(by_name["impact"]["lines"])
    assert "env variables added: API_URL" in impact and "migrations/0001_init.sql" in impact
    write(repo, ".env.staging", "API_URL=https://api.example.com\n")
    write(repo, "src/app.py", "x = 2\n")
    commit_all(repo)
    report = json.loads(safeship(repo, "prepush", "--json").stdout)
    by_name = {c["check"]: c for c in report["checks"]}
    assert by_name["env"]["status"] == "passed"
    assert by_name["build"]["status"] == "failed" and "exit 3" in by_name["build"]["lines"][0]


def test_a_config_error_names_the_file_line_and_key(tmp_path: Path) -> None:
    repo = make_pushed_repo(tmp_path, {"safeship.toml": CONFIG + "\n[prepush]\nsecretz = true\n"})
    done = safeship(repo, "prepush")
    assert done.returncode == 2
    assert "safeship.toml:18: prepush.secretz: unknown key" in done.stderr


AFFECTED_CONFIG = """
[environments.staging]
port = 18081
[environments.staging.target]
command = ["x"]

[prepush.affected]
enabled = true
command = ["python", "-c", "import sys; print('RAN', *sys.argv[1:]); sys.exit(1)", "{files}"]
"""
SPEC = """openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /items:
    get:
      responses:
        "200": {description: ok}
  /users:
    get:
      responses:
        "200": {description: ok}
"""


def test_affected_tests_from_the_import_graph_and_the_api_contract(tmp_path: Path) -> None:
    repo = make_pushed_repo(
        tmp_path,
        {
            "safeship.toml": AFFECTED_CONFIG,
            "openapi.yaml": SPEC,
            "src/pkg/__init__.py": "",
            "src/pkg/a.py": "X = 1\n",
            "src/pkg/b.py": "from pkg.a import X\n",
            "tests/test_b.py": "from pkg import b\n",
            "tests/test_other.py": "import json\n",
        },
    )
    write(repo, "src/pkg/a.py", "X = 2\n")
    write(repo, "openapi.yaml", SPEC.replace("  /users:\n    get:\n", "  /users:\n    post:\n"))
    commit_all(repo)
    report = json.loads(safeship(repo, "prepush", "--json").stdout)
    by_name = {c["check"]: c for c in report["checks"]}
    assert "RAN tests/test_b.py" in by_name["affected"]["lines"]
    assert by_name["openapi"]["lines"] == ["openapi.yaml: removed method GET /users"]
    write(repo, "conftest.py", "")  # something global: the full suite
    commit_all(repo)
    report = json.loads(safeship(repo, "prepush", "--json", "--only", "affected").stdout)
    assert report["checks"][0]["lines"][0] == "full suite"


def test_the_hook_checks_the_pushed_branch_not_head(tmp_path: Path) -> None:
    """`git push origin feature` from main: the hook is told the refs; feature's lines count."""
    repo = make_pushed_repo(tmp_path)
    assert safeship(repo, "hooks", "install").returncode == 0
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "config.py", f'TOKEN = "{GITHUB_TOKEN}"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "feature with a key")  # past pre-commit
    git(repo, "checkout", "-q", "main")  # HEAD's own push range is empty
    push = git(repo, "push", "origin", "feature", check=False)
    assert push.returncode != 0
    assert "config.py:1:" in push.stderr + push.stdout
    assert GITHUB_TOKEN not in push.stderr + push.stdout
    assert git(repo, "ls-remote", "origin", "feature").stdout == ""
    # A deletion pushes no content and passes.
    refs = f"(delete) {'0' * 40} refs/heads/gone {'1' * 40}\n"
    deleted = safeship(repo, "prepush", "--stdin-refs", stdin=refs)
    assert deleted.returncode == 0 and "nothing pushed but deletions" in deleted.stdout
