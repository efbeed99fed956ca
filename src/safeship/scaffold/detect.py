"""What ``safeship init`` detects in a project: its name, start command and health check
(the order, first found wins for the command, is in the package's docstring)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PORT_VARIABLE = re.compile(r"\$\{PORT\}|\$PORT\b")
_ANY_ADDRESS = re.compile(r"(?<![0-9.])0\.0\.0\.0(?![0-9.])")
_SHELL = re.compile(r"[|&;<>()`$*?~]|\$\{?[A-Za-z_]")
_ASGI = ("FastAPI", "Starlette", "Quart", "Litestar")
_WSGI = ("Flask",)
_APP = re.compile(r"^(\w+)\s*(?::[^=]*)?=\s*(?:\w+\.)?(" + "|".join(_ASGI + _WSGI) + r")\(", re.M)


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
