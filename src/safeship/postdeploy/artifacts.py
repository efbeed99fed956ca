"""The artifacts step (placeholder until the artifact store is merged)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeship.gates.settings import PostDeploySettings


def step(settings: PostDeploySettings) -> None:
    return None
