"""`safeship env check --from-target` names where a variable lives: a line of safeship.toml for
the local target's `env` table, the platform's variables otherwise (issue 11: a variable on
Railway was cited as `safeship.toml:8`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from testing.cli import safeship
from testing.services import FakeService, Reply

Services = Callable[[], FakeService]
SCHEMA = '[production]\nGA_ID = { type = "string", pattern = "^G-[A-Z0-9]+$" }\n'
PATTERN_ERROR = "GA_ID: must match the pattern '^G-[A-Z0-9]+$' (got 'UA-1') [pattern_mismatch]"


# The command target needs no token; the railway one reads it (never printed).
TOKEN: dict[str, str | None] = {"RAILWAY_TOKEN": "rw-test-token"}


def project(root: Path, target: str) -> Path:
    (root / "env.schema.toml").write_text(SCHEMA)
    (root / "safeship.toml").write_text(
        f'[project]\nname = "t"\n\n[environments.production.target]\n{target}'
    )
    return root


def test_a_railway_variable_is_named_by_its_source(tmp_path: Path, fake_service: Services) -> None:
    railway = fake_service().on(
        "POST", "/graphql/v2", Reply(200, {"data": {"variables": {"GA_ID": "UA-1"}}})
    )
    root = project(
        tmp_path,
        'type = "railway"\nproject_id = "p"\nenvironment_id = "e"\nservice_id = "s"\n'
        f'endpoint = "{railway.url}/graphql/v2"\n',
    )
    result = safeship(root, "env", "check", "production", "--from-target", env=TOKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        f"error: railway production variables: {PATTERN_ERROR}"
    )
    assert "safeship.toml" not in result.stdout
    assert json.loads(railway.requests[0].body)["operationName"] == "variables"


def test_a_command_targets_variables_are_named_by_its_source(tmp_path: Path) -> None:
    script = json.dumps([sys.executable, "-c", "print('GA_ID=UA-1')"])
    root = project(tmp_path, f'type = "command"\ndeploy = ["true"]\nvariables = {script}\n')
    result = safeship(root, "env", "check", "production", "--from-target", env=TOKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"error: command production variables: {PATTERN_ERROR}"


def test_a_local_targets_variable_is_still_a_line_of_safeship_toml(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        'command = ["python", "-m", "http.server", "{port}"]\n\n'
        "[environments.production.target.env]\n"
        'OTHER = "x"\nGA_ID = "UA-1"\n',
    )
    (root / "safeship.toml").write_text(
        (root / "safeship.toml").read_text().replace("[environments.production.target]",
                                                    "[environments.production]\nport = 18190\n"
                                                    "[environments.production.target]")
    )  # fmt: skip
    result = safeship(root, "env", "check", "production", "--from-target", env=TOKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"error: safeship.toml:11: {PATTERN_ERROR}"
