"""The env check as a deploy gate, and the secret-leak test: known secret values in the target's
variables, a deploy that fails (at the gate, or later), and every output the run produced
searched for them."""

from __future__ import annotations

import dataclasses
import io
import json
import secrets
import sqlite3
import subprocess
from collections.abc import Callable

from safeship.config import load_config
from safeship.envschema.gate import env_gate
from safeship.pipeline import operations
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]

DB_PASSWORD = "pw" + secrets.token_hex(6)
PASSPHRASE = f"correct horse battery staple {secrets.token_hex(3)}"
SECRETS = {
    "NEXTAUTH_SECRET": "nextauth-" + secrets.token_hex(16),
    "DATABASE_URL": f"postgresql://app:{DB_PASSWORD}@db.internal:5432/app",
    "OPENAI_API_KEY": "sk-" + secrets.token_hex(12),
    "SESSION_PASSPHRASE": PASSPHRASE,
}
# What must never appear: each whole value, and the parts that identify it on their own.
NEEDLES = [*SECRETS.values(), DB_PASSWORD, SECRETS["NEXTAUTH_SECRET"][9:]]

PASSING_SCHEMA = """\
[local]
NEXTAUTH_SECRET = { type = "string", min_length = 32, secret = true }
DATABASE_URL = { type = "string", startswith = "postgresql://", secret = true }
OPENAI_API_KEY = { type = "string", startswith = "sk-", secret = true }
SESSION_PASSPHRASE = { type = "string", secret = true }
DEMO_BEHAVIOUR_V1 = { type = "string", optional = true }
"""
FAILING_SCHEMA = """\
[local]
NEXTAUTH_SECRET = { type = "string", min_length = 64, secret = true }
DATABASE_URL = { type = "string", startswith = "postgres://", secret = true }
OPENAI_API_KEY = { type = "string", startswith = "sk-live-", secret = true }
SESSION_PASSPHRASE = { type = "enum", values = ["a", "b"], secret = true }
API_TOKEN = { type = "string", secret = true }
"""


def set_target(
    ws: Workspace, env: dict[str, str], schema: str, command: list[str] | None = None
) -> None:
    """Give the workspace's target ``env`` (and ``command``), and an env.schema.toml."""
    lines = []
    for line in (ws.root / "safeship.toml").read_text().splitlines():
        if line.startswith("env = "):
            line = "env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }"
        elif line.startswith("command = ") and command is not None:
            line = f"command = {json.dumps(command)}"
        lines.append(line)
    (ws.root / "safeship.toml").write_text("\n".join(lines) + "\n")
    (ws.root / "env.schema.toml").write_text(schema)
    ws.loaded = load_config(ws.root / "safeship.toml")


def deploy(ws: Workspace) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ws.cli(), "deploy", ENV, "--version", "v1", "--commit", "abc123"],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def everything_written(
    ws: Workspace, result: subprocess.CompletedProcess[str], *, release_logs: bool
) -> dict[str, str]:
    """Every output of the run, by where it was found."""
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    state = ws.root / ".safeship"
    texts["events.jsonl"] = (state / "events.jsonl").read_text()
    with Registry(ws.loaded.registry_url()) as registry:
        for record in registry.history(ENV):
            texts[f"deployment {record.id}"] = repr(dataclasses.asdict(record))
            for event in registry.events(record.id):
                texts[f"event {event.id}"] = repr(dataclasses.asdict(event))
        for event in registry.events(None):
            texts[f"event {event.id}"] = repr(dataclasses.asdict(event))
    with sqlite3.connect(state / "registry.db") as db:
        texts["registry.db"] = "\n".join(db.iterdump())
    if release_logs:
        for log in (state / "run" / ENV).glob("*.log"):
            texts[log.name] = log.read_text(errors="replace")
    return texts


def assert_no_secret(texts: dict[str, str]) -> None:
    leaks = [(where, n) for where, text in texts.items() for n in NEEDLES if n in text]
    assert leaks == []


def event_names(texts: dict[str, str]) -> list[tuple[str, str | None]]:
    events = [json.loads(line) for line in texts["events.jsonl"].splitlines()]
    return [(e["event"], e.get("attributes", {}).get("stage")) for e in events]


