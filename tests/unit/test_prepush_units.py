"""Pieces of the pre-push gate that need no repository: globs, modules, commands, settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from safeship.config import ConfigError
from safeship.hooks.affected import _imports, module_name
from safeship.hooks.result import matches
from safeship.hooks.runner import expand, run_command
from safeship.hooks.settings import PrepushSettings, load_gate_config


def test_globs() -> None:
    assert matches("pkg/conftest.py", ["conftest.py"])
    assert matches("src/a/b.py", ["src/**"]) and not matches("docs/a.md", ["src/**"])
    assert matches("a/migrations/0001.py", ["**/migrations/**"])
    assert matches("migrations/0001.py", ["**/migrations/**"])
    assert matches("poetry.lock", ["*.lock"]) and not matches("src/x.py", ["*.lock"])


def test_module_names_and_relative_imports() -> None:
    assert module_name("src/pkg/mod.py") == "pkg.mod"
    assert module_name("pkg/__init__.py") == "pkg"
    found = _imports(b"from . import a\nfrom ..b import c\nimport d.e\n", "pkg.sub.mod", False)
    assert {"pkg.sub", "pkg.sub.a", "pkg.b", "pkg.b.c", "d.e"} <= found
    assert _imports(b"def broken(:\n", "m", False) == set()


def test_commands_expand_files_and_report_failures(tmp_path: Path) -> None:
    assert expand(["pytest", "{files}", "-k={files}"], ["a", "b"]) == ["pytest", "a", "b", "-k=a b"]
    ok, lines = run_command([sys.executable, "-c", "print('x')"], tmp_path, 30)
    assert ok and lines[-1].endswith(": ok")
    ok, lines = run_command(
        [sys.executable, "-c", "print('boom'); raise SystemExit(4)"], tmp_path, 30
    )
    assert not ok and "exit 4" in lines[0] and "boom" in lines
    ok, lines = run_command(["no-such-command-xyz"], tmp_path, 30)
    assert not ok and lines == ["no-such-command-xyz: command not found"]
    ok, lines = run_command([sys.executable, "-c", "import time; time.sleep(5)"], tmp_path, 0.3)
    assert not ok and "took over" in lines[0]


def test_settings_without_a_config_and_with_one(tmp_path: Path) -> None:
    gate = load_gate_config(None)
    assert gate.config is None and gate.prepush == PrepushSettings()
    config = tmp_path / "safeship.toml"
    config.write_text(
        "[environments.a]\nport = 1\n[environments.a.target]\ncommand = ['x']\n"
        "[prepush]\nimpact = false\n[prepush.affected]\nenabled = true\nstack = 'command'\n"
    )
    gate = load_gate_config(config)
    assert gate.config is not None and not gate.prepush.impact
    assert gate.prepush.affected.stack == "command"
    config.write_text(config.read_text() + "timeout = -1\n")
    with pytest.raises(ConfigError, match=r"safeship.toml:10: prepush.affected.timeout"):
        load_gate_config(config)
