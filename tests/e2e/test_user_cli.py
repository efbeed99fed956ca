"""`safeship user` and `safeship audit` as a user runs them: whole processes, the password on
stdin (never an argument), the token printed once, and no secret anywhere after.

One test, five processes (~0.5 s of CPU each: Python, the config, the first one's migration):
the rules themselves are tested in process (tests/integration/test_dashboard_security.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testing.cli import one_line_error, safeship
from testing.fixtures import make_workspace

PASSWORD = "correct horse battery staple"


def run_with_stdin(cwd: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safeship", *args],
        cwd=cwd,
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_user_add_token_and_audit_from_the_command_line(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    added = run_with_stdin(tmp_path, PASSWORD + "\n", "user", "add", "alice", "--role",
                           "deployer", "--password-stdin")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout == "user alice added (deployer)\n"
    again = run_with_stdin(tmp_path, "short\n", "user", "add", "bob", "--role", "viewer",
                           "--password-stdin")  # fmt: skip
    assert one_line_error(again, 2) == "the password is too short: at least 12 characters"
    made = safeship(tmp_path, "user", "token", "alice", "--label", "ci", "--expires", "90d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("ssk_") and len(token) == 47
    assert "shown only now" in made.stderr
    listed = safeship(tmp_path, "user", "tokens", "alice", "--json")
    (record,) = json.loads(listed.stdout)
    assert (record["label"], record["state"]) == ("ci", "active")
    audit = safeship(tmp_path, "audit", "--json")
    entries = json.loads(audit.stdout)
    assert [(e["action"], e["target"]) for e in entries] == [
        ("token.create", "alice"),
        ("user.add", "alice"),
    ]
    assert all(e["actor"].startswith("cli") for e in entries)
    everything = added.stdout + made.stderr + listed.stdout + audit.stdout + again.stderr
    for secret in (PASSWORD, "$argon2", token[len(record["prefix"]) :]):
        assert secret not in everything
