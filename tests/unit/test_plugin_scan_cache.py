"""The plugin registry's scan of the installed distributions, kept between runs
(safeship.plugins._all_entry_points): reused while nothing on sys.path changed, scanned again
when a distribution's entry points change, and never trusted from a shared file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import safeship
from safeship import plugins

DIST = "safeship_scan_probe-0.dist-info"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    directory = tmp_path / "site"
    (directory / DIST).mkdir(parents=True)
    (directory / DIST / "METADATA").write_text("Metadata-Version: 2.1\nName: scan-probe\n")
    monkeypatch.syspath_prepend(str(directory))
    return directory


def _points(site: Path, value: str) -> None:
    (site / DIST / "entry_points.txt").write_text(f"[safeship.notifiers]\nprobe = {value}\n")


def _scan(site: Path) -> dict[str, str]:
    plugins._all_entry_points.cache_clear()
    plugins.installed_fingerprint.cache_clear()
    assert sys.path[0] == str(site)
    return plugins._all_entry_points(tuple(sys.path))[plugins.NOTIFIERS]


def test_a_changed_distribution_is_scanned_again(site: Path) -> None:
    _points(site, "safeship.notify.console:ConsoleNotifier")
    assert _scan(site)["probe"] == "safeship.notify.console:ConsoleNotifier"
    cache = site.parent / "cache" / "safeship" / "entry-points.json"
    assert cache.stat().st_mode & 0o777 == 0o600
    _points(site, "safeship.notify.slack:SlackNotifier")  # another size: another key
    assert _scan(site)["probe"] == "safeship.notify.slack:SlackNotifier"
    (site / DIST / "entry_points.txt").unlink()
    assert "probe" not in _scan(site)


def test_a_shared_cache_file_is_not_trusted(site: Path) -> None:
    _points(site, "safeship.notify.console:ConsoleNotifier")
    _scan(site)
    cache = site.parent / "cache" / "safeship" / "entry-points.json"
    cache.write_text(cache.read_text().replace("console:ConsoleNotifier", "os:system"))
    os.chmod(cache, 0o644)
    assert _scan(site)["probe"] == "safeship.notify.console:ConsoleNotifier"


def test_a_warm_lookup_imports_no_importlib_metadata(site: Path) -> None:
    _points(site, "safeship.notify.console:ConsoleNotifier")
    probe = (
        "import sys\nsys.path.insert(0, sys.argv[1])\nfrom safeship import plugins\n"
        "cls = plugins.load_adapter(plugins.NOTIFIERS, 'probe')\n"
        "print(cls.__name__, 'importlib.metadata' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(safeship.__file__).parents[1]),
        "XDG_CACHE_HOME": str(site.parent / "cache"),
    }
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe, str(site)], env=env, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    assert [r.stdout.split() for r in runs] == [
        ["ConsoleNotifier", "True"],  # the first scans
        ["ConsoleNotifier", "False"],  # the next reuses it
    ], [r.stderr for r in runs]
