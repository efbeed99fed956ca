"""The order a release deploys environments in: each after the ones it requires."""

from __future__ import annotations

from safeship.pipeline.release import chain_order

CHAIN = {"production": ["staging", "qa"], "staging": ["dev"], "qa": ["dev"], "dev": [], "docs": []}


def test_a_target_brings_its_required_ancestors_first_and_nothing_else() -> None:
    assert chain_order(CHAIN, "production") == ["dev", "staging", "qa", "production"]
    assert chain_order(CHAIN, "staging") == ["dev", "staging"]
    assert chain_order(CHAIN, "docs") == ["docs"]


def test_no_target_is_the_whole_chain_each_environment_once() -> None:
    assert chain_order(CHAIN, None) == ["dev", "staging", "qa", "production", "docs"]
