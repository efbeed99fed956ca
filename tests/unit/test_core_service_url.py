"""Where `safeship health`/`smoke`/`baseline` look for a platform-routed environment: a release's
URL, else the URL the target itself names (the Target port's `service_url`), else a usage error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.config import load_config
from safeship.core._health import UsageError, _environment_url

COMMAND = """
[environments.web]
[environments.web.target]
type = "command"
deploy = ["true"]
url = "{url}"
"""


def test_a_command_targets_fixed_url_is_where_it_serves(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, "https://web.example.test/app/"))
    assert _environment_url(loaded, "web") == "https://web.example.test/app"


def test_a_url_per_version_without_a_release_asks_for_url(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, "https://{version}.example.test"))
    with pytest.raises(UsageError, match=r"no release URL is known.*--url"):
        _environment_url(loaded, "web")


def _write(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "safeship.toml"
    path.write_text(COMMAND.format(url=url))
    return path
