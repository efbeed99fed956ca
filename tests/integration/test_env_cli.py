"""`safeship env ...` as a user runs it: real subprocesses in a temporary project, a real SQLite
registry for snapshots and audit."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "env.schema.toml"
SAFESHIP = [sys.executable, "-m", "safeship"]
SECRET = "nextauth-0123456789abcdef0123456789abcdef"
DB_PASSWORD = "pw-5b1e2c9d7f"
VALID_PRODUCTION = {
    "NEXT_PUBLIC_API_BASE_URL": "https://example.com",
    "NEXT_PUBLIC_API_TIMEOUT": "5000",
    "NEXT_PUBLIC_ENVIRONMENT": "production",
    "NEXTAUTH_SECRET": SECRET,
    "DATABASE_URL": f"postgresql://app:{DB_PASSWORD}@db/app",
    "OPENAI_API_KEY": "sk-0123456789abcdef",
    "NEXT_PUBLIC_GA_ID": "G-ABC123",
}


def safeship(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAFESHIP, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def dotenv(values: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "env.schema.toml").write_text(EXAMPLE.read_text())
    return tmp_path


def configure(project: Path, environments: dict[str, dict[str, str]]) -> None:
    """A safeship.toml whose local targets carry ``environments``' variables (nothing runs)."""
    lines = ['[project]\nname = "t"\n']
    for port, (name, variables) in enumerate(environments.items(), start=18100):
        table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in variables.items())
        lines.append(
            f"[environments.{name}]\nport = {port}\n"
            f"[environments.{name}.target]\n"
            f'command = ["python", "-m", "http.server", "{{port}}"]\n'
            f"env = {{ {table} }}\n"
        )
    (project / "safeship.toml").write_text("\n".join(lines))


# -- check ----------------------------------------------------------------------------------


def test_check_valid_reads_dotenv_by_default(project: Path) -> None:
    (project / ".env").write_text(dotenv(VALID_PRODUCTION))
    result = safeship(project, "env", "check", "production")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "production: valid (9 variables, 0 errors, 0 warnings)\n"


def test_check_invalid_reports_every_problem_and_exits_1(project: Path) -> None:
    values = dict(VALID_PRODUCTION)
    values |= {"NEXT_PUBLIC_API_TIMEOUT": "500", "DATABASE_URL": f"mysql://u:{DB_PASSWORD}@db"}
    del values["OPENAI_API_KEY"]
    (project / "prod.env").write_text(dotenv(values) + "EXTRA=1\n")
    result = safeship(project, "env", "check", "production", "--env-file", "prod.env")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: prod.env:2: NEXT_PUBLIC_API_TIMEOUT: must be at least 1000 (got '500') [too_small]",
        "error: prod.env:5: DATABASE_URL: must start with 'postgresql://' "
        "(the value is secret and not shown) [invalid_prefix]",
        "error: OPENAI_API_KEY: is required but not set [missing]",
        "warning: prod.env:7: EXTRA: is not in the schema of production [unknown_variable]",
        "production: invalid (9 variables, 3 errors, 1 warning)",
    ]
    assert DB_PASSWORD not in result.stdout + result.stderr


def test_check_json_shape(project: Path) -> None:
    (project / ".env").write_text(dotenv(VALID_PRODUCTION | {"NEXTAUTH_SECRET": "short"}))
    result = safeship(project, "env", "check", "production", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report == {
        "environment": "production",
        "valid": False,
        "errors": [
            {
                "variable": "NEXTAUTH_SECRET",
                "code": "too_small",
                "message": ".env:4: must be at least 32 characters long",
            }
        ],
        "warnings": [],
    }
    (project / ".env").write_text(dotenv(VALID_PRODUCTION))
    ok = safeship(project, "env", "check", "production", "--json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout) == {
        "environment": "production",
        "valid": True,
        "errors": [],
        "warnings": [],
    }


def test_check_from_the_process_environment(project: Path) -> None:
    result = safeship(project, "env", "check", "production", "--from-process", env=VALID_PRODUCTION)
    assert result.returncode == 0, result.stdout
    bad = VALID_PRODUCTION | {"NEXT_PUBLIC_ENABLE_AI_FEATURES": "maybe"}
    result = safeship(project, "env", "check", "production", "--from-process", env=bad)
    assert result.returncode == 1
    assert (
        "error: NEXT_PUBLIC_ENABLE_AI_FEATURES: must be one of true/false/1/0/yes/no "
        "(got 'maybe') [invalid_type]" in result.stdout
    )


def test_check_from_the_target_names_the_config_line(project: Path) -> None:
    configure(project, {"production": VALID_PRODUCTION | {"NEXT_PUBLIC_GA_ID": "UA-1"}})
    result = safeship(project, "env", "check", "production", "--from-target")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "error: safeship.toml:8: NEXT_PUBLIC_GA_ID: must match the pattern '^G-[A-Z0-9]+$' "
        "(got 'UA-1') [pattern_mismatch]"
    )


