"""The ``[prepush]`` section of safeship.toml: each check of the pre-push gate, on/off, configured.

[prepush]
secrets = true                    # secret scan of the change (also runs with no safeship.toml)
impact = true                     # deploy impact summary (never fails)

[prepush.env]
enabled = true                    # when the schema, .env.example or safeship.toml changed
environments = ["staging"]        # also `env check` these (from .env and .env.ENV)

[prepush.affected]
enabled = true
command = ["python", "-m", "pytest", "-q", "-x", "{files}"]   # {files}: the affected tests
full = ["python", "-m", "pytest", "-q", "-x"]                 # when something global changed
# stack = "command": {files} are the changed files (e.g. npm test -- --findRelatedTests {files})

[prepush.build]
command = ["npm", "run", "build"]
inputs = ["src/**", "package.json"]

[prepush.openapi]
specs = ["openapi.yaml"]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from safeship.settings_model import SettingsModel

if TYPE_CHECKING:  # config.models may import PrepushSettings from here: no cycle at import
    from safeship.config.models import SafeshipConfig


Timeout = Annotated[float, Field(gt=0, le=3600)]


class EnvCheckSettings(SettingsModel):
    enabled: bool = True
    # Environments whose local variables (.env, .env.ENV) are checked too; parity always runs.
    environments: list[str] = Field(default_factory=list)


class AffectedSettings(SettingsModel):
    enabled: bool = False
    # "python": tests found from the import graph; "command": {files} are the changed files.
    stack: Literal["python", "command"] = "python"
    command: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["python", "-m", "pytest", "-q", "{files}"]
    )
    full: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["python", "-m", "pytest", "-q"]
    )
    tests: list[str] = Field(default_factory=lambda: ["tests"])
    # Changed files that make every test affected.
    global_files: list[str] = Field(
        default_factory=lambda: [
            "conftest.py",
            "**/conftest.py",
            "pyproject.toml",
            "setup.cfg",
            "setup.py",
            "safeship.toml",
            "*.lock",
            "requirements*.txt",
            "package-lock.json",
            "pnpm-lock.yaml",
            "yarn.lock",
        ]
    )
    timeout: Timeout = 600.0


class BuildSettings(SettingsModel):
    command: list[str] | None = None
    inputs: list[str] = Field(default_factory=lambda: ["**"])
    timeout: Timeout = 600.0


class OpenAPISettings(SettingsModel):
    enabled: bool = True
    specs: list[str] = Field(
        default_factory=lambda: ["openapi.yaml", "openapi.yml", "openapi.json"]
    )


class PrepushSettings(SettingsModel):
    secrets: bool = True
    impact: bool = True
    env: EnvCheckSettings = Field(default_factory=EnvCheckSettings)
    affected: AffectedSettings = Field(default_factory=AffectedSettings)
    build: BuildSettings = Field(default_factory=BuildSettings)
    openapi: OpenAPISettings = Field(default_factory=OpenAPISettings)


@dataclass(frozen=True)
class GateConfig:
    """What the gate reads from safeship.toml: nothing at all when the file is absent."""

    path: Path | None
    config: SafeshipConfig | None
    prepush: PrepushSettings


def load_gate_config(path: Path | None) -> GateConfig:
    """safeship.toml at ``path`` (None or missing: defaults, no config); ConfigError if invalid."""
    from safeship.config.loader import load_config

    if path is None or not path.is_file():
        return GateConfig(None, None, PrepushSettings())
    loaded = load_config(path)
    return GateConfig(loaded.path, loaded.config, loaded.config.prepush)
