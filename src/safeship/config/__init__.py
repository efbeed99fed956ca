"""safeship.toml: models and loading."""

from safeship.config.loader import (
    CONFIG_FILENAME,
    ConfigError,
    LoadedConfig,
    find_config,
    load_config,
    parse_config,
)
from safeship.config.models import EnvironmentSettings, SafeshipConfig

__all__ = [
    "CONFIG_FILENAME",
    "ConfigError",
    "EnvironmentSettings",
    "LoadedConfig",
    "SafeshipConfig",
    "find_config",
    "load_config",
    "parse_config",
]
