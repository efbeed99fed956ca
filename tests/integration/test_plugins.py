"""The plugin registry with a real third-party distribution, and the SecretStore port.

``tests/plugin_dist`` is a plugin as a third party would publish it (a target, a check and a
notifier, registered by entry points). The test builds its wheel, installs it with pip into a
directory of its own, and runs ``safeship deploy`` with that directory on PYTHONPATH: the
deploy takes the plugin's target, runs its check and delivers its events to its notifier.

The wheel is built here (a wheel is a zip: PEP 427) because this machine has no build backend
for an offline ``pip wheel`` (no ``wheel`` package for setuptools 65, no hatchling); pip then
installs it for real, entry points and all.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from safeship._processes import free_port
from safeship.config import load_config
from safeship.config.models import LocalTargetSettings
from safeship.plugins import CHECKS, METRIC_SOURCES, NOTIFIERS, SECRET_STORES, TARGETS, names
from safeship.secrets.base import SecretStoreError, open_secret_store
from safeship.targets.command import CommandTarget
from safeship.targets.local import LocalTarget
from safeship.targets.settings import CommandTargetSettings
from testing.cli import safeship

PLUGIN_DIST = Path(__file__).parent.parent / "plugin_dist"

CONFIG = """\
[project]
name = "plugins"

[environments.demo]
port = {port}
strategy = "all-at-once"
bake_time = 0

[environments.demo.target]
type = "example"
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]

[environments.demo.health]
retries = 50
backoff = 0.1

[[environments.demo.health.checks]]
type = "example"
name = "flags"
path = "${{FLAGS_DIR}}/flags.json"