def test_malformed_dotenv_lines_are_one_line_each_never_a_traceback(project: Path) -> None:
    huge = "x" * (200 * 1024)  # over 128 KiB, under the 256 KiB line bound
    content = (
        dotenv(VALID_PRODUCTION).encode()
        + b"NEXT_PUBLIC_API_TIMEOUT=7000\n"  # duplicate, line 8
        + b"BROKEN='open quote\n"  # line 9
        + b"LATIN=caf\xe9\n"  # line 10
        + f"BIG={huge}\n".encode()  # line 11
        + b"BARE\n"  # line 12
    )
    (project / ".env").write_bytes(content)
    result = safeship(project, "env", "check", "production")
    no_traceback(result)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: .env:9: BROKEN: cannot parse this line (expected KEY=value; is a quote left "
        "open?) [dotenv_syntax]",
        "error: .env:10: LATIN: not valid UTF-8 (byte 0xe9 at column 10); the line is ignored "
        "[dotenv_encoding]",
        "error: .env:11: BIG: value is 200 KiB: a process cannot receive an environment entry "
        "over 128 KiB (Linux MAX_ARG_STRLEN); the value is ignored [value_too_large]",
        "warning: .env:8: NEXT_PUBLIC_API_TIMEOUT: is set again (first on line 2); the last "
        "value wins [dotenv_duplicate]",
        "warning: .env:12: BARE: has no '=' and is ignored (write NAME= for an empty value) "
        "[dotenv_no_value]",
        "production: invalid (9 variables, 3 errors, 2 warnings)",
    ]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            '[production]\nA = { type = "integer" }\n',
            "env.schema.toml:2: production.A.type: unknown type 'integer' (one of string, url, "
            "int, float, bool, enum, literal, port, email, duration, json)",
        ),
        (
            '[production]\nextends = "production"\n',
            "env.schema.toml:2: production.extends: extends forms a cycle: production → production",
        ),
        (
            '[production]\nA = { type = "string", pattern = "[" }\n',
            "env.schema.toml:2: production.A.pattern: bad regular expression (RE2 syntax: no "
            "lookarounds or backreferences): missing ]: [",
        ),
        (
            "[production\n",
            "env.schema.toml:1: syntax: Expected ']' at the end of a table declaration",
        ),
    ],
)
def test_schema_errors_exit_2_with_file_line_key(project: Path, schema: str, message: str) -> None:
    (project / "env.schema.toml").write_text(schema)
    (project / ".env").write_text("A=1\n")
    result = safeship(project, "env", "check", "production")
    no_traceback(result)
    assert result.returncode == 2
    assert result.stderr == f"safeship: error: {message}\n"
    assert result.stdout == ""


def test_hostile_inputs_are_one_line_and_exit_2(project: Path) -> None:
    # `--env-file /dev/zero` never ended; a catastrophic pattern took minutes.
    zero = safeship(project, "env", "check", "production", "--env-file", "/dev/zero")
    no_traceback(zero)
    assert (zero.returncode, zero.stderr) == (
        2,
        "safeship: error: /dev/zero: is a character device, not a file safeship reads\n",
    )
    (project / "env.schema.toml").write_text(
        '[production]\nA = { type = "string", pattern = "(a+)+b" }\n'
        'B = { type = "string", pattern = "(?!x)y" }\n'
    )
    (project / ".env").write_text("A=" + "a" * 40 + "\n")
    schema = safeship(project, "env", "check", "production")
    no_traceback(schema)
    assert (schema.returncode, schema.stderr) == (
        2,
        "safeship: error: env.schema.toml:3: production.B.pattern: bad regular expression "
        "(RE2 syntax: no lookarounds or backreferences): invalid perl operator: (?!\n",
    )
    (project / "env.schema.toml").write_text(
        '[production]\nA = { type = "string", pattern = "(a+)+b" }\n'
    )
    slow = safeship(project, "env", "check", "production")
    assert slow.returncode == 1 and "[pattern_mismatch]" in slow.stdout


