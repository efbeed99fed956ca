"""``safeship init``: a commented safeship.toml (and env.schema.toml) for an existing project.

What it detects, first found wins for the start command:

1. ``Procfile``: the ``web:`` process.
2. ``railway.json`` / ``railway.toml``: ``deploy.startCommand``; also ``healthcheckPath`` and
   ``healthcheckTimeout`` (the health check) and ``numReplicas`` (noted in a comment).
3. ``package.json``: the ``start`` script, run as ``npm start``.
4. An ASGI or WSGI app in a top-level module, ``app/`` or ``src/<pkg>/``: ``name = FastAPI()``
   (also Starlette, Quart, Litestar) runs under uvicorn, ``name = Flask()`` under gunicorn.
5. ``pyproject.toml``: the first ``[project.scripts]`` console script.

The release gets its port as ``{port}`` in the command and as ``$PORT`` in its environment; a
command that needs a shell (``&&``, pipes, other variables) runs under ``sh -c``. An
``env.schema.toml`` is written from ``.env.example`` when there is one: a type guessed from each
example value, names that look like credentials marked secret, browser-exposed prefixes public.
Nothing existing is ever overwritten: a file in the way stops ``init`` before it writes anything.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeship.config import CONFIG_FILENAME

SCHEMA_FILENAME = "env.schema.toml"
DEFAULT_PORT = 8080
ENVIRONMENT = "production"

_PORT_VARIABLE = re.compile(r"\$\{PORT\}|\$PORT\b")
_ANY_ADDRESS = re.compile(r"(?<![0-9.])0\.0\.0\.0(?![0-9.])")
_SHELL = re.compile(r"[|&;<>()`$*?~]|\$\{?[A-Za-z_]")
_ASGI = ("FastAPI", "Starlette", "Quart", "Litestar")
_WSGI = ("Flask",)
_APP = re.compile(r"^(\w+)\s*(?::[^=]*)?=\s*(?:\w+\.)?(" + "|".join(_ASGI + _WSGI) + r")\(", re.M)
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


class InitError(Exception):
    """A file init would write already exists, or the directory is not usable."""


@dataclass
class Detected:
    """What ``detect`` found; ``sources`` says where each part came from."""

    name: str
    command: list[str] | None = None
    command_source: str | None = None
    health_path: str | None = None
    health_timeout: float | None = None
    replicas: int | None = None
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def detect(root: Path) -> Detected:
    found = Detected(name=_project_name(root))
    _from_procfile(root, found)
    _from_railway(root, found)
    _from_package_json(root, found)
    _from_python_app(root, found)
    _from_pyproject(root, found)
    return found


def _project_name(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-.")
    return name or "app"


def _set_command(found: Detected, command: list[str], source: str) -> None:
    if found.command is None:
        found.command, found.command_source = command, source


def command_from_shell(line: str) -> list[str]:
    """A start command as an argument list: $PORT becomes {port}; anything needing a shell is
    kept whole under ``sh -c`` (where $PORT comes from the release's environment)."""
    # Releases listen on loopback: the router is the public door (0.0.0.0 would bypass it).
    line = _ANY_ADDRESS.sub("127.0.0.1", line.strip())
    without_port = _PORT_VARIABLE.sub("{port}", line)
    if not _SHELL.search(without_port):
        try:
            words = shlex.split(without_port)
        except ValueError:
            words = []
        if words:
            return words
    return ["sh", "-c", line]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _from_procfile(root: Path, found: Detected) -> None:
    text = _read_text(root / "Procfile")
    if text is None:
        return
    for line in text.splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == "web" and command.strip():
            _set_command(found, command_from_shell(command), "Procfile (web)")
            found.sources.append("Procfile")
            return


def _from_railway(root: Path, found: Detected) -> None:
    deploy: dict[str, Any] | None = None
    for name in ("railway.json", "railway.toml"):
        text = _read_text(root / name)
        if text is None:
            continue
        try:
            data = json.loads(text) if name.endswith(".json") else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError):
            found.notes.append(f"{name} could not be parsed: skipped")
            continue
        section = data.get("deploy") if isinstance(data, dict) else None
        if isinstance(section, dict):
            deploy, source = section, name
            break
    if deploy is None:
        return
    found.sources.append(source)
    start = deploy.get("startCommand")
    if isinstance(start, str) and start.strip():
        _set_command(found, command_from_shell(start), f"{source} (startCommand)")
    path = deploy.get("healthcheckPath")
    if isinstance(path, str) and path.startswith("/"):
        found.health_path = path
    timeout = deploy.get("healthcheckTimeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        found.health_timeout = float(timeout)
    replicas = deploy.get("numReplicas")
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > 0:
        found.replicas = replicas


def _from_package_json(root: Path, found: Detected) -> None:
    text = _read_text(root / "package.json")
    if text is None:
        return
    try:
        data = json.loads(text)
    except ValueError:
        found.notes.append("package.json could not be parsed: skipped")
        return
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if isinstance(scripts, dict) and isinstance(scripts.get("start"), str):
        found.sources.append("package.json")
        _set_command(found, ["npm", "start"], f"package.json (start: {scripts['start']})")


def _python_modules(root: Path) -> list[tuple[str, Path]]:
    """(module name, file) of the places an app usually lives, in a stable order."""
    found: list[tuple[str, Path]] = []
    for path in sorted(root.glob("*.py")):
        found.append((path.stem, path))
    for package in sorted([root / "app", *sorted((root / "src").glob("*"))]):
        if (package / "__init__.py").is_file():
            prefix = package.name
            for path in sorted(package.glob("*.py")):
                module = prefix if path.stem == "__init__" else f"{prefix}.{path.stem}"
                found.append((module, path))
    return found


def _from_python_app(root: Path, found: Detected) -> None:
    for module, path in _python_modules(root)[:200]:
        text = _read_text(path)
        if text is None or len(text) > 1_000_000:
            continue
        match = _APP.search(text)
        if match is None:
            continue
        variable, kind = match.group(1), match.group(2)
        target = f"{module}:{variable}"
        if kind in _ASGI:
            command = ["uvicorn", target, "--host", "127.0.0.1", "--port", "{port}"]
            source = f"{path.relative_to(root)} ({kind} app: ASGI, run by uvicorn)"
        else:
            command = ["gunicorn", target, "--bind", "127.0.0.1:{port}"]
            source = f"{path.relative_to(root)} ({kind} app: WSGI, run by gunicorn)"
        if (root / "src") in path.parents:
            command = [*command[:1], "--app-dir" if kind in _ASGI else "--chdir", "src",
                       *command[1:]]  # fmt: skip
        found.sources.append(str(path.relative_to(root)))
        _set_command(found, command, source)
        return


def _from_pyproject(root: Path, found: Detected) -> None:
    text = _read_text(root / "pyproject.toml")
    if text is None:
        return
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        found.notes.append("pyproject.toml could not be parsed: skipped")
        return
    project = data.get("project")
    scripts = project.get("scripts") if isinstance(project, dict) else None
    if isinstance(scripts, dict) and scripts:
        name = next(iter(scripts))
        found.sources.append("pyproject.toml")
        _set_command(found, [str(name)], f"pyproject.toml (console script {name})")


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


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    written: list[Path]
    detected: Detected


def init_project(root: Path) -> InitResult:
    """Write safeship.toml (and env.schema.toml from .env.example); never overwrite."""
    from safeship.envschema.dotenv_file import read_env_file

    if not root.is_dir():
        raise InitError(f"{root}: not a directory")
    config = root / CONFIG_FILENAME
    example = root / ".env.example"
    schema = root / SCHEMA_FILENAME
    if config.exists() or config.is_symlink():
        raise InitError(f"{config} already exists: init never overwrites a file")
    schema_text: str | None = None
    if example.is_file() and not (schema.exists() or schema.is_symlink()):
        env = read_env_file(example)
        if env.values:
            schema_text = render_schema(env.values, example.name)
    found = detect(root)
    has_schema = schema_text is not None or schema.exists()
    written = [config]
    _create(config, render_config(found, has_schema))
    if schema_text is not None:
        _create(schema, schema_text)
        written.append(schema)
    return InitResult(written, found)


def _create(path: Path, text: str) -> None:
    try:
        with path.open("x", encoding="utf-8") as file:  # "x": fails if it appeared meanwhile
            file.write(text)
    except FileExistsError:
        raise InitError(f"{path} already exists: init never overwrites a file") from None
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc.strerror or exc}") from None
