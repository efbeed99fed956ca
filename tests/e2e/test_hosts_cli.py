"""`safeship hosts check|setup|trust ENV` on real sshd hosts: exit codes, one line per host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testing.fleet_hosts import FakeHosts
from testing.fleet_rig import ENV, make_fleet_workspace


def safeship(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safeship", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_hosts_check_setup_and_trust(fleet_hosts: FakeHosts, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"  # empty: no host trusted yet
    ws = make_fleet_workspace(
        tmp_path / "ws",
        fleet_hosts,
        ("v1",),
        setup=False,
        known_hosts=str(known),
        remote_dir=str(tmp_path / "remote" / "{host}"),
    )
    unknown = safeship(ws.root, "hosts", "check", ENV)
    assert unknown.returncode == 1, unknown.stderr
    lines = unknown.stdout.splitlines()
    assert len(lines) == 3 and all("host key unknown" in line for line in lines), lines

    trusted = safeship(ws.root, "hosts", "trust", ENV)
    assert trusted.returncode == 0, trusted.stderr
    assert [line.split(":")[0] for line in trusted.stdout.splitlines()] == ["h1", "h2", "h3"]
    assert all("SHA256:" in line and "(added)" in line for line in trusted.stdout.splitlines())

    before = safeship(ws.root, "hosts", "check", ENV)
    assert before.returncode == 1 and "NOT SET UP" in before.stdout, before.stdout

    setup = safeship(ws.root, "hosts", "setup", ENV)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    checked = safeship(ws.root, "hosts", "check", ENV, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    hosts = json.loads(checked.stdout)
    assert [(h["host"], h["reachable"], h["ready"]) for h in hosts] == [
        ("h1", True, True),
        ("h2", True, True),
        ("h3", True, True),
    ]

    local = safeship(ws.root, "hosts", "check", "nowhere")
    assert local.returncode == 2 and "nowhere" in local.stderr and "Traceback" not in local.stderr
