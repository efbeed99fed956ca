"""The adapters' traits the config reads from settings classes (so that validating
safeship.toml imports no adapter) are the adapters' own answers."""

from __future__ import annotations

from typing import get_args

import pytest

from safeship.config.models import _TARGETS_BY_TYPE, RouterSettings
from safeship.plugins import ROUTERS, TARGETS, load_adapter


@pytest.mark.parametrize("kind", sorted(_TARGETS_BY_TYPE))
def test_a_targets_settings_say_what_its_adapter_says(kind: str) -> None:
    assert _TARGETS_BY_TYPE[kind].routes_itself is load_adapter(TARGETS, kind).routes_itself


def test_exactly_one_router_does_not_split_traffic() -> None:
    # A self-routing target's default router is that one (config.models._SELF_ROUTING_ROUTER).
    assert len([m for m in get_args(RouterSettings) if not m.splits_traffic]) == 1
    for model in get_args(RouterSettings):
        load_adapter(ROUTERS, model.model_fields["type"].annotation.__args__[0])
