"""The everyday commands start without the heavy libraries (issue 12: each under 0.3 s).

`status`, `history`, `config check` and `env check` run as whole processes (as a user runs
them) in a project with a registry holding deployments; ``-X importtime`` lists every module
each imported. None may import the ORM and migrations (a SQLite registry is read with
sqlite3), an HTTP client, the judge's numerics or a dependency check's driver.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeship._processes import free_port
from safeship.config import load_config
from safeship.registry import Registry

HEAVY = ("sqlalchemy", "alembic", "httpx", "scipy", "numpy", "psycopg", "redis", "aiohttp",
         # `safeship serve`'s: the dashboard, its web stack, its charts, its password hashing.
         "safeship.dashboard", "fastapi", "starlette", "jinja2", "uvicorn", "argon2", "pygal",
         "playwright")  # fmt: skip
CONFIG = """[project]
name = "startup"

[environments.production]
port = {port}
[environments.production.target]
command = ["python", "-m", "app"]
"""
SCHEMA = """[production]
API_URL = { type = "url", startswith = "https://" }
SESSION_SECRET = { type = "string", min_length = 32, secret = true }
"""
DOTENV = "API_URL=https://api.example.com\nSESSION_SECRET=0123456789abcdef0123456789abcdef\n"
# Each command, and what its output says when it worked.
COMMANDS = {
    "status": (["status"], "last deployment: v2 succeeded"),
    "history": (["history"], "v2"),
    "config check": (["config", "check"], "ok (1 environments: production)"),
    "env check": (["env", "check", "production"], "production: valid (2 variables"),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("startup")
    (root / "safeship.toml").write_text(CONFIG.format(port=free_port()))
    (root / "env.schema.toml").write_text(SCHEMA)
    (root / ".env.production").write_text(DOTENV)
    loaded = load_config(root / "safeship.toml")
    with Registry(loaded.registry_url()) as registry:
        for n in range(3):
            deployment = registry.create_deployment("production", f"v{n}", f"{n:07x}", "test")
            registry.update_deployment(deployment, status="succeeded", completed=True)
    return root


def imported_modules(importtime: str) -> set[str]:
    """The modules a ``-X importtime`` report lists (one ``import time: ... | name`` a line)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_everyday_commands_import_no_heavy_library(project: Path, command: str) -> None:
    argv, expected = COMMANDS[command]
    source = str(Path(__import__("safeship").__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    env["COLUMNS"] = "200"  # the tables' lines unfolded
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "safeship", *argv],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
    modules = imported_modules(done.stderr)
    assert "safeship.config.models" in modules  # the report is read right
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"`safeship {' '.join(argv)}` imported {heavy}"
