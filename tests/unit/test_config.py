"""safeship.toml loading: valid configs, and errors that name file, line and key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeship.config import ConfigError, find_config, load_config, parse_config
from safeship.config.loader import locate_key
from safeship.config.models import LocalTargetSettings
from safeship.targets.settings import CommandTargetSettings

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
    source = VALID.replace('type = "local", ', 'type = "kubernetes", ')
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


# -- strict types, bounds and names (issue 11 §4): each value once accepted silently ----------

LOCAL = """\
[environments.staging]
port = 8080
target = { command = ["python", "app.py", "--port", "{port}"] }
"""


def only_problem(source: str) -> str:
    (problem,) = problems(source)
    return problem


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "steps = [true, 100]",
            "safeship.toml:4: environments.staging.steps.0: must be an integer, "
            "not the boolean true",
        ),
        (
            'steps = ["10", 100]',
            "safeship.toml:4: environments.staging.steps.0: must be an integer, "
            "not the string '10'",
        ),
        (
            'bake_time = "3"',
            "safeship.toml:4: environments.staging.bake_time: must be a number, not the string '3'",
        ),
        (
            "bake_time = nan",
            "safeship.toml:4: environments.staging.bake_time: must be a finite number "
            "(not nan or inf)",
        ),
        (
            "bake_time = 1979-05-27",
            "safeship.toml:4: environments.staging.bake_time: a date or time is not a valid "
            "value here",
        ),
        (
            "[environments.staging.rollback]\nmin_requests = 99999999999999999999999",
            "safeship.toml:5: environments.staging.rollback.min_requests: number too large "
            "(integers fit in 64 bits)",
        ),
        (
            "[environments.staging.rollback]\nmin_requests = 99999999999",
            "safeship.toml:5: environments.staging.rollback.min_requests: Input should be less "
            "than or equal to 1000000",
        ),
    ],
)
def test_values_are_not_coerced_and_are_bounded(extra: str, expected: str) -> None:
    assert only_problem(LOCAL + extra + "\n") == expected


def test_port_must_be_an_integer_not_a_bool() -> None:
    assert only_problem(LOCAL.replace("port = 8080", "port = true")) == (
        "safeship.toml:2: environments.staging.port: must be an integer, not the boolean true"
    )


def test_whole_numbers_still_fill_float_settings() -> None:
    assert parse_config(LOCAL + "bake_time = 3\n").environments["staging"].bake_time == 3.0


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ('[""]', "command: the program (the first argument) must not be empty"),
        ("[]", "command: needs at least the program to run"),
        (
            '["{unknown}"]',
            "command: unknown placeholder {unknown} in '{unknown}' (known here: {port}, {version})",
        ),
        ('["app", "\\u0000"]', "command.1: contains a NUL character"),
    ],
)
def test_local_command_needs_a_program_and_known_placeholders(command: str, problem: str) -> None:
    source = LOCAL.replace('["python", "app.py", "--port", "{port}"]', command)
    assert only_problem(source) == f"safeship.toml:3: environments.staging.target.{problem}"


def test_shell_style_variables_and_literal_braces_pass_through() -> None:
    source = LOCAL.replace('"{port}"', '"{port}", "${HOME}", "{}", "{\\"a\\": 1}"')
    target = parse_config(source).environments["staging"].target
    assert isinstance(target, LocalTargetSettings)
    assert target.command[-3:] == [
        "${HOME}",
        "{}",
        '{"a": 1}',
    ]


@pytest.mark.parametrize(
    ("name", "shown_key"),
    [
        ('""', '""'),
        ('"../../etc"', '"../../etc"'),
        ('"st\\u0000g"', '"st\\u0000g"'),
        ("Prod", "Prod"),
    ],
)
def test_environment_names_follow_the_pattern(name: str, shown_key: str) -> None:
    problem = only_problem(LOCAL.replace("environments.staging", f"environments.{name}"))
    assert problem.startswith(f"safeship.toml:1: environments.{shown_key}: ")
    assert "environment name" in problem
    assert "\x00" not in problem


def test_names_in_use_are_valid() -> None:
    for name in ("local", "staging", "production", "prod", "my-env", "eu_west-1", "x" * 63):
        assert name in parse_config(LOCAL.replace("staging", name)).environments
    assert "environment name" in only_problem(LOCAL.replace("staging", "x" * 64))


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/api/./health",
        "/api/%2e%2E/health",
        "//evil.example/health",
        "/x\\r\\nHost: evil",
        "/x\\u001b[31m",
        "/a b",
        "/a\\\\b",
        "api/health",
    ],
)
def test_health_paths_stay_on_the_service(path: str) -> None:
    source = LOCAL + f'[environments.staging.health]\npath = "{path}"\n'
    assert only_problem(source).startswith("safeship.toml:5: environments.staging.health.path: ")


def test_health_paths_may_have_a_query() -> None:
    source = LOCAL + '[environments.staging.health]\npath = "/api/health?full=1"\n'
    assert parse_config(source).environments["staging"].health.path == "/api/health?full=1"


def test_smoke_paths_and_headers_are_checked() -> None:
    flow = (
        "[[environments.staging.health.smoke.flows]]\n"
        'name = "checkout"\n'
        'steps = [{ path = "/cart/{id}/../admin" }]\n'
    )
    assert "must not contain . or .. segments" in only_problem(LOCAL + flow)
    header = flow.replace('"/cart/{id}/../admin"', '"/cart", headers = { X-A = "1\\r\\nX-B: 2" }')
    assert "header X-A must be printable ASCII" in only_problem(LOCAL + header)


def test_urls_are_bounded_and_printable() -> None:
    check = '[[environments.staging.health.checks]]\nname = "api"\ntype = "http"\nurl = "{url}"\n'
    long_url = "http://example.com/" + "a" * 70_000
    assert "characters long (at most 2048)" in only_problem(LOCAL + check.format(url=long_url))
    problem = only_problem(LOCAL + check.format(url="http://example.com/\\u0007"))
    assert problem.startswith("safeship.toml:7: environments.staging.health.checks.0.url: ")


def test_command_target_scripts_and_url() -> None:
    command = """\