[notify.example]
file = "{events}"
"""


def build_wheel(source: Path, out_dir: Path) -> Path:
    """The pure-Python wheel of the distribution at ``source`` (its pyproject.toml's name,
    version and entry points; its package under src/)."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    name, version = project["name"].replace("-", "_"), project["version"]
    dist_info = f"{name}-{version}.dist-info"
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in eps.items()) + "\n"
        for group, eps in project.get("entry-points", {}).items()
    )
    files: dict[str, bytes] = {
        path.relative_to(source / "src").as_posix(): path.read_bytes()
        for path in sorted((source / "src").rglob("*.py"))
    }
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {version}\n"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: safeship-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()] + [
        f"{dist_info}/RECORD,,"
    ]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory the example plugin is installed into (by pip, from its wheel)."""
    root = tmp_path_factory.mktemp("plugin")
    wheel = build_wheel(PLUGIN_DIST, root)
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return target


def with_plugin(plugin_dir: Path) -> dict[str, str | None]:
    existing = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(plugin_dir), existing]))}


def test_builtin_adapters_are_registered_once_by_entry_points() -> None:
    assert names(TARGETS) == ["command", "local", "railway", "ssh"]
    assert names(CHECKS) == ["http", "postgres", "redis", "tcp"]
    assert names(METRIC_SOURCES) == ["prometheus", "router"]
    assert names(NOTIFIERS) == ["console", "email", "github-issue", "pagerduty", "slack", "webhook"]
    assert names(SECRET_STORES) == ["env"]


def test_a_third_party_plugin_deploys_with_its_target_check_and_notifier(
    plugin_dir: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.log"
    flags = tmp_path / "flags"
    flags.mkdir()
    (flags / "flags.json").write_text("{}")
    (tmp_path / "safeship.toml").write_text(CONFIG.format(port=free_port(), events=events))
    env = {**with_plugin(plugin_dir), "FLAGS_DIR": str(flags)}
    try:
        deployed = safeship(tmp_path, "deploy", "demo", "--version", "v1", env=env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        (record,) = tmp_path.glob(".safeship/**/v1.json")  # the plugin target's pid file
        pid = json.loads(record.read_text())["pid"]
        history = safeship(tmp_path, "history", "demo", "--json", env=env)
        assert history.returncode == 0, history.stderr
        (row,) = json.loads(history.stdout)
        assert (row["version"], row["status"]) == ("v1", "succeeded")
    finally:
        down = safeship(tmp_path, "down", "demo", env=env)
    assert down.returncode == 0, down.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # The notifier got the deploy's alerts (through the outbox, each once, with its id); the
    # check ran (the event log reports it).
    delivered = [json.loads(line) for line in events.read_text().splitlines()]
    conditions = [(a["condition"], a["version"], a["state"]) for a in delivered]
    assert conditions == [
        ("deployment.started", "v1", "firing"),
        ("deployment.succeeded", "v1", "firing"),
    ]
    assert len({a["id"] for a in delivered}) == 2
    logged = [json.loads(line) for line in (tmp_path / ".safeship" / "events.jsonl").open()]
    checks = [e["attributes"] for e in logged if e["event"] == "check.completed"]
    assert {"check": "example:flags", "status": "ok"}.items() <= checks[-1].items()


def test_a_check_of_the_plugin_failing_stops_the_deploy(plugin_dir: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.log"
    (tmp_path / "safeship.toml").write_text(CONFIG.format(port=free_port(), events=events))
    env = {**with_plugin(plugin_dir), "FLAGS_DIR": str(tmp_path / "nowhere")}
    try:
        deployed = safeship(tmp_path, "deploy", "demo", "--version", "v1", env=env)
    finally:
        safeship(tmp_path, "down", "demo", env=env)
    assert deployed.returncode != 0
    assert "example:flags" in deployed.stdout + deployed.stderr
    assert "flags.json is missing" in deployed.stdout + deployed.stderr
    delivered = [json.loads(line)["condition"] for line in events.read_text().splitlines()]
    assert delivered[-1] == "deployment.failed"


def test_a_plugin_type_that_is_not_installed_is_a_config_error(tmp_path: Path) -> None:
    config = CONFIG.format(port=free_port(), events=tmp_path / "events.log")
    (tmp_path / "safeship.toml").write_text(config)
    result = safeship(tmp_path, "config", "check")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "safeship: error: safeship.toml:10: environments.demo.target.type: unknown type "
        "'example' (expected one of: 'command', 'local', 'railway', 'ssh')",
        "safeship: error: safeship.toml:18: environments.demo.health.checks.0.type: unknown "
        "type 'example' (expected one of: 'http', 'postgres', 'redis', 'tcp')",
        "safeship: error: safeship.toml:22: notify: no notifier named 'example' is installed "
        "(known: console, email, github-issue, pagerduty, slack, webhook)",
    ]


def test_the_environment_variables_store_reads_writes_and_lists(tmp_path: Path) -> None:
    settings = LocalTargetSettings(command=["python", "-m", "app"], env={"MODE": "demo"})
    target = LocalTarget("demo", settings, tmp_path / "run", tmp_path)
    store = open_secret_store("env", "demo", target)
    assert store.names() == ["MODE"] and store.read("API_KEY") is None
    store.write("API_KEY", "s3cr3t-value")
    assert store.read("API_KEY") == "s3cr3t-value"
    assert store.names() == ["API_KEY", "MODE"]
    # A release started now gets it; the file is private.
    assert target.variables() == {"MODE": "demo", "API_KEY": "s3cr3t-value"}
    assert (target.variables_file.stat().st_mode & 0o777) == 0o600
    with pytest.raises(SecretStoreError, match="not a valid environment variable name"):
        store.write("1BAD", "x")


def test_a_target_whose_variables_are_not_ours_refuses_a_write(tmp_path: Path) -> None:
    settings = CommandTargetSettings(deploy=["true"])
    store = open_secret_store("env", "demo", CommandTarget("demo", settings, tmp_path, tmp_path))
    with pytest.raises(SecretStoreError) as refused:
        store.write("API_KEY", "s3cr3t-value")
    assert "read-only" in str(refused.value) and "s3cr3t-value" not in str(refused.value)


def test_the_config_loads_a_plugin_target_and_check_when_installed(
    plugin_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "safeship.toml").write_text(CONFIG.format(port=free_port(), events="e.log"))
    sys.path.insert(0, str(plugin_dir))
    try:
        loaded = load_config(tmp_path / "safeship.toml")
    finally:
        sys.path.remove(str(plugin_dir))
    env = loaded.config.environments["demo"]
    assert env.target.type == "example"
    assert env.target.model_extra == {"command": CONFIG_COMMAND}
    (check,) = env.health.checks
    assert (check.type, check.name) == ("example", "flags")
    assert loaded.config.notify.sections() == {"example": {"file": "e.log"}}


CONFIG_COMMAND = ["python", "-m", "safeship.demo.demo_app", "--port", "{port}"]


def test_docs_quote_the_example_plugin_exactly() -> None:
    page = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    sources = [PLUGIN_DIST / "pyproject.toml", *(PLUGIN_DIST / "src").rglob("*.py")]
    quoted = [p.name for p in sources if p.name != "__init__.py" and p.read_text() in page]
    assert sorted(quoted) == ["check.py", "notifier.py", "pyproject.toml", "target.py"]
    # The metric source's example is the built-in one, quoted as it stands in the code.
    from safeship.analysis.metrics import RouterMetrics

    assert inspect.getsource(RouterMetrics) in page
