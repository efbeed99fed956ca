"""The demo app's behaviour specs: parsing, per-version variables, deterministic errors."""

from __future__ import annotations

from fractions import Fraction

import pytest

from safeship.demo.demo_app import (
    Behaviour,
    BehaviourError,
    behaviour_env_name,
    behaviour_for,
    parse_behaviour,
    request_fails,
)


@pytest.mark.parametrize("spec", ["", "healthy", " healthy , ", ","])
def test_empty_or_healthy_spec_is_the_default(spec: str) -> None:
    assert parse_behaviour(spec) == Behaviour()


def test_spec_combines_items() -> None:
    got = parse_behaviour("error_rate=0.2, latency_ms=150,health_status=503,crash_after=2.5")
    assert got == Behaviour(
        error_rate=Fraction(1, 5), latency_ms=150.0, health_status=503, crash_after=2.5
    )
    assert parse_behaviour("crash_on_start").crash_on_start is True
    assert parse_behaviour("unhealthy_after=1.5").unhealthy_after == 1.5
    assert parse_behaviour("memory_growth_mb_per_s=50, cpu_burn=0.5") == Behaviour(
        memory_growth_mb_per_s=50.0, cpu_burn=0.5
    )


@pytest.mark.parametrize(
    "spec",
    [
        "explode",
        "crash_on_start=1",
        "error_rate",
        "error_rate=abc",
        "error_rate=1.5",
        "error_rate=-0.1",
        "error_rate=nan",
        "latency_ms=-5",
        "latency_ms=inf",
        "health_status=99",
        "health_status=abc",
        "crash_after=",
        "healthy,bogus=1",
        "memory_growth_mb_per_s=-1",
        "memory_growth_mb_per_s",
        "cpu_burn=1.5",
        "cpu_burn=x",
    ],
)
def test_bad_spec_is_one_line_error(spec: str) -> None:
    with pytest.raises(BehaviourError) as info:
        parse_behaviour(spec)
    assert "\n" not in str(info.value) and str(info.value)


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("v3", "DEMO_BEHAVIOUR_V3"),
        ("1.4.0", "DEMO_BEHAVIOUR_1_4_0"),
        ("release-2+b", "DEMO_BEHAVIOUR_RELEASE_2_B"),
        ("abc123", "DEMO_BEHAVIOUR_ABC123"),
    ],
)
def test_version_env_name(version: str, name: str) -> None:
    assert behaviour_env_name(version) == name


def test_version_variable_overrides_the_global_one() -> None:
    env = {"DEMO_BEHAVIOUR": "latency_ms=10", "DEMO_BEHAVIOUR_V3": "crash_on_start"}
    assert behaviour_for("v3", env) == Behaviour(crash_on_start=True)
    assert behaviour_for("v2", env) == Behaviour(latency_ms=10.0)
    assert behaviour_for("v2", {}) == Behaviour()
    # Set but empty: this version is healthy even though the global spec is not.
    assert behaviour_for("v1", {**env, "DEMO_BEHAVIOUR_V1": ""}) == Behaviour()


def test_error_rate_fails_exactly_that_fraction() -> None:
    fifth = Fraction("0.2")
    assert [n for n in range(1, 21) if request_fails(n, fifth)] == [5, 10, 15, 20]
    for text in ["0.2", "0.29", "0.07", "0.5", "1", "0"]:
        rate = Fraction(text)
        failures = sum(request_fails(n, rate) for n in range(1, 1001))
        assert failures == int(rate * 1000), text


def test_parsed_rate_is_exact() -> None:
    # As a float, 0.29 * 100 is 28.999...; the parsed Fraction keeps it exact.
    rate = parse_behaviour("error_rate=0.29").error_rate
    assert sum(request_fails(n, rate) for n in range(1, 101)) == 29