def test_usage_errors_exit_2(project: Path) -> None:
    result = safeship(project, "env", "check", "production")
    assert result.returncode == 2
    assert result.stderr == (
        "safeship: error: no variables to check: no .env or .env.production here "
        "(use --env-file PATH, --from-process or --from-target)\n"
    )
    result = safeship(project, "env", "check", "production", "--env-file", "missing.env")
    assert (result.returncode, result.stderr) == (
        2,
        "safeship: error: missing.env: file not found\n",
    )
    (project / ".env").write_text("A=1\n")
    result = safeship(project, "env", "check", "prod")
    assert (result.returncode, result.stderr) == (
        2,
        "safeship: error: env.schema.toml: prod: no [prod] table in the schema "
        "(defined: base, staging, production)\n",
    )
    result = safeship(project, "env", "check", "production", "--schema", "nope.toml")
    assert (result.returncode, result.stderr) == (
        2,
        "safeship: error: nope.toml: schema file not found\n",
    )
    result = safeship(project, "env", "check", "production", "--from-target")
    assert result.returncode == 2
    assert result.stderr.startswith("safeship: error: safeship.toml not found in ")


def test_the_schema_path_comes_from_safeship_toml(project: Path) -> None:
    configure(project, {"production": VALID_PRODUCTION})
    config = (project / "safeship.toml").read_text()
    (project / "safeship.toml").write_text(
        config.replace('name = "t"', 'name = "t"\nenv_schema = "config/env.toml"')
    )
    (project / "config").mkdir()
    (project / "env.schema.toml").rename(project / "config" / "env.toml")
    result = safeship(project, "env", "check", "production", "--from-target")
    assert result.returncode == 0, result.stdout + result.stderr


# -- example and parity ---------------------------------------------------------------------


def test_example_then_parity(project: Path) -> None:
    assert safeship(project, "env", "parity").returncode == 1  # no .env.example yet
    result = safeship(project, "env", "example")
    assert result.returncode == 0
    assert result.stdout == "wrote .env.example (9 variables)\n"
    result = safeship(project, "env", "parity")
    assert (result.returncode, result.stdout) == (
        0,
        ".env.example: in parity with env.schema.toml\n",
    )
    example = project / ".env.example"
    example.write_text(example.read_text().replace("DATABASE_POOL_SIZE=", "DB_POOL_SIZE="))
    result = safeship(project, "env", "parity")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "error: .env.example:23: DB_POOL_SIZE: is not in the schema, which has DATABASE_POOL_SIZE "
        "instead: renamed? [renamed]"
    )
    stdout = safeship(project, "env", "example", "--output", "-", "-e", "staging").stdout
    assert "NEXT_PUBLIC_GA_ID" not in stdout and "DATABASE_POOL_SIZE=10" in stdout


# -- diff, snapshot, audit, drift -----------------------------------------------------------


STAGING = {
    "NEXT_PUBLIC_API_BASE_URL": "https://staging.example.com",
    "NEXT_PUBLIC_API_TIMEOUT": "5000",
    "NEXT_PUBLIC_ENVIRONMENT": "staging",
    "NEXTAUTH_SECRET": "staging-0123456789abcdef0123456789abcdef",
    "DATABASE_URL": "postgresql://app:staging-pw-1234@db/app",
}


def test_diff_of_two_live_environments(project: Path) -> None:
    configure(project, {"staging": STAGING, "production": VALID_PRODUCTION})
    result = safeship(project, "env", "diff", "staging", "production", "--json")
    assert result.returncode == 1
    found = {(d["variable"], d["kind"]) for d in json.loads(result.stdout)["differences"]}
    assert found == {
        ("DATABASE_URL", "value"),
        ("NEXTAUTH_SECRET", "value"),
        ("NEXT_PUBLIC_API_BASE_URL", "value"),
        ("NEXT_PUBLIC_ENVIRONMENT", "value"),
        ("NEXT_PUBLIC_GA_ID", "only_in_b"),
        ("OPENAI_API_KEY", "only_in_b"),
        ("NEXT_PUBLIC_API_BASE_URL", "schema"),
        ("NEXT_PUBLIC_ENVIRONMENT", "schema"),
        ("NEXT_PUBLIC_GA_ID", "schema"),
        ("OPENAI_API_KEY", "schema"),
    }
    text = safeship(project, "env", "diff", "staging", "production").stdout
    assert "NEXT_PUBLIC_ENVIRONMENT: staging: 'staging' · production: 'production'" in text
    assert "DATABASE_URL: staging: **** (fingerprint " in text
    for secret in (SECRET, DB_PASSWORD, STAGING["NEXTAUTH_SECRET"], "staging-pw-1234"):
        assert secret not in result.stdout + text
    same = safeship(project, "env", "diff", "production", "production")
    assert (same.returncode, same.stdout) == (0, "production vs production: 0 differences\n")
    (project / "a.env").write_text(dotenv(VALID_PRODUCTION))
    from_file = safeship(project, "env", "diff", "production", "production", "--file-a", "a.env")
    assert from_file.returncode == 0


