"""The files ``safeship init`` writes: a commented safeship.toml from what was detected, and
an env.schema.toml from .env.example (a type guessed from each example value)."""

from __future__ import annotations

import json
import re
from typing import Any

from safeship.scaffold.detect import Detected

SCHEMA_FILENAME = "env.schema.toml"
DEFAULT_PORT = 8080
ENVIRONMENT = "production"

_SECRET_NAME = re.compile(
    r"SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_KEY|ACCESS_KEY|_KEY$|_DSN$|"
    r"^DATABASE_URL$|^REDIS_URL$|WEBHOOK"
)
_PUBLIC_PREFIXES = (
    "NEXT_PUBLIC_",
    "VITE_",
    "REACT_APP_",
    "PUBLIC_",
    "NUXT_PUBLIC_",
    "EXPO_PUBLIC_",
)
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT = re.compile(r"[+-]?[0-9]+\.[0-9]+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


# -- safeship.toml -------------------------------------------------------------------------


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def render_config(found: Detected, has_schema: bool) -> str:
    command = found.command
    lines = [
        f"# safeship.toml for {found.name}, written by `safeship init`.",
        f"# Detected from: {', '.join(found.sources) or 'nothing (edit below)'}.",
        "# Every key is described in docs/reference.md. Then:",
        "#   safeship config check      # validate this file",
        "#   safeship doctor            # what a deploy needs: registry, ports, tokens, files",
        f"#   safeship deploy {ENVIRONMENT} --version v1",
    ]
    lines += [f"# Note: {note}" for note in found.notes]
    lines += [
        "",
        "[project]",
        f"name = {_toml_string(found.name)}",
    ]
    if has_schema:
        lines += [
            "# Variables are checked against this schema before a release starts.",
            f"env_schema = {_toml_string(SCHEMA_FILENAME)}",
        ]
    lines += [
        "",
        "# The deployment history (SQLite in .safeship/ by default; a team shares PostgreSQL:",
        '# url = "postgresql://user@host/dbname").',
        "[registry]",
        'url = "sqlite:///.safeship/registry.db"',
        "",
        f"[environments.{ENVIRONMENT}]",
        "# The public port: safeship's router listens here and splits traffic between releases,",
        "# each of which runs on a port of its own ({port} in the command below).",
        f"port = {DEFAULT_PORT}",
        "# canary: 10% of traffic, then 50%, then 100%, watching errors and latency at each step;",
        "# any rule that fires rolls back. Also: all-at-once, blue-green.",
        'strategy = "canary"',
        "steps = [10, 50, 100]",
        "# Seconds each step is watched.",
        "bake_time = 30",
        "",
        f"[environments.{ENVIRONMENT}.target]",
        "# Run each release as a process on this machine.",
        'type = "local"',
    ]
    if command is None:
        lines += [
            "# TODO: no start command was found (Procfile, railway.json, package.json, an",
            "# ASGI/WSGI app, a console script): put yours here. {port} is the release's port",
            "# ($PORT is set too).",
            'command = ["python", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]',
        ]
    else:
        lines += [
            f"# From {found.command_source}. {{port}} is the release's port ($PORT is set too).",
            f"command = {_toml_list(command)}",
        ]
    if found.replicas is not None and found.replicas > 1:
        lines.append(
            f"# Railway runs numReplicas = {found.replicas} replicas; the local target runs one "
            "process per release."
        )
    lines += [
        "# Seconds a release has to answer its health check after it starts.",
        f"start_timeout = {min(300.0, max(15.0, found.health_timeout or 15.0)):g}",
        "",
        f"[environments.{ENVIRONMENT}.health]",
        '# Each release must answer GET path with 200 and JSON {"status": "healthy"}',
        "# (safeship.appkit adds such an endpoint to ASGI/WSGI apps).",
        f"path = {_toml_string(found.health_path or '/api/health')}",
    ]
    if found.health_timeout is not None:
        lines.append(
            f"# railway healthcheckTimeout = {found.health_timeout:g}s: start_timeout above."
        )
    lines += [
        "",
        f"[environments.{ENVIRONMENT}.rollback]",
        "# Roll back when more than this fraction of the new release's requests fail.",
        "error_rate = 0.05",
        "",
        "# Deploying through Railway instead: replace the target above with",
        f"# [environments.{ENVIRONMENT}.target]",
        '# type = "railway"',
        '# project_id = "..."',
        '# environment_id = "..."',
        '# service_id = "..."             # and export RAILWAY_TOKEN',
        "",
    ]
    return "\n".join(lines)


# -- env.schema.toml -----------------------------------------------------------------------


def guess_variable(name: str, value: str) -> dict[str, Any]:
    """A schema entry for one .env.example line."""
    public = name.startswith(_PUBLIC_PREFIXES)
    secret = not public and bool(_SECRET_NAME.search(name.upper()))
    entry: dict[str, Any] = {}
    value = value.strip()
    if name.upper() == "PORT" or name.upper().endswith("_PORT"):
        entry["type"] = "port" if not value or _INT.fullmatch(value) else "string"
    elif value.lower() in ("true", "false", "yes", "no"):
        entry["type"] = "bool"
    elif _INT.fullmatch(value):
        entry["type"] = "int"
    elif _FLOAT.fullmatch(value):
        entry["type"] = "float"
    elif _URL.fullmatch(value):
        entry["type"] = "url"
    else:
        entry["type"] = "string"
    if secret:
        entry["secret"] = True
    if public:
        entry["public"] = True
    return entry


def render_schema(values: dict[str, str], source: str) -> str:
    lines = [
        f"# env.schema.toml, written by `safeship init` from {source}: one line per variable.",
        "# Types are guessed from the example values; names that look like credentials are",
        "# secret (never shown), NEXT_PUBLIC_/VITE_/... ones public. Check a .env with",
        "#   safeship env check base --env-file .env",
        "",
        "[base]",
    ]
    for name, value in values.items():
        entry = guess_variable(name, value)
        fields = ", ".join(
            f"{key} = {_toml_string(v) if isinstance(v, str) else str(v).lower()}"
            for key, v in entry.items()
        )
        lines.append(f"{_toml_key(name)} = {{ {fields} }}")
    lines += [
        "",
        "# The environment safeship.toml deploys; stricter rules for it go here.",
        f"[{ENVIRONMENT}]",
        'extends = "base"',
    ]
    return "\n".join(lines) + "\n"


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml_string(name)