[environments.web]
[environments.web.target]
type = "command"
deploy = ["deploy.sh", "{version}"]
url = "https://app-{version}.example.com"
"""
    target = parse_config(command).environments["web"].target
    assert isinstance(target, CommandTargetSettings) and target.url is not None
    bad_script = command.replace('"{version}"]', '"{port}"]')
    assert "unknown placeholder {port}" in only_problem(bad_script)
    bad_env = command + 'env = { "A=B" = "1" }\n'
    assert "'A=B' is not a valid environment variable name" in only_problem(bad_env)
    for url in ("http://{version}", "http://{version}@example.com", "https://x{version}"):
        problem = only_problem(command.replace("https://app-{version}.example.com", url))
        assert problem.startswith("safeship.toml:5: environments.web.target.url: ")
        assert "a version never names the host" in problem


def test_deep_nesting_is_a_syntax_error_at_its_line() -> None:
    source = LOCAL + "x = " + "[" * 5000 + "]" * 5000 + "\n"
    assert only_problem(source) == (
        "safeship.toml:4: syntax: arrays or tables nested deeper than 32"
    )
    dotted = LOCAL + "[" + ".".join(["a"] * 40) + "]\n"
    assert only_problem(dotted).startswith("safeship.toml:4: a.a.a.")


def test_nesting_inside_strings_and_comments_is_not_counted() -> None:
    text = '"/' + "[" * 100 + '"'
    source = LOCAL + f"# {'[' * 100}\n" + f"[environments.staging.health]\npath = {text}\n"
    assert parse_config(source).environments["staging"].health.path == "/" + "[" * 100
    deep = LOCAL + 'x = ["]", ' + "[" * 2000 + "]" * 2000 + "]\n"
    assert only_problem(deep).startswith("safeship.toml:4: syntax: ")


def test_invalid_utf8_names_the_line_not_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "safeship.toml"
    path.write_bytes(LOCAL.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "safeship.toml:4: syntax: not valid UTF-8 (byte 0xe9 at column 6); save the file as UTF-8"
    ]


def test_oversized_and_unreadable_configs(tmp_path: Path) -> None:
    path = tmp_path / "safeship.toml"
    path.write_text(LOCAL + "#" * (2 * 1024 * 1024))
    with pytest.raises(ConfigError, match="larger than 1048576 bytes"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(tmp_path / ("x" * 10_000))
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(Path("/dev/zero"))


def test_thousands_of_problems_are_counted_not_listed() -> None:
    # Each listed problem is located in the file: listing 20,000 took quadratic time.
    source = LOCAL + "".join(f"key{i} = 1\n" for i in range(20_000))
    started = time.process_time()
    found = problems(source)
    assert time.process_time() - started < 2
    assert len(found) == 21
    assert found[0] == "safeship.toml:4: environments.staging.key0: unknown key"
    assert found[-1] == "safeship.toml: 19980 more problems (fix these first)"