def test_an_invalid_environment_fails_before_any_release_starts_and_leaks_nothing(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory()
    set_target(ws, SECRETS, FAILING_SCHEMA)
    result = deploy(ws)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "v1 failed: environment check failed (5 problems): NEXTAUTH_SECRET: must be at " in (
        result.stdout
    )
    texts = everything_written(ws, result, release_logs=True)
    assert_no_secret(texts)

    assert event_names(texts) == [
        ("deployment.started", None),
        ("stage.started", "env"),
        ("stage.failed", "env"),
        ("deployment.failed", None),
    ]
    failed = [json.loads(x) for x in texts["events.jsonl"].splitlines()][2]["attributes"]
    assert [p.split(":")[0] for p in failed["problems"]] == [
        "NEXTAUTH_SECRET",
        "DATABASE_URL",
        "OPENAI_API_KEY",
        "SESSION_PASSPHRASE",
        "API_TOKEN",
    ]
    with Registry(ws.loaded.registry_url()) as registry:
        [record] = registry.history(ENV)
    assert record.status == "failed"
    assert record.rollback_reason is not None
    assert "DATABASE_URL: must start with 'postgres://'" in record.rollback_reason
    assert "API_TOKEN: is required but not set" in record.rollback_reason
    # No release was started: no process, no log.
    assert ws.environment().target.releases() == []
    assert not list((ws.root / ".safeship" / "run" / ENV).glob("v1.*"))


def test_a_deploy_that_crashes_later_leaks_nothing(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory()
    set_target(ws, SECRETS | {"DEMO_BEHAVIOUR_V1": "crash_on_start"}, PASSING_SCHEMA)
    result = deploy(ws)
    assert result.returncode == 1, result.stderr
    assert "v1 failed: release v1 exited with code 1 before listening" in result.stdout
    texts = everything_written(ws, result, release_logs=True)
    assert_no_secret(texts)
    assert event_names(texts)[:6] == [
        ("deployment.started", None),
        ("stage.started", "env"),
        ("stage.passed", "env"),
        ("stage.started", "approval"),  # the approval gate: skipped (none required)
        ("stage.passed", "approval"),
        ("stage.started", "deploy"),
    ]
    assert "v1.log" in texts  # the release did start and write its log


def test_a_release_that_prints_its_secrets_has_them_masked_in_safeship_outputs(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory()
    blurt = (
        "import os, sys; "
        "print('boom', *(os.environ[k] for k in "
        "('NEXTAUTH_SECRET', 'SESSION_PASSPHRASE', 'DATABASE_URL', 'OPENAI_API_KEY'))); "
        "sys.exit(3)"
    )
    set_target(ws, SECRETS, PASSING_SCHEMA, command=["python", "-c", blurt])
    result = deploy(ws)
    assert result.returncode == 1, result.stderr
    assert "v1 failed: release v1 exited with code 3 before listening: boom ****" in result.stdout
    # The release's own log is the application's output, not safeship's: it has the secrets,
    # which proves they reached the failure reason that safeship then masked everywhere.
    log = (ws.root / ".safeship" / "run" / ENV / "v1.log").read_text()
    assert SECRETS["NEXTAUTH_SECRET"] in log
    assert_no_secret(everything_written(ws, result, release_logs=False))


def test_a_valid_environment_passes_the_gate_in_process(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory()
    set_target(ws, SECRETS, PASSING_SCHEMA)
    log = io.StringIO()
    outcome = operations.deploy(ws.loaded, ENV, "v1", event_log=log)
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    stages = [
        (e["event"], e["attributes"].get("stage"))
        for e in map(json.loads, log.getvalue().splitlines())
        if e["event"].startswith("stage.")
    ]
    assert stages[:5] == [
        ("stage.started", "env"),
        ("stage.passed", "env"),
        ("stage.started", "approval"),  # the approval gate: skipped (none required)
        ("stage.passed", "approval"),
        ("stage.started", "deploy"),
    ]
    assert not any(n in log.getvalue() for n in NEEDLES)


def test_a_broken_schema_fails_the_deploy_with_its_errors(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory()
    set_target(ws, SECRETS, '[base]\nX = { type = "nope" }\n')
    outcome = operations.deploy(ws.loaded, ENV, "v1", event_log=io.StringIO())
    assert outcome.status is Status.FAILED
    assert outcome.reason == (
        "environment check failed (1 problem): env.schema.toml:2: base.X.type: unknown type "
        "'nope' (one of string, url, int, float, bool, enum, literal, port, email, duration, "
        "json)"
    )
    assert ws.environment().target.releases() == []


def test_without_a_schema_file_there_is_no_gate(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory()
    target = ws.environment().target
    assert env_gate(ws.root / "env.schema.toml", ENV, target) is None
    (ws.root / "env.schema.toml").write_text(PASSING_SCHEMA)
    gate = env_gate(ws.root / "env.schema.toml", ENV, target)
    assert gate is not None
    assert gate() == [
        "NEXTAUTH_SECRET: is required but not set",
        "DATABASE_URL: is required but not set",
        "OPENAI_API_KEY: is required but not set",
        "SESSION_PASSPHRASE: is required but not set",
    ]
    # A schema that does not describe the environment being deployed fails the gate.
    (ws.root / "env.schema.toml").write_text('[production]\nA = { type = "string" }\n')
    assert gate() == [
        "env.schema.toml: local: no [local] table in the schema (defined: production)"
    ]
