"""Every table of safeship.toml is a model on one base, kept beside its adapter."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Annotated, Union, get_args, get_origin

from pydantic import BaseModel

from safeship.config import SafeshipConfig
from safeship.plugins import PluginSettings
from safeship.settings_model import SettingsModel

ADAPTER_PACKAGES = ("safeship.targets", "safeship.routing", "safeship.paths", "safeship.railway")


def models_in(annotation: object) -> list[type[BaseModel]]:
    """The model classes an annotation names (through unions, Annotated, lists and dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    if origin is Annotated:
        return models_in(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, dict, tuple):
        return [model for arg in get_args(annotation) for model in models_in(arg)]
    return []


def every_model() -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [SafeshipConfig]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for info in model.model_fields.values():
            todo += models_in(info.annotation)
    return seen


def test_every_table_forbids_unknown_keys_and_is_frozen() -> None:
    models = every_model()
    assert len(models) > 20  # the walk reached the adapters' tables
    # A third party's table: its keys are the plugin's to read, and its type (or name) must be
    # a registered plugin, which their validators check (tests/integration/test_plugins.py).
    # A rotated secret's table carries its rotator's own keys, which the rotator's Options
    # model validates at load (tests/unit/test_secrets_config.py).
    plugin_tables = {
        "PluginTargetSettings",
        "PluginCheckSettings",
        "NotifySettings",
        "RotatedSecretSettings",
    }
    for model in models:
        extra = "allow" if model.__name__ in plugin_tables else "forbid"
        assert model.model_config.get("extra") == extra, model
        assert model.model_config.get("frozen") is True, model


def test_adapter_settings_sit_on_the_one_base_in_their_package_settings_module() -> None:
    models = every_model()
    adapters = [m for m in models if m.__module__.startswith(ADAPTER_PACKAGES)]
    assert {m.__name__ for m in adapters} >= {
        "LocalTargetSettings",
        "RailwayTargetSettings",
        "CommandTargetSettings",
        "BuiltinRouterSettings",
        "NginxRouterSettings",
        "PlatformRouterSettings",
        "PathsSettings",
        "RailwayNativePathSettings",
    }
    for model in models:
        # A third party's table sits on PluginSettings: its keys are the plugin's own.
        assert issubclass(model, SettingsModel | PluginSettings), model
    for model in adapters:
        assert model.__module__.endswith(".settings"), model


def test_no_table_builds_its_validator_at_import() -> None:
    """Every command loads the config; a table whose validator were built at import (a model
    instance as a default, a base without defer_build) would cost each of them start-up."""
    script = (
        "import safeship.config\n"
        "from safeship.settings_model import SettingsModel\n"
        "todo, built = [SettingsModel], []\n"
        "while todo:\n"
        "    model = todo.pop()\n"
        "    todo += model.__subclasses__()\n"
        "    if model.__pydantic_complete__:\n"
        "        built.append(model.__name__)\n"
        "print(sorted(built))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
