"""Issue 16's acceptance: a PostgreSQL password, a Redis password and a JWT signing key rotated
for staging and production, end to end, under steady load: no request fails, the old
credentials are refused at the end and the new ones work, the audit trail and the alerts are
there, and no secret value (old or new, of any of the three secrets in either environment) is
in any file safeship wrote, any event, alert, release log or CLI output.

Everything is real: the test app (testing/rotation_app.py: a pool of persistent psycopg
connections, a redis-py pool, JWTs checked with the key and its previous slot) as local-target
releases behind the builtin router, blue-green; a PostgreSQL server of its own that checks
passwords (the session's server trusts every login: no old password could be refused there),
one database and one group role with two login roles per environment; a Redis with one ACL user
per environment; the encrypted file store; the webhook channel's loopback receiver
(tests/contract/webhook_api.py) for the alerts.

Why it takes ~20 s: six blue-green deploys (three secrets x two environments, each new release
a Python process opening its pools, verified, the old one kept warm for a second), under
50 requests/s, then the grace period and the finish step. One test, because the secrets'
rotations share the environments and the load: rotating them in separate tests would repeat
the two first deploys and the servers for nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import redis

from safeship import core
from safeship.config import LoadedConfig
from safeship.demo.load import LoadGenerator
from safeship.envschema.fingerprint import load_key
from safeship.pipeline import operations
from safeship.registry import Registry
from testing.postgres import PostgresServer
from testing.redis import RedisServer
from testing.rotation_rig import (
    ENVIRONMENTS,
    SECRETS,
    RotationWorkspace,
    make_rotation_workspace,
    password_checking_postgres,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from webhook_api import WebhookServer  # tests/contract/webhook_api.py, the receiver

RATE = 25.0  # requests/s through each environment's router: 50/s in all
GRACE = 2.0
KEEP_WARM = 1.0
ACTOR = "alice"

ALERTS = """
[alerts]
production = ["production"]
close_timeout = 5.0

[[alerts.routes]]
channels = ["webhook"]

