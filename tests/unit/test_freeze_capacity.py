"""Freeze windows on a fake clock: date windows (naive times in the window's zone, explicit
offsets), recurring ones (cron in the zone, elapsed durations, both DST changes, overlaps),
the gate's verdicts (failed with the window, overridden asking for approval, passed naming the
next window), and the one-line config errors naming the key. The capacity gate's measurement
by the local target, and its skip where a target cannot measure its host."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from safeship import core
from safeship.config import ConfigError, LoadedConfig, parse_config
from safeship.gates.base import GateContext, GateOverride
from safeship.gates.capacity import CapacityGate
from safeship.gates.freeze import FreezeGate, gate, in_force, next_freeze
from safeship.gates.settings import CapacitySettings, FreezeWindow
from safeship.pipeline.environment import open_environment
from safeship.registry import Registry
from safeship.targets.base import Target
from safeship.targets.command import CommandTarget
from safeship.targets.settings import CommandTargetSettings

CONFIG = """\
[environments.production]
port = 8081
target = {{ command = ["python", "app.py"] }}

[[environments.production.gates.freeze]]
name = "year-end"
{window}
"""
YEAR_END = FreezeWindow(
    name="year-end",
    start="2026-12-20",
    end="2027-01-04",
    timezone="Europe/Berlin",
    reason="holidays",
)
# Friday 18:00 to Monday 06:00 in Berlin: 60 hours.
WEEKEND = FreezeWindow(
    name="weekend", cron="0 18 * * 5", duration=60 * 3600, timezone="Europe/Berlin"
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def nightly(minute: int, duration: float) -> FreezeWindow:
    """A window starting daily at 02:MM in Berlin, the hour DST changes move."""
    return FreezeWindow(
        name="nightly", cron=f"{minute} 2 * * *", duration=duration, timezone="Europe/Berlin"
    )


def test_a_date_window_reads_naive_times_in_its_zone() -> None:
    # Berlin's midnight of 4 January is 23:00 UTC the day before.
    frozen = in_force(YEAR_END, utc(2027, 1, 3, 22, 59))
    assert frozen is not None
    assert (
        frozen.describe() == "frozen by 'year-end' until 2027-01-04 00:00 Europe/Berlin (holidays)"
    )
    assert in_force(YEAR_END, utc(2027, 1, 3, 23, 0)) is None
    assert in_force(YEAR_END, utc(2026, 12, 19, 22, 59)) is None
    assert in_force(YEAR_END, utc(2026, 12, 19, 23, 0)) is not None


def test_a_date_window_with_an_offset_keeps_it() -> None:
    window = FreezeWindow(
        name="launch", start="2027-02-01T09:00:00+05:30", end="2027-02-01T10:00:00+05:30"
    )
    assert in_force(window, utc(2027, 2, 1, 3, 29)) is None
    frozen = in_force(window, utc(2027, 2, 1, 3, 30))
    assert frozen is not None
    assert frozen.describe() == "frozen by 'launch' until 2027-02-01 04:30 UTC"


def test_the_next_date_window_is_ahead_until_it_begins() -> None:
    ahead = next_freeze(YEAR_END, utc(2026, 12, 1))
    assert ahead is not None and ahead.start == utc(2026, 12, 19, 23)
    assert next_freeze(YEAR_END, utc(2026, 12, 25)) is None  # in force, none after it


def test_a_recurring_window_lasts_its_duration_from_each_start() -> None:
    friday = utc(2026, 12, 4, 17, 0)  # 18:00 in Berlin (CET, UTC+1)
    assert in_force(WEEKEND, utc(2026, 12, 4, 16, 59)) is None
    frozen = in_force(WEEKEND, friday)
    assert frozen is not None and frozen.start == friday
    assert frozen.describe() == "frozen by 'weekend' until 2026-12-07 06:00 Europe/Berlin"
    assert in_force(WEEKEND, utc(2026, 12, 7, 4, 59)) is not None
    assert in_force(WEEKEND, utc(2026, 12, 7, 5, 0)) is None
    upcoming = next_freeze(WEEKEND, utc(2026, 12, 5))  # the next begins after this one
    assert upcoming is not None and upcoming.start == utc(2026, 12, 11, 17, 0)


def test_a_start_in_the_hour_spring_skips_moves_after_it() -> None:
    # 28 March 2027: Berlin's clocks go 02:00 -> 03:00; 02:30 does not exist that night.
    window = nightly(30, 3600)
    frozen = in_force(window, utc(2027, 3, 28, 1, 30))
    assert frozen is not None
    assert frozen.start == utc(2027, 3, 28, 1, 0)  # 03:00 CEST
    assert frozen.describe() == "frozen by 'nightly' until 2027-03-28 04:00 Europe/Berlin"
    # The night before, 02:30 CET is 01:30 UTC; the night after, 02:30 CEST is 00:30 UTC.
    assert in_force(window, utc(2027, 3, 27, 1, 30)) is not None
    assert in_force(window, utc(2027, 3, 29, 0, 30)) is not None
    assert in_force(window, utc(2027, 3, 29, 1, 30)) is None


def test_a_start_in_the_hour_autumn_repeats_happens_twice_and_never_shortens() -> None:
    # 25 October 2026: Berlin's clocks go 03:00 -> 02:00; 02:30 happens at 00:30 and 01:30 UTC.
    short = nightly(30, 1800)
    assert in_force(short, utc(2026, 10, 25, 0, 45)) is not None
    assert in_force(short, utc(2026, 10, 25, 1, 15)) is None  # between the two
    again = in_force(short, utc(2026, 10, 25, 1, 45))
    assert again is not None and again.end == utc(2026, 10, 25, 2, 0)
    # An hour long, the two overlap into one freeze: until 02:30 UTC, 03:30 CET.
    hour = in_force(nightly(30, 3600), utc(2026, 10, 25, 0, 45))
    assert hour is not None
    assert (hour.start, hour.end) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30))
    assert hour.describe() == "frozen by 'nightly' until 2026-10-25 03:30 Europe/Berlin"


@pytest.fixture(scope="module")
def context_parts(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LoadedConfig, Registry]]:
    root = tmp_path_factory.mktemp("freeze")
    source = CONFIG.format(window='start = "2026-12-20"\nend = "2027-01-04"')
    loaded = LoadedConfig(parse_config(source), root / "safeship.toml")
    with Registry(loaded.registry_url()) as registry:
        yield loaded, registry


def context_for(
    parts: tuple[LoadedConfig, Registry],
    override: GateOverride | None = None,
    target: Target | None = None,
) -> GateContext:
    loaded, registry = parts
    env = open_environment(loaded, "production")
    return GateContext(
        loaded=loaded,
        environment=env.name,
        settings=env.settings,
        version="v2",
        commit=None,
        triggered_by="test",
        deployment_id="d" * 32,
        registry=registry,
        target=target or env.target,
        run_dir=env.run_dir,
        stable_version="v1",
        override=override,
    )


def test_the_gate_refuses_a_deploy_in_a_freeze_with_the_window(
    context_parts: tuple[LoadedConfig, Registry],
) -> None:
    freeze_gate = FreezeGate((YEAR_END, WEEKEND), clock=lambda: utc(2026, 12, 25, 12))
    context = context_for(context_parts)
    verdict = freeze_gate.check(context)

    assert verdict.outcome == "failed"
    assert verdict.reason == "frozen by 'year-end' until 2027-01-04 00:00 Europe/Berlin (holidays)"
    assert verdict.figures["in_force"] == [
        {
            "window": "year-end",
            "start": "2026-12-19T23:00:00+00:00",
            "end": "2027-01-03T23:00:00+00:00",
            "timezone": "Europe/Berlin",
            "reason": "holidays",
        }
    ]
    assert context.needs_approval == []


def test_an_override_lets_it_pass_and_asks_a_second_person(
    context_parts: tuple[LoadedConfig, Registry],
) -> None:
    # Both windows in force: Christmas Day 2026 is a Friday, 20:00 in Berlin.
    freeze_gate = FreezeGate((YEAR_END, WEEKEND), clock=lambda: utc(2026, 12, 25, 19))
    override = GateOverride(reason="payment outage fix", by="alice")
    context = context_for(context_parts, override)
    verdict = freeze_gate.check(context)

    assert verdict.outcome == "overridden"
    assert verdict.reason == (
        "frozen by 'year-end' until 2027-01-04 00:00 Europe/Berlin (holidays); "
        "frozen by 'weekend' until 2026-12-28 06:00 Europe/Berlin"
    )
    assert context.needs_approval == [
        "deploying during freeze 'year-end': payment outage fix",
        "deploying during freeze 'weekend': payment outage fix",
    ]


def test_outside_every_window_the_gate_passes_naming_the_next(
    context_parts: tuple[LoadedConfig, Registry],
) -> None:
    freeze_gate = FreezeGate((YEAR_END, WEEKEND), clock=lambda: utc(2026, 12, 1, 12))
    verdict = freeze_gate.check(context_for(context_parts))

    assert verdict.outcome == "passed"
    assert verdict.reason == (
        "no freeze window in force; next: 'weekend' from 2026-12-04 18:00 Europe/Berlin"
    )
    assert verdict.figures["next"]["start"] == "2026-12-04T17:00:00+00:00"


def test_the_gate_exists_only_where_windows_are_configured() -> None:
    config = parse_config(CONFIG.format(window='start = "2026-12-20"\nend = "2027-01-04"'))
    built = gate(config.environments["production"])
    assert built is not None and [w.name for w in built.windows] == ["year-end"]
    bare = parse_config(CONFIG.split("[[")[0].format())
    assert gate(bare.environments["production"]) is None


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (
            'cron = "0 25 * * *"\nduration = 60.0',
            "safeship.toml:7: environments.production.gates.freeze.0.cron: '0 25 * * *' is not "
            "a cron expression of 5 fields",
        ),
        (
            'cron = "0 0 30 2 *"\nduration = 60.0',
            "environments.production.gates.freeze.0.cron: '0 0 30 2 *' never matches",
        ),
        (
            'cron = "0 0 * * * 0"\nduration = 60.0',
            "environments.production.gates.freeze.0.cron: '0 0 * * * 0' is not a cron",
        ),
        (
            'start = "2026-12-20"\nend = "2027-01-04"\ntimezone = "Europe/Berlinn"',
            "safeship.toml:9: environments.production.gates.freeze.0.timezone: unknown time "
            "zone 'Europe/Berlinn' (an IANA name, e.g. Europe/Berlin)",
        ),
        (
            'cron = "0 18 * * 5"\nduration = 60.0\ntimezone = "Europe"',
            "environments.production.gates.freeze.0.timezone: unknown time zone 'Europe'",
        ),
        (
            'start = "2027-01-04"\nend = "2026-12-20"',
            "safeship.toml:8: environments.production.gates.freeze.0.end: end 2026-12-20 is "
            "not after start 2027-01-04",
        ),
        (
            'start = "20.12.2026"\nend = "2027-01-04"',
            "environments.production.gates.freeze.0.start: '20.12.2026' is not an ISO 8601",
        ),
        (
            'reason = "holidays"',
            "safeship.toml:5: environments.production.gates.freeze.0: freeze window 'year-end': "
            "needs start and end (a date window) or cron and duration (a recurring one)",
        ),
        (
            'start = "2026-12-20"\nend = "2027-01-04"\ncron = "0 18 * * 5"\nduration = 60.0',
            "environments.production.gates.freeze.0: freeze window 'year-end': give either "
            "start and end, or cron and duration",
        ),
        (
            'cron = "0 18 * * 5"',
            "freeze window 'year-end': a recurring window needs a duration (seconds)",
        ),
        ('start = "2026-12-20"', "freeze window 'year-end': needs both start and end"),
    ],
)
def test_a_bad_window_is_one_line_naming_its_key(window: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.format(window=window))
    (problem,) = info.value.problems
    assert expected in problem
    assert "\n" not in problem


def test_loading_date_windows_does_not_import_croniter(tmp_path: Path) -> None:
    # Config loading stays fast: croniter (~60 ms) only where a recurring window is configured.
    path = tmp_path / "safeship.toml"
    path.write_text(CONFIG.format(window='start = "2026-12-20"\nend = "2027-01-04"'))
    script = (
        "import sys; from pathlib import Path; from safeship.config import load_config; "
        f"load_config(Path({str(path)!r})); print('croniter' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    assert shown.stdout.strip() == "False"


def test_freeze_status_shows_each_environment_in_force_and_next(tmp_path: Path) -> None:
    source = (
        CONFIG.format(
            window='start = "2026-12-20"\nend = "2027-01-04"\ntimezone = "Europe/Berlin"\n'
            'reason = "holidays"\n\n[[environments.production.gates.freeze]]\nname = "weekend"\n'
            'cron = "0 18 * * 5"\nduration = 216000.0\ntimezone = "Europe/Berlin"'
        )
        + '\n[environments.staging]\nport = 8082\ntarget = { command = ["python", "app.py"] }\n'
    )
    loaded = LoadedConfig(parse_config(source), tmp_path / "safeship.toml")

    production, staging = core.freeze_status(loaded, now=utc(2026, 12, 22, 12))  # a Tuesday

    assert production.frozen and not staging.frozen
    [year_end] = production.in_force
    assert (year_end.window, year_end.end_local) == ("year-end", "2027-01-04 00:00 Europe/Berlin")
    assert [(p.window, p.start_local) for p in production.upcoming] == [
        ("weekend", "2026-12-25 18:00 Europe/Berlin")  # year-end has no later period
    ]
    assert staging.as_json() == {
        "environment": "staging",
        "frozen": False,
        "in_force": [],
        "upcoming": [],
    }
    [only] = core.freeze_status(loaded, "staging")
    assert only.environment == "staging" and only.windows == 0


def test_the_local_target_measures_this_machine(
    context_parts: tuple[LoadedConfig, Registry],
) -> None:
    env = open_environment(context_parts[0], "production")
    room = env.target.capacity()  # type: ignore[attr-defined]

    assert room.memory_available_mb > 0
    assert room.disk_free_mb > 0
    assert room.disk_path == str(env.run_dir)
    assert room.resident_mb == {}  # no release runs


def test_capacity_is_skipped_where_the_target_cannot_measure_its_host(
    context_parts: tuple[LoadedConfig, Registry], tmp_path: Path
) -> None:
    settings = CommandTargetSettings(deploy=["./deploy.sh", "{version}"])
    scripts = CommandTarget("production", settings, tmp_path / "run", tmp_path)
    capacity_gate = CapacityGate(CapacitySettings(enabled=True, memory_mb=1.0))
    verdict = capacity_gate.check(context_for(context_parts, target=scripts))

    assert verdict.outcome == "skipped"
    assert verdict.reason == "the CommandTarget of production cannot measure its host"
