"""After a real deploy (the demo service, through the core as `safeship deploy` calls it): the
release is tagged, its artifacts and report are archived with their checksums, and the
stakeholders hear of it on the channel an ``[alerts]`` route sends ``deployment.released`` to;
each step is a row of the deployment's gates, and the stored report shows them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from safeship import core
from safeship.config import load_config
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]

POST_DEPLOY = """
[environments.local.post_deploy]
tag = "deploy/{{environment}}/{{date}}.{{n}}"
artifacts = ["dist/*.whl"]
notify = true

[alerts]
group_wait = 0.0
close_timeout = 2.0

[[alerts.routes]]
conditions = ["deployment.released"]
channels = ["console"]

[notify.console]
file = "{alerts}"
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def test_a_deploy_is_tagged_and_announced_to_the_stakeholders_channel(
    workspace_factory: Callable[..., Workspace], tmp_path: Path
) -> None:
    alerts = tmp_path / "alerts.jsonl"
    ws = workspace_factory(
        strategy="all-at-once", bake_time=0.2, tables=POST_DEPLOY.format(alerts=alerts)
    )
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "-q", str(remote)], check=True, timeout=30)
    git(ws.root, "init", "-q")
    git(ws.root, "add", "safeship.toml")
    git(ws.root, "commit", "-q", "-m", "the release")
    git(ws.root, "remote", "add", "origin", str(remote))
    sha = git(ws.root, "rev-parse", "HEAD")
    (ws.root / "dist").mkdir()
    wheel = b"a wheel"
    (ws.root / "dist" / "app-1.0-py3-none-any.whl").write_bytes(wheel)
    loaded = load_config(ws.root / "safeship.toml")

    result = core.deploy(loaded, core.DeployRequest(ENV, "v1", commit=sha, triggered_by="alice"))

    assert result.ok and result.deployment_id is not None, result.reason
    tag = f"deploy/local/{datetime.now(UTC):%Y-%m-%d}.1"
    with Registry(loaded.registry_url()) as registry:
        rows = registry.gate_results(result.deployment_id)
        record = registry.get(result.deployment_id)
        stored_files = registry.stored_files()
    assert [(r.gate, r.outcome) for r in rows] == [
        ("tag", "passed"), ("artifacts", "passed"), ("notify", "passed"),
    ]  # fmt: skip
    assert record is not None and record.status == "succeeded"
    assert git(remote, "rev-parse", f"{tag}^{{commit}}") == sha
    # The report as stored at the deployment's end, archived beside the wheel.
    [report] = [f for f in stored_files if f.kind == "report"]
    stored = core.stored_report(loaded, result.deployment_id, "md")
    assert stored is not None
    report_name = stored.name
    assert report.name == report_name and report.deployment_id == result.deployment_id
    # The console channel got the news (and only it: the route takes that condition alone).
    deadline = time.monotonic() + 5
    while not alerts.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = alerts.read_text().splitlines()
    [alert] = json.loads(line)["alerts"]
    assert (alert["condition"], alert["severity"], alert["environment"]) == (
        "deployment.released", "info", ENV,
    )  # fmt: skip
    assert alert["summary"] == f"{ENV}: v1: released as {tag}"
    assert alert["details"]["tag"] == tag
    assert alert["details"]["artifacts"] == "app-1.0-py3-none-any.whl, " + report_name
    assert alert["details"]["report"] == report.url
    # The report (stored again after the steps) lists what was archived, with checksums.
    document = json.loads(core.deployment_report(loaded, result.deployment_id, "json"))
    listed = {a["source"]: a for a in document["artifacts"]}
    assert listed["dist/app-1.0-py3-none-any.whl"]["sha256"] == hashlib.sha256(wheel).hexdigest()
    # The archived report is the one stored at the deployment's end (before these steps).
    archived = Path(report.url).read_bytes()
    assert hashlib.sha256(archived).hexdigest() == report.sha256 == listed["report.md"]["sha256"]
    assert archived.decode().startswith("# Deployment") and "released as" not in archived.decode()
    # The registry's report, stored again, has the release in its timeline.
    assert f"released as {tag}" in stored.text