[notify.webhook]
url_env = "ROTATION_WEBHOOK_URL"
"""


@dataclass
class Rig:
    workspace: RotationWorkspace
    postgres: PostgresServer
    redis: RedisServer
    webhook: WebhookServer
    env: dict[str, str]  # a CLI command's environment (the admin URLs, the webhook's)

    @property
    def loaded(self) -> LoadedConfig:
        return self.workspace.loaded

    def cli(self, *args: str) -> str:
        """A safeship command in a subprocess; its whole output (checked for values later)."""
        result = subprocess.run(
            [sys.executable, "-m", "safeship", *args],
            cwd=self.loaded.base_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"safeship {' '.join(args)}: {output}"
        return output


@pytest.fixture
def rig(
    tmp_path: Path,
    redis_factory: Callable[..., RedisServer],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Rig]:
    redis_server = redis_factory()
    webhook = WebhookServer()
    webhook.start()
    try:
        with password_checking_postgres() as postgres:
            workspace = make_rotation_workspace(
                tmp_path,
                postgres,
                redis_server.port,
                grace=GRACE,
                keep_warm=KEEP_WARM,
                tables=ALERTS,
            )
            for name, value in {
                **workspace.admin_env,
                "ROTATION_WEBHOOK_URL": webhook.hook_url,
            }.items():
                monkeypatch.setenv(name, value)
            env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "SAFESHIP_TOKEN")}
            env["COLUMNS"] = "200"
            try:
                yield Rig(workspace, postgres, redis_server, webhook, env)
            finally:
                for environment in ENVIRONMENTS:
                    operations.down(workspace.loaded, environment)
    finally:
        webhook.stop()


def _token(rig: Rig, environment: str) -> str:
    """A session token the serving release signed (with the key before the rotation)."""
    answer = httpx.get(rig.workspace.router_url(environment) + "/token", timeout=5)
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token


def _needles(values: list[str]) -> set[str]:
    """Each value, and the password alone of a URL (a leak may print only that part)."""
    found: set[str] = set()
    for value in values:
        found.add(value)
        password = urlsplit(value).password if "://" in value else None
        if password:
            found.add(password)
    return found


def _leaks(root: Path, needles: set[str], skip: set[Path]) -> list[str]:
    """Files under ``root`` (but ``skip``) holding any of the needles: a list of where."""
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p not in skip):
        data = path.read_bytes()
        found += [f"{path.relative_to(root)}" for n in needles if n.encode() in data]
    return found


@pytest.mark.postgres
def test_three_secrets_rotate_in_two_environments_under_load_without_a_failed_request(
    rig: Rig,
) -> None:
    loaded = rig.loaded
    for environment in ENVIRONMENTS:
        outcome = operations.deploy(loaded, environment, "v1", commit="a" * 40, triggered_by="ci")
        assert outcome.ok, (environment, outcome.reason)
    # Sessions signed with the key before the rotation: every request of the load carries one,
    # so the new releases must accept the old key through JWT_SECRET_PREVIOUS.
    loads = {
        environment: LoadGenerator(
            f"{rig.workspace.router_url(environment)}/?token={_token(rig, environment)}",
            rate=RATE,
            max_seconds=90,
            max_requests=int(RATE * 90),
        ).start()
        for environment in ENVIRONMENTS
    }
    outputs: list[str] = []
    try:
        time.sleep(0.5)  # the load reaches v1 first
        for name in SECRETS:
            result = core.rotate_secret(
                loaded, name, environments=list(ENVIRONMENTS), triggered_by=ACTOR
            )
            assert result.status == "grace", (name, result)
        outputs.append(rig.cli("secrets", "status"))
        time.sleep(GRACE)  # the first rotation's grace began before the others'
        outputs.append(rig.cli("secrets", "finish"))  # every rotation whose grace is over
        time.sleep(0.5)  # requests keep coming after the old credentials are revoked
    finally:
        totals = {environment: load.stop() for environment, load in loads.items()}
    outputs.append(rig.cli("secrets", "history"))  # every rotation, with its steps

    # No request failed, in either environment, and the load saw the new releases.
    for environment, total in totals.items():
        assert sum(total.failed.values()) == 0, (environment, total.failed, total.ok)
        assert sum(total.ok.values()) > RATE * 5, (environment, total.ok)
        assert any("+rot." in release for release in total.ok), (environment, total.ok)

    new: dict[str, dict[str, str]] = {e: rig.workspace.variables(e) for e in ENVIRONMENTS}
    fingerprint = load_key(loaded.state_dir).fingerprint
    with Registry(loaded.registry_url()) as registry:
        rotations = {name: registry.rotations(name) for name in SECRETS}
        details = {name: registry.rotation(rows[0].id) for name, rows in rotations.items()}
    for environment in ENVIRONMENTS:
        old, now = rig.workspace.initial[environment], new[environment]
        # The platform variables hold new values; the previous slot is gone after the finish.
        for name in SECRETS:
            assert now[name] != old[name], (environment, name)
        assert now.get("JWT_SECRET_PREVIOUS") in (None, now["JWT_SECRET"]), environment

        # PostgreSQL: the old password refused by the server, the new URL logs in as the other
        # role of the pair.
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(old["DATABASE_URL"], connect_timeout=5).close()
        with psycopg.connect(now["DATABASE_URL"], connect_timeout=5) as conn:
            row = conn.execute("SELECT session_user").fetchone()
        assert row == (f"{environment}_green",)
        # Redis: the old password refused by Redis, the new one works.
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(old["REDIS_URL"]).ping()
        assert redis.Redis.from_url(now["REDIS_URL"]).ping()

        # The audit trail: one finished rotation of each secret, its steps in both
        # environments, by the actor, with the fingerprints of the old and the new value.
        for name in SECRETS:
            record = details[name]
            assert record is not None and len(rotations[name]) == 1
            assert record.status == "finished" and record.triggered_by == ACTOR, record
            steps = [s for s in record.steps if s.environment == environment]
            assert {"create", "deploy", "finish"} <= {s.step for s in steps}, steps
            assert all(s.status in ("done", "skipped") for s in steps), steps
            assert fingerprint(now[name]) in {s.fingerprint for s in steps}, (name, steps)
            assert fingerprint(old[name]) in {s.previous_fingerprint for s in steps}, steps
            deployed = [s for s in steps if s.step == "deploy"]
            assert deployed and deployed[0].deployment_id, steps

    # The events: each secret started, deployed and rotated (fingerprints, never values).
    events = [
        json.loads(line)
        for line in (loaded.state_dir / "events.jsonl").read_text().splitlines()
        if line.strip()
    ]
    for name in SECRETS:
        names = {e["event"] for e in events if (e.get("attributes") or {}).get("secret") == name}
        assert {"secret.rotation_started", "secret.rotation_deployed", "secret.rotated"} <= names
    # The alerts: the webhook channel heard of each rotation's start and end, by secret.
    # (A deployment's own alerts are CDEvents, whose data's subject is the service.)
    alerted = {
        (e["type"], (e.get("data") or {}).get("subject"))
        for batch in rig.webhook.deliveries
        for e in batch
        if e["type"].startswith("dev.safeship.alert.")
    }
    for name in SECRETS:
        for condition in ("secret.rotation_started", "secret.rotated"):
            assert (f"dev.safeship.alert.{condition}.firing", name) in alerted, alerted
    assert rig.webhook.rejected == []

    # No value anywhere: every file under the workspace (the registry's database and journal,
    # events.jsonl, the release logs, the reports, the encrypted store) but the platform's own
    # variables, the webhook's deliveries, and every CLI output.
    values = [
        held[name]
        for environment in ENVIRONMENTS
        for held in (rig.workspace.initial[environment], new[environment])
        for name in SECRETS
    ]
    needles = _needles(values)
    assert len(needles) == 12 + 8  # the 3x2x2 values, and the passwords of the 8 URLs
    variables = {loaded.run_dir(e) / ".variables" for e in ENVIRONMENTS}
    for path in variables:
        assert path.stat().st_mode & 0o077 == 0, path
    assert _leaks(loaded.base_dir, needles, variables) == []
    shown = "\n".join(outputs) + json.dumps(rig.webhook.deliveries)
    assert [n for n in needles if n in shown] == []
