"""`safeship deploy ENV --version V --emergency` on the demo workspace: CI skipped, nothing else.

The env schema gate, health verification and rollback run as in every deploy; the deployment
records who triggered it and ``path = "local-emergency"``; a hotfix reminder is printed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from safeship.pipeline.lease import operator
from safeship.registry import Registry
from safeship.testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
SAFESHIP = [sys.executable, "-m", "safeship"]
REMINDER = "reminder: this emergency deploy skipped CI; open a hotfix pull request with "


def emergency(ws: Workspace, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAFESHIP, "deploy", ENV, "--version", version, "--emergency", *extra],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_emergency_deploy_keeps_verification_and_rollback(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(behaviours={"v2": "unhealthy_after=0.8"}, bake_time=2.0)

    first = emergency(ws, "v1", "--triggered-by", "alice", "--commit", "c0ffee1")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[-2] == "v1 succeeded (path local-emergency)"
    assert lines[-1] == REMINDER + "commit c0ffee1 so the main branch and CI have it"

    second = emergency(ws, "v2", "--triggered-by", "alice")
    assert second.returncode == 1
    assert "Traceback" not in second.stdout + second.stderr
    assert "v2 rolled_back" in second.stdout and "(path local-emergency)" in second.stdout
    assert second.stdout.strip().splitlines()[-1] == (
        REMINDER + "version v2 so the main branch and CI have it"
    )

    with Registry(ws.loaded.registry_url()) as registry:
        v2, v1 = registry.history(ENV)
    for record in (v1, v2):
        assert record.triggered_by == "alice"
        assert record.metadata["path"] == "local-emergency"
        assert record.metadata["triggered_by"] == "alice"
        assert record.metadata["operator"] == operator()
        assert record.metadata["checks"]  # health verification ran
    assert v1.status == "succeeded"
    assert v2.status == "rolled_back" and v2.rollback_reason
    # v1 serves again after the rollback.
    backends = {b.name: b.weight for b in ws.environment().router.backends()}
    assert backends == {"v1": 100}


def test_emergency_deploy_never_skips_env_validation(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory()
    (ws.root / "env.schema.toml").write_text('[local]\nAPI_TOKEN = { type = "string" }\n')

    result = emergency(ws, "v1")

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "v1 failed" in result.stdout and "API_TOKEN" in result.stdout
    with Registry(ws.loaded.registry_url()) as registry:
        [record] = registry.history(ENV)
    assert record.status == "failed" and record.metadata["path"] == "local-emergency"
    assert ws.environment().target.releases() == []  # no release was started
