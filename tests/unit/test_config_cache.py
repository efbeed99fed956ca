"""The read-only commands' reuse of the last validated config (safeship.config.cache)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from safeship.config import ConfigError, load_config
from safeship.config.cache import load_config_reused

CONFIG = """[project]
name = "cached"

[environments.production]
port = {port}
[environments.production.target]
command = ["python", "-m", "app"]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "project" / "safeship.toml"
    path.parent.mkdir()
    path.write_text(CONFIG.format(port=18081))
    return path


def _cache(project: Path) -> Path:
    (cache,) = (project.parent.parent / "cache" / "safeship").iterdir()
    return cache


def test_a_second_load_reuses_the_first_validation(project: Path) -> None:
    first = load_config_reused(project)
    assert [p.name for p in project.parent.iterdir()] == ["safeship.toml"]  # the project as it was
    cache = _cache(project)
    assert cache.stat().st_mode & 0o777 == 0o600
    assert cache.parent.stat().st_mode & 0o777 == 0o700
    cache.write_bytes(cache.read_bytes())  # same content, newer file: still reused
    os.chmod(cache, 0o600)
    again = load_config_reused(project)
    assert again == first == load_config(project)


def test_a_changed_file_is_validated_again(project: Path) -> None:
    load_config_reused(project)
    project.write_text(CONFIG.format(port=18082))
    assert load_config_reused(project).config.environments["production"].port == 18082
    project.write_text(CONFIG.format(port=0))
    with pytest.raises(ConfigError, match="port"):
        load_config_reused(project)  # a cached valid config never hides a broken file


def test_a_changed_model_module_is_validated_again(project: Path) -> None:
    load_config_reused(project)
    header = _cache(project).read_bytes().split(b"\n", 1)[0]
    # Each module defining a model in the cache is named by its source file.
    models = sys.modules["safeship.config.models"].__file__
    assert models is not None and models.encode() in header
    poisoned = (
        _cache(project)
        .read_bytes()
        .replace(b'"sources": {', b'"sources": {"/nowhere.py": [1, 2], ', 1)
    )
    _cache(project).write_bytes(poisoned)
    os.chmod(_cache(project), 0o600)
    assert load_config_reused(project) == load_config(project)
    assert b"/nowhere.py" not in _cache(project).read_bytes()  # written again


@pytest.mark.parametrize("damage", ["group-readable", "torn", "not-json"])
def test_a_cache_that_is_not_private_or_whole_is_ignored(project: Path, damage: str) -> None:
    load_config_reused(project)
    cache = _cache(project)
    if damage == "group-readable":
        os.chmod(cache, 0o640)
    elif damage == "torn":
        cache.write_bytes(cache.read_bytes()[:-20])
    else:
        cache.write_bytes(b"{not json\n")
    assert load_config_reused(project) == load_config(project)


def test_a_plugin_uninstalled_since_is_validated_again(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safeship import plugins

    site = tmp_path / "site"
    dist = site / "safeship_cache_probe-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cache-probe\n")
    (dist / "entry_points.txt").write_text(
        "[safeship.targets]\nprobe = safeship.targets.local:LocalTarget\n"
    )
    monkeypatch.syspath_prepend(str(site))
    project.write_text(
        '[project]\nname = "p"\n\n[environments.production]\nport = 18083\n'
        '[environments.production.target]\ntype = "probe"\n'
    )

    def fresh() -> None:  # a new process: nothing remembered in memory
        plugins._all_entry_points.cache_clear()
        plugins.installed_fingerprint.cache_clear()

    fresh()
    assert load_config_reused(project).config.environments["production"].target.type == "probe"
    (dist / "entry_points.txt").unlink()  # uninstalled
    fresh()
    with pytest.raises(ConfigError, match="unknown type 'probe'"):
        load_config_reused(project)
    fresh()
