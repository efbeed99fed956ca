"""safeship init: one test per detection, the env schema from .env.example, never overwriting,
and a generated config that passes `safeship config check` (issue 11 §7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeship.config import load_config
from safeship.envschema.schema import load_schema
from safeship.health.resolve import config_problems
from safeship.scaffold import InitError, init_project
from safeship.scaffold.detect import command_from_shell, detect
from safeship.scaffold.templates import guess_variable

ENV = "production"


def initialised(root: Path) -> tuple[list[str], Path]:
    """Run init; the generated start command, after checking the config loads cleanly."""
    result = init_project(root)
    assert result.written[0] == root / "safeship.toml"
    loaded = load_config(root / "safeship.toml")
    assert config_problems(loaded) == []
    target = loaded.config.environments[ENV].target
    assert target.type == "local"
    return list(target.command), root / "safeship.toml"


def test_procfile_web_line(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(
        "release: python manage.py migrate\nweb: gunicorn shop.wsgi --bind 0.0.0.0:$PORT\n"
    )
    command, config = initialised(tmp_path)
    assert command == ["gunicorn", "shop.wsgi", "--bind", "127.0.0.1:{port}"]
    assert "# From Procfile (web)." in config.read_text()


def test_a_command_needing_a_shell_runs_under_sh() -> None:
    assert command_from_shell("cd web && node server.js --port ${PORT}") == [
        "sh",
        "-c",
        "cd web && node server.js --port ${PORT}",
    ]
    assert command_from_shell("bin/start --port=$PORT") == ["bin/start", "--port={port}"]


def test_railway_json(tmp_path: Path) -> None:
    (tmp_path / "railway.json").write_text(
        json.dumps(
            {
                "$schema": "https://railway.com/railway.schema.json",
                "deploy": {
                    "startCommand": "uvicorn api:app --host 0.0.0.0 --port $PORT",
                    "healthcheckPath": "/healthz",
                    "healthcheckTimeout": 100,
                    "numReplicas": 3,
                },
            }
        )
    )
    command, config = initialised(tmp_path)
    assert command == ["uvicorn", "api:app", "--host", "127.0.0.1", "--port", "{port}"]
    loaded = load_config(config)
    env = loaded.config.environments[ENV]
    assert env.health.path == "/healthz"
    assert env.target.type == "local" and env.target.start_timeout == 100
    text = config.read_text()
    assert "numReplicas = 3" in text
    assert "railway.json (startCommand)" in text


def test_railway_toml(tmp_path: Path) -> None:
    (tmp_path / "railway.toml").write_text(
        '[deploy]\nstartCommand = "node server.js"\nhealthcheckPath = "/up"\n'
        "healthcheckTimeout = 30\n"
    )
    command, config = initialised(tmp_path)
    assert command == ["node", "server.js"]
    assert load_config(config).config.environments[ENV].health.path == "/up"


def test_procfile_wins_over_railway_start_command(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: ./run-web\n")
    (tmp_path / "railway.toml").write_text('[deploy]\nstartCommand = "other"\n')
    command, _ = initialised(tmp_path)
    assert command == ["./run-web"]


def test_package_json_start_script(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"start": "next start"}}))
    command, config = initialised(tmp_path)
    assert command == ["npm", "start"]
    assert "package.json (start: next start)" in config.read_text()


def test_asgi_app(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("from fastapi import FastAPI\n\napi = FastAPI()\n")
    command, _ = initialised(tmp_path)
    assert command == ["uvicorn", "main:api", "--host", "127.0.0.1", "--port", "{port}"]


def test_wsgi_app_in_a_package(tmp_path: Path) -> None:
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "web.py").write_text("import flask\n\napplication = flask.Flask(__name__)\n")
    command, _ = initialised(tmp_path)
    assert command == ["gunicorn", "app.web:application", "--bind", "127.0.0.1:{port}"]


def test_asgi_app_under_src(tmp_path: Path) -> None:
    package = tmp_path / "src" / "svc"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text("from starlette.applications import Starlette\n"
                                       "app = Starlette()\n")  # fmt: skip
    command, _ = initialised(tmp_path)
    assert command[:3] == ["uvicorn", "--app-dir", "src"]
    assert "svc.server:app" in command


def test_pyproject_console_script(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "svc"\nversion = "1"\n[project.scripts]\nsvc-serve = "svc:main"\n'
    )
    command, config = initialised(tmp_path)
    assert command == ["svc-serve"]
    assert "console script svc-serve" in config.read_text()


def test_nothing_detected_still_writes_a_valid_config(tmp_path: Path) -> None:
    command, config = initialised(tmp_path)
    assert "{port}" in command
    assert "TODO" in config.read_text()
    assert detect(tmp_path).sources == []


def test_unparsable_files_are_noted_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{not json")
    (tmp_path / "railway.toml").write_text("[deploy\n")
    _, config = initialised(tmp_path)
    assert "package.json could not be parsed" in config.read_text()


def test_env_schema_from_env_example(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(
        "# The database\nDATABASE_URL=postgresql://localhost/app\nPORT=8000\nDEBUG=false\n"
        "NEXT_PUBLIC_API_URL=https://api.example.com\nSTRIPE_SECRET_KEY=\nWORKERS=4\n"
        "RATIO=0.5\nGREETING=hello world\n"
    )
    result = init_project(tmp_path)
    assert [p.name for p in result.written] == ["safeship.toml", "env.schema.toml"]
    schema = load_schema(tmp_path / "env.schema.toml")
    variables = schema.environment(ENV).variables
    assert {n: v.type for n, v in variables.items()} == {
        "DATABASE_URL": "url",
        "PORT": "port",
        "DEBUG": "bool",
        "NEXT_PUBLIC_API_URL": "url",
        "STRIPE_SECRET_KEY": "string",
        "WORKERS": "int",
        "RATIO": "float",
        "GREETING": "string",
    }
    assert sorted(schema.environment(ENV).secret_names) == ["DATABASE_URL", "STRIPE_SECRET_KEY"]
    assert variables["NEXT_PUBLIC_API_URL"].public
    loaded = load_config(tmp_path / "safeship.toml")
    assert loaded.config.project.env_schema == "env.schema.toml"
    assert config_problems(loaded) == []


def test_a_public_name_is_never_secret() -> None:
    assert guess_variable("NEXT_PUBLIC_STRIPE_KEY", "pk_test") == {"type": "string", "public": True}


def test_an_existing_config_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text("# mine\n")
    (tmp_path / ".env.example").write_text("A=1\n")
    with pytest.raises(InitError, match="already exists: init never overwrites"):
        init_project(tmp_path)
    assert (tmp_path / "safeship.toml").read_text() == "# mine\n"
    assert not (tmp_path / "env.schema.toml").exists()


def test_an_existing_schema_is_kept(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / "env.schema.toml").write_text("[base]\n")
    result = init_project(tmp_path)
    assert [p.name for p in result.written] == ["safeship.toml"]
    assert (tmp_path / "env.schema.toml").read_text() == "[base]\n"


def test_cli_init_then_config_check(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: python -m http.server $PORT\n")

    def safeship(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "safeship", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )

    first = safeship("init")
    assert first.returncode == 0, first.stderr
    assert "wrote" in first.stdout and "Procfile (web)" in first.stdout
    check = safeship("config", "check")
    assert check.returncode == 0, check.stderr
    again = safeship("init")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "safeship: error: safeship.toml already exists: init never overwrites a file"
    ]
