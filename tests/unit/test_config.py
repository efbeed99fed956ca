"""safeship.toml loading: valid configs, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeship.config import ConfigError, find_config, load_config, parse_config
from safeship.config.loader import locate_key

VALID = """\
[project]
name = "shop"

[registry]
url = "sqlite:///.safeship/registry.db"

[environments.staging]
port = 8080
strategy = "canary"
steps = [10, 50, 100]
bake_time = 2.5
target = { type = "local", command = ["python", "app.py", "--port", "{port}"] }

[environments.staging.rollback]
error_rate = 0.1

[environments.production]
port = 8081
strategy = "all-at-once"

[environments.production.target]
command = ["python", "app.py"]
env = { MODE = "prod" }
"""


def problems(source: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    return info.value.problems


def test_valid_config_loads_with_defaults() -> None:
    config = parse_config(VALID)
    staging = config.environments["staging"]
    assert staging.steps == [10, 50, 100]
    assert staging.bake_time == 2.5
    assert staging.rollback.error_rate == 0.1
    assert staging.rollback.min_requests == 20
    assert staging.health.path == "/api/health"
    assert config.environments["production"].target.env == {"MODE": "prod"}
    assert config.environments["production"].router.type == "builtin"


def test_steps_error_names_line_and_key() -> None:
    source = VALID.replace("steps = [10, 50, 100]", "steps = [10, 50]")
    assert problems(source) == [
        "safeship.toml:10: environments.staging.steps: the last step must be 100"
    ]


def test_unknown_key_is_an_error_at_its_line() -> None:
    source = VALID.replace('strategy = "all-at-once"', 'strategy = "all-at-once"\ncolour = "red"')
    assert problems(source) == ["safeship.toml:20: environments.production.colour: unknown key"]


def test_missing_key_points_at_its_table() -> None:
    source = VALID.replace("port = 8081\n", "")
    assert problems(source) == [
        "safeship.toml:17: environments.production.port: required key is missing"
    ]


def test_inline_table_error_points_at_the_inline_table() -> None:
    source = VALID.replace('type = "local", ', 'type = "ssh", ')
    (problem,) = problems(source)
    assert problem.startswith("safeship.toml:12: environments.staging.target.type: ")


def test_every_problem_is_reported() -> None:
    source = VALID.replace("bake_time = 2.5", "bake_time = -1").replace("port = 8081", "port = 0")
    found = problems(source)
    assert len(found) == 2
    assert found[0].startswith("safeship.toml:11: environments.staging.bake_time:")
    assert found[1].startswith("safeship.toml:18: environments.production.port:")


def test_syntax_error_names_the_line() -> None:
    source = VALID.replace("bake_time = 2.5", "bake_time = = 2.5")
    (problem,) = problems(source)
    assert problem.startswith("safeship.toml:11: syntax: ")


def test_shared_ports_are_rejected() -> None:
    (problem,) = problems(VALID.replace("port = 8081", "port = 8080"))
    assert "share port 8080" in problem


def test_registry_scheme_is_checked() -> None:
    (problem,) = problems(VALID.replace("sqlite:///", "mysql://"))
    assert problem.startswith("safeship.toml:5: registry.url:")


def test_relative_sqlite_url_resolves_against_config_dir(tmp_path: Path) -> None:
    path = tmp_path / "safeship.toml"
    path.write_text(VALID)
    loaded = load_config(path)
    assert loaded.registry_url() == f"sqlite:///{tmp_path.resolve()}/.safeship/registry.db"
    assert loaded.run_dir("staging") == tmp_path.resolve() / ".safeship" / "run" / "staging"


def test_find_config_messages(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"safeship\.toml not found in"):
        find_config(None, cwd=tmp_path)
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(tmp_path / "nope.toml")
    (tmp_path / "safeship.toml").write_text(VALID)
    assert find_config(None, cwd=tmp_path) == tmp_path / "safeship.toml"


def test_locate_key_handles_quoted_and_dotted_keys() -> None:
    source = '[environments."my-env"]\nport = 1\ntarget.command = ["x"]\n'
    assert locate_key(source, ("environments", "my-env", "port")) == 2
    assert locate_key(source, ("environments", "my-env", "target", "command", "0")) == 3
    assert locate_key(source, ("nothing",)) is None


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_config_error(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert all(p.startswith("safeship.toml:") for p in exc.problems)


def test_delivery_keys_default_off_and_load() -> None:
    staging = parse_config(VALID).environments["staging"]
    assert staging.analysis is None and staging.monitor_time == 0
    assert staging.blue_green.keep_warm == 30
    source = VALID.replace(
        'strategy = "all-at-once"', 'strategy = "blue-green"\nmonitor_time = 900'
    ) + (
        "\n[environments.production.blue_green]\nkeep_warm = 60\n"
        '\n[environments.production.analysis]\nmin_requests = 200\nnodata_policy = "pass"\n'
    )
    production = parse_config(source).environments["production"]
    assert production.strategy == "blue-green" and production.monitor_time == 900
    assert production.blue_green.keep_warm == 60
    assert production.analysis is not None and production.analysis.min_requests == 200
    assert production.analysis.nodata_policy == "pass"


def test_unknown_judge_key_is_an_error() -> None:
    source = VALID + "\n[environments.staging.analysis]\nmin_request = 10\n"
    assert any("min_request" in p for p in problems(source))


def test_pause_at_must_name_a_canary_step_below_100() -> None:
    staging = parse_config(VALID.replace("bake_time = 2.5", "bake_time = 2.5\npause_at = [50]"))
    assert staging.environments["staging"].pause_at == [50]
    for wrong in ("[20]", "[100]"):
        source = VALID.replace("bake_time = 2.5", f"bake_time = 2.5\npause_at = {wrong}")
        assert any("each pause must be one of the steps below 100" in p for p in problems(source))