def test_snapshot_audit_and_drift_through_the_registry(project: Path) -> None:
    configure(project, {"production": VALID_PRODUCTION})
    drift = safeship(project, "env", "drift", "production")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "no snapshot yet" in drift.stdout
    first = safeship(project, "env", "snapshot", "production", "--by", "alice")
    assert first.returncode == 0, first.stderr
    assert "(7 variables, 3 as fingerprints only)" in first.stdout
    key = project / ".safeship" / "fingerprint.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"

    # The live variables change: a rotated secret, a new GA id, a variable the schema lacks.
    changed = VALID_PRODUCTION | {
        "NEXTAUTH_SECRET": "rotated-0123456789abcdef0123456789abcdef",
        "NEXT_PUBLIC_GA_ID": "G-NEW1",
        "FEATURE_X": "on",
    }
    configure(project, {"production": changed})
    drift = safeship(project, "env", "drift", "production", "--json")
    assert drift.returncode == 1
    report = json.loads(drift.stdout)
    assert report["drift"] is True
    assert [(p["variable"], p["code"]) for p in report["schema"]] == [
        ("FEATURE_X", "unknown_variable")
    ]
    assert report["snapshot"]["taken_by"] == "alice"
    assert [(c["variable"], c["kind"]) for c in report["snapshot"]["changes"]] == [
        ("FEATURE_X", "added"),
        ("NEXTAUTH_SECRET", "changed"),
        ("NEXT_PUBLIC_GA_ID", "changed"),
    ]
    second = safeship(project, "env", "snapshot", "production", "--by", "ci")
    assert second.returncode == 0
    audit = safeship(project, "env", "audit", "production")
    assert audit.returncode == 0
    lines = audit.stdout.splitlines()
    assert lines[0].endswith("by alice: first snapshot (7 variables)")
    assert lines[1].endswith("by ci: 3 changes")
    assert lines[2].startswith("  added FEATURE_X: **** (fingerprint ")
    assert lines[3].startswith("  changed NEXTAUTH_SECRET: **** (fingerprint ")
    assert lines[4] == "  changed NEXT_PUBLIC_GA_ID: 'G-ABC123' → 'G-NEW1'"
    entries = json.loads(safeship(project, "env", "audit", "production", "--json").stdout)
    assert [e["taken_by"] for e in entries] == ["alice", "ci"]

    # The registry holds names, public values and fingerprints: never a secret's value.
    with sqlite3.connect(project / ".safeship" / "registry.db") as db:
        dump = "\n".join(db.iterdump())
    assert "G-ABC123" in dump and "G-NEW1" in dump
    for secret in (SECRET, changed["NEXTAUTH_SECRET"], DB_PASSWORD, "sk-0123456789abcdef"):
        assert secret not in dump
    for run in (first, second, drift, audit):
        assert SECRET not in run.stdout + run.stderr


def test_drift_needs_a_schema_and_audit_of_an_empty_environment(project: Path) -> None:
    configure(project, {"production": VALID_PRODUCTION})
    audit = safeship(project, "env", "audit", "production")
    assert (audit.returncode, audit.stdout) == (
        0,
        "production: no snapshots (record one with `safeship env snapshot`)\n",
    )
    (project / "env.schema.toml").unlink()
    drift = safeship(project, "env", "drift", "production")
    assert drift.returncode == 2
    assert drift.stderr.startswith("safeship: error: ")
    assert drift.stderr.endswith("env.schema.toml: schema file not found\n")
    # Without a schema a snapshot still works, and keeps every value as a fingerprint.
    snap = safeship(project, "env", "snapshot", "production")
    assert snap.returncode == 0
    assert "(7 variables, 7 as fingerprints only)" in snap.stdout
    process = safeship(project, "env", "snapshot", "production", "--from-process")
    assert (process.returncode, process.stderr) == (
        2,
        "safeship: error: --from-process needs the schema: it names the variables to take "
        "from the process\n",
    )


def test_help_lists_the_env_commands(tmp_path: Path) -> None:
    result = safeship(tmp_path, "env", "--help")
    assert result.returncode == 0
    for command in ("check", "example", "parity", "diff", "drift", "snapshot", "audit"):
        assert command in result.stdout
