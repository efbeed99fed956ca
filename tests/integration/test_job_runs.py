"""The background jobs' claimed runs (``job_runs``) on real SQLite and PostgreSQL: one claimer
per (job, key), even racing; a stale claim is taken over; migration 0010 goes both ways."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from safeship.registry import Registry
from safeship.registry.migrations import alembic_config

T0 = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_one_claimer_per_run_and_a_stale_claim_is_taken_over(registry_url: str) -> None:
    clock = Clock()
    with Registry(registry_url, clock=clock) as registry:
        key = "production/2026-11-30T04:00"
        assert registry.claim_job_run("drift", key, "a", stale_after=600)
        assert not registry.claim_job_run("drift", key, "b", stale_after=600)
        assert registry.claim_job_run("drift", "staging/2026-11-30T04:00", "b", stale_after=600)
        clock.now += timedelta(seconds=601)  # a never finished: killed mid-run
        assert registry.claim_job_run("drift", key, "b", stale_after=600)
        assert not registry.finish_job_run("drift", key, "a", ok=True)  # no longer a's
        assert registry.finish_job_run("drift", key, "b", ok=False, error="production: boom")
        run = registry.job_run("drift", key)
        assert run is not None
        assert (run.holder, run.ok, run.error) == ("b", False, "production: boom")
        assert run.finished_at == T0 + timedelta(seconds=601)
        clock.now += timedelta(days=1)
        assert not registry.claim_job_run("drift", key, "c", stale_after=600)  # finished: done
        assert registry.job_run("drift", "nothing") is None


def test_racing_claimers_get_one_run(registry_url: str) -> None:
    registries = [Registry(registry_url) for _ in range(4)]
    registries[0].claim_job_run("drift", "warm-up", "x")  # the schema is migrated once
    won: list[str] = []
    start = threading.Barrier(len(registries))

    def claim(registry: Registry, holder: str) -> None:
        start.wait(5)
        if registry.claim_job_run("drift", "production/2026-11-30T04:00", holder):
            won.append(holder)

    threads = [threading.Thread(target=claim, args=(r, f"p{i}")) for i, r in enumerate(registries)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        for registry in registries:
            registry.close()
    assert len(won) == 1


def test_migration_0010_upgrades_and_downgrades(registry_url: str) -> None:
    from safeship.registry.engine import open_engine, parse_url, writer

    with Registry(registry_url) as registry:
        registry.claim_job_run("drift", "k", "a")
    engine = open_engine(parse_url(registry_url))
    try:
        with writer(engine).begin() as connection:
            command.downgrade(alembic_config(connection), "0006")
        with engine.connect() as connection:
            assert "job_runs" not in sa.inspect(connection).get_table_names()
        with writer(engine).begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        with engine.connect() as connection:
            assert "job_runs" in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()
