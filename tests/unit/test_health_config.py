"""Health levels in safeship.toml: valid sections, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.config import ConfigError, load_config, parse_config
from safeship.config.health import HealthSettings
from safeship.config.loader import locate_key
from safeship.config.placeholders import parse_json_path
from safeship.health.resolve import (
    ResolveError,
    config_problems,
    dependency_probes,
    smoke_probes,
)
from safeship.redaction import redact

BASE = """\
[environments.staging]
port = 8080
target = { command = ["python", "app.py"] }

[environments.staging.health]
fail_on_degraded = false

[environments.staging.health.deep]
path = "/api/health/deep"
latency_budget_ms = 500

[[environments.staging.health.checks]]
name = "database"
type = "postgres"
url = "${DATABASE_URL}"

[[environments.staging.health.checks]]
name = "cache"
type = "redis"
url = "redis://127.0.0.1:6379/0"
critical = false

[[environments.staging.health.checks]]
name = "payments"
type = "http"
url = "https://status.example.com/api/v2/status.json"
headers = { Authorization = "Bearer ${PAYMENTS_TOKEN}" }
assert = [{ path = "status.indicator", equals = "none" }]

[[environments.staging.health.checks]]
name = "smtp"
type = "tcp"
host = "127.0.0.1"
port = 25

[[environments.staging.health.smoke.flows]]
name = "items"
[[environments.staging.health.smoke.flows.steps]]
method = "POST"
path = "/api/v1/items"
headers = { "X-Api-Key" = "${API_KEY}" }
json = { name = "smoke" }
expect_status = 201
capture = { item_id = "id" }
[[environments.staging.health.smoke.flows.steps]]
method = "DELETE"
path = "/api/v1/items/{item_id}"
expect_status = [200, 204]

