"""The gates' part of safeship.toml: the chain of environments must name configured
environments and must not loop."""

from __future__ import annotations

import pytest

from safeship.config import ConfigError, parse_config

TWO = """\
[environments.staging]
port = 8080
target = {{ command = ["python", "app.py"] }}
{staging}

[environments.production]
port = 8081
target = {{ command = ["python", "app.py"] }}
{production}
"""


def problems(source: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    return info.value.problems


def test_a_chain_loads_with_its_defaults() -> None:
    config = parse_config(TWO.format(staging="", production='requires = ["staging"]'))
    production = config.environments["production"]
    assert production.requires == ["staging"]
    assert production.max_age == 7 * 86_400
    assert config.environments["staging"].requires == []


def test_a_chain_naming_an_unknown_environment_is_refused() -> None:
    (problem,) = problems(TWO.format(staging="", production='requires = ["stagign"]'))
    assert "environments.production.requires names stagign, which is not configured" in problem


def test_a_chain_that_loops_is_refused() -> None:
    source = TWO.format(staging='requires = ["production"]', production='requires = ["staging"]')
    (problem,) = problems(source)
    assert "environments require each other in a cycle: " in problem
    assert (
        "staging -> production -> staging" in problem
        or "production -> staging -> production" in problem
    )
