"""The ``[secrets]`` table's errors at config load (secrets/settings.py): one line each, naming
the file, a line and the key, for an unknown rotator or store, an environment that is not
configured, and a rotator option the rotator refuses (checked per environment, overrides too)."""

from __future__ import annotations

import pytest

from safeship.config import ConfigError, parse_config

BASE = """\
[environments.staging]
port = 9401
target = { type = "local", command = ["python", "app.py"] }

[secrets]
grace = 0.0

[secrets.rotate.JWT_SECRET]
kind = "random"
category = "application"
"""
OVERRIDE = "[secrets.rotate.JWT_SECRET.environment.staging]\n"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (BASE.replace('kind = "random"', 'kind = "lottery"'),
         "safeship.toml:5: secrets: rotate.JWT_SECRET.kind: unknown rotator 'lottery' "
         "(expected one of: 'command', 'manual', 'postgresql', 'random', 'redis')"),
        (BASE.replace("grace = 0.0", 'store = "s3"'),
         "safeship.toml:5: secrets: store: unknown store 's3' (expected one of: 'file', 'vault')"),
        (BASE + 'environments = ["staging", "production"]\n',
         "safeship.toml:5: secrets: secrets.rotate.JWT_SECRET: no environment 'production' is "
         "configured (staging)"),
        (BASE + 'alphabet = "emoji"\n',
         "safeship.toml:5: secrets: secrets.rotate.JWT_SECRET.alphabet (staging): Input should "
         "be 'alphanumeric', 'hex', 'urlsafe' or 'printable'"),
        (BASE + 'colour = "red"\n',
         "safeship.toml:5: secrets: secrets.rotate.JWT_SECRET.colour (staging): Extra inputs "
         "are not permitted"),
        (BASE + "length = 8\n",
         "safeship.toml:5: secrets: secrets.rotate.JWT_SECRET.length (staging): Input should be "
         "greater than or equal to 16"),
        (BASE + OVERRIDE + "length = 15\n",
         "safeship.toml:5: secrets: secrets.rotate.JWT_SECRET.length (staging): Input should be "
         "greater than or equal to 16"),
        (BASE.replace('"application"', '"misc"'),
         "safeship.toml:10: secrets.rotate.JWT_SECRET.category: Input should be 'database', "
         "'redis', 'platform', 'application', 'api' or 'oauth'"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_line_naming_file_line_and_key(source: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(source)
    assert error.value.problems == [problem]


def test_a_correct_table_loads_with_its_periods_and_options() -> None:
    config = parse_config(BASE + "length = 16\nperiod = 14.0\n" + OVERRIDE + "length = 32\n")
    secrets = config.secrets
    assert secrets.period("JWT_SECRET") == 14.0 and secrets.grace == 0.0
    assert secrets.rotate["JWT_SECRET"].options("staging") == {"length": 32}
    assert secrets.periods.of("database") == 90.0 and secrets.periods.of("api") == 0.0