[environments.staging.health.baseline]
path = "/api/v1/items"
requests = 50
"""

ENVIRON = {
    "DATABASE_URL": "postgresql://app:hunter2pass@db.internal:5432/app",
    "PAYMENTS_TOKEN": "pay-token-0123456789",
    "API_KEY": "smoke-key-abcdef",
}


def problems(source: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    return info.value.problems


def test_all_levels_parse_with_defaults() -> None:
    health = parse_config(BASE).environments["staging"].health
    assert health.path == "/api/health" and health.retries == 20  # level 1 defaults kept
    assert health.deep is not None and health.deep.latency_budget_ms == 500
    assert [(c.type, c.name, c.critical) for c in health.checks] == [
        ("postgres", "database", True),
        ("redis", "cache", False),
        ("http", "payments", True),
        ("tcp", "smtp", True),
    ]
    assert health.smoke is not None
    (flow,) = health.smoke.flows
    assert flow.critical and [s.label for s in flow.steps] == [
        "POST /api/v1/items",
        "DELETE /api/v1/items/{item_id}",
    ]
    assert flow.steps[0].body == {"name": "smoke"}
    assert health.baseline is not None
    assert (health.baseline.requests, health.baseline.max_mean_ratio) == (50, 1.5)
    assert (health.baseline.max_p95_ratio, health.baseline.max_error_rate_increase) == (2.0, 0.01)


def test_levels_2_to_4_are_off_by_default() -> None:
    health = HealthSettings()
    assert (health.deep, health.checks, health.smoke, health.baseline) == (None, [], None, None)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'type = "tcp"',
            'type = "mysql"',
            "safeship.toml:32: environments.staging.health.checks.3.type: unknown type 'mysql'",
        ),
        (
            'url = "redis://127.0.0.1:6379/0"',
            'url = "http://127.0.0.1:6379/0"',
            "safeship.toml:20: environments.staging.health.checks.1.url: "
            "URL must start with redis://, rediss://",
        ),
        (
            'url = "https://status.example.com/api/v2/status.json"',
            'url = "https://"',
            "safeship.toml:26: environments.staging.health.checks.2.url: "
            "URL 'https://' has no host",
        ),
        (
            "port = 25",
            "port = 0",
            "safeship.toml:34: environments.staging.health.checks.3.port: ",
        ),
        (
            'path = "/api/v1/items/{item_id}"',
            'path = "/api/v1/items/{itemid}"',
            "safeship.toml:36: environments.staging.health.smoke.flows.0: "
            "step 2 (DELETE /api/v1/items/{itemid}) uses {itemid}, which no earlier step captures",
        ),
        (
            'capture = { item_id = "id" }',
            'capture = { item_id = "id..x" }',
            "safeship.toml:44: environments.staging.health.smoke.flows.0.steps.0.capture: "
            "invalid JSON path 'id..x'",
        ),
        (
            "expect_status = 201",
            "expect_status = 601",
            "safeship.toml:43: environments.staging.health.smoke.flows.0.steps.0.expect_status.0: "
            "Input should be less than or equal to 599",
        ),
        (
            'name = "smtp"',
            'name = "cache"',
            "safeship.toml:12: environments.staging.health.checks: check names must be distinct",
        ),
    ],
)
def test_bad_check_config_is_one_line_naming_line_and_key(
    old: str, new: str, expected: str
) -> None:
    assert old in BASE
    (problem,) = problems(BASE.replace(old, new))
    assert problem.startswith(expected), problem
    assert "\n" not in problem


def test_a_check_without_a_type_names_the_missing_key() -> None:
    (problem,) = problems(BASE.replace('type = "tcp"\n', ""))
    assert problem == (
        "safeship.toml:30: environments.staging.health.checks.3.type: required key is missing"
    )


def test_unknown_key_in_a_step_is_reported_at_its_line() -> None:
    source = BASE.replace("expect_status = [200, 204]", "expect_status = [200, 204]\nexpect = 1")
    assert problems(source) == [
        "safeship.toml:49: environments.staging.health.smoke.flows.0.steps.1.expect: unknown key"
    ]


def test_locate_key_counts_arrays_of_tables() -> None:
    source = "[[a.b]]\nx = 1\n[[a.b]]\nx = 2\n[[a.b.c]]\ny = 1\n[[a.b.c]]\ny = 2\n[[a.b]]\n"
    assert locate_key(source, ("a", "b", "0", "x")) == 2
    assert locate_key(source, ("a", "b", "1", "x")) == 4
    assert locate_key(source, ("a", "b", "1", "c", "1", "y")) == 8
    assert locate_key(source, ("a", "b", "2")) == 9


def test_json_paths() -> None:
    assert parse_json_path("$") == ()
    assert parse_json_path("items.0.id") == ("items", 0, "id")
    assert parse_json_path("$.data[1][2].name") == ("data", 1, 2, "name")
    for bad in ("", "a..b", "a[x]", "."):
        with pytest.raises(ValueError):
            parse_json_path(bad)


def test_missing_variables_are_config_problems_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "safeship.toml"
    path.write_text(BASE)
    loaded = load_config(path)
    found = config_problems(loaded, environ={"DATABASE_URL": ENVIRON["DATABASE_URL"]})
    assert found == [
        "safeship.toml:27: environments.staging.health.checks.2.headers.Authorization: "
        "environment variable PAYMENTS_TOKEN is not set",
        "safeship.toml:41: environments.staging.health.smoke.flows.0.steps.0.headers.X-Api-Key: "
        "environment variable API_KEY is not set",
    ]
    assert config_problems(loaded, environ=ENVIRON) == []


def test_a_variable_that_makes_a_bad_url_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "safeship.toml"
    path.write_text(BASE)
    environ = {**ENVIRON, "DATABASE_URL": "mysql://db/app"}
    (problem,) = config_problems(load_config(path), environ=environ)
    assert problem == (
        "safeship.toml:15: environments.staging.health.checks.0.url: URL must start with "
        "postgresql://, postgres:// (after resolving variables)"
    )


def test_resolved_header_values_are_secrets() -> None:
    health = parse_config(BASE).environments["staging"].health
    probes = dependency_probes(health, ENVIRON)
    payments = probes[2]
    assert payments.name == "http:payments"
    assert payments.headers == {"Authorization": "Bearer pay-token-0123456789"}  # type: ignore[attr-defined]
    flows = smoke_probes("http://127.0.0.1:1", health, ENVIRON)
    assert flows[0].steps[0].headers == {"X-Api-Key": "smoke-key-abcdef"}  # type: ignore[attr-defined]
    assert redact("sent Bearer pay-token-0123456789 and smoke-key-abcdef") == (
        "sent Bearer **** and ****"
    )
    assert "hunter2pass" not in redact(f"could not reach {ENVIRON['DATABASE_URL']}")


def test_resolving_without_the_variable_raises() -> None:
    health = parse_config(BASE).environments["staging"].health
    with pytest.raises(ResolveError, match="API_KEY is not set"):
        smoke_probes("http://127.0.0.1:1", health, {})


def test_the_annotated_example_in_the_docs_is_valid() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "health.md"
    block = docs.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    source = '[environments.production]\nport = 8080\ntarget = { command = ["app"] }\n' + block
    health = parse_config(source).environments["production"].health
    assert [c.type for c in health.checks] == ["postgres", "redis", "http", "tcp"]
    assert health.smoke is not None and len(health.smoke.flows[0].steps) == 3
    assert health.baseline is not None and health.baseline.on_regression == "rollback"
