"""The canary judge on real healthy deploys: how many does it roll back, and why.

DEPLOYS real deployments (default 20) of the demo service with the local target and the
builtin router, each new version against the one before it, under steady load through the
router (50 requests/s from safeship.demo.load.LoadGenerator, all on 127.0.0.1). Both releases
are healthy and alike: every API request sleeps ``latency_ms`` and 1% of them answer 500 (the
demo's background error rate), so the judge compares two equal services with the machine's own
noise (scheduling, GC, other processes) in their latencies. Canary steps 10% and 50% are judged,
each baked BAKE seconds; the analysis settings are the defaults except the sample minimums and
the warm-up, scaled to what 10% of 50 req/s gives in BAKE seconds (5 requests/s).

Any rollback here is a false alarm. Prints each deploy's outcome, the rollbacks with their
reasons, and the false rollback rate per deploy and per judged step.
Usage: python benchmarks/judge_real_deploys.py [DEPLOYS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from safeship.config import LoadedConfig, load_config
from safeship.demo.demo_app import behaviour_env_name
from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.demo.runner import free_port
from safeship.pipeline import operations
from safeship.pipeline.states import Status

ENV = "bench"
RATE = 50.0  # requests/s through the router
BAKE = 10.0  # seconds per step
STEPS = (10, 50, 100)  # the judge runs at the steps below 100
BEHAVIOUR = "latency_ms=20,error_rate=0.01"  # both releases: the same healthy service


def versions(deploys: int) -> list[str]:
    """v0 is the first stable release (no judge: nothing to compare); v1..vN are judged."""
    return [f"v{i}" for i in range(deploys + 1)]


def write_config(root: Path, deploys: int) -> LoadedConfig:
    behaviours = ", ".join(f'{behaviour_env_name(v)} = "{BEHAVIOUR}"' for v in versions(deploys))
    (root / "safeship.toml").write_text(
        f"""
[environments.{ENV}]
port = {free_port()}
steps = [{", ".join(str(s) for s in STEPS)}]
bake_time = {BAKE}
health = {{ interval = 0.5, backoff = 0.1 }}

# 10% of {RATE:g} req/s for {BAKE:g} s: 50 canary requests; latency counts after the warm-up.
[environments.{ENV}.analysis]
min_requests = 40
min_latency_samples = 25
warmup = 3.0

[environments.{ENV}.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
env = {{ {behaviours} }}
""",
        encoding="utf-8",
    )
    return load_config(root / "safeship.toml")


def main() -> int:
    deploys = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if deploys < 1:
        print("DEPLOYS must be at least 1", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="safeship-judge-bench-"))
    loaded = write_config(root, deploys)
    names = versions(deploys)
    judged_steps = sum(1 for s in STEPS if s < 100)
    rollbacks: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    load: LoadGenerator | None = None
    started = time.monotonic()
    try:
        first = operations.deploy(loaded, ENV, names[0])
        if not first.ok:
            print(f"first deploy failed: {first.reason}", file=sys.stderr)
            return 1
        port = loaded.config.environments[ENV].port
        # Bounded: stops by itself after the longest the deploys can take.
        load = LoadGenerator(
            f"http://127.0.0.1:{port}/api/v1/items",
            rate=RATE,
            max_seconds=deploys * 300.0,
            max_requests=int(RATE * deploys * 300),
        )
        load.start()
        for i, version in enumerate(names[1:], start=1):
            t0 = time.monotonic()
            outcome = operations.deploy(loaded, ENV, version)
            took = time.monotonic() - t0
            print(
                f"  deploy {i:2}/{deploys} {version}: {outcome.status} ({took:.0f} s)", flush=True
            )
            if outcome.status is Status.ROLLED_BACK:
                rollbacks.append((version, outcome.reason or ""))
                print(f"      reason: {outcome.reason}")
            elif not outcome.ok:
                other.append((version, f"{outcome.status}: {outcome.reason}"))
        totals = load.stop()
    finally:
        if load is not None:
            load.stop()
        operations.down(loaded, ENV)
    judged = deploys * judged_steps
    print(
        f"\n{deploys} healthy deploys (steps {list(STEPS)}, bake {BAKE:g} s, "
        f"{RATE:g} req/s, {judged} judged canary steps) in {time.monotonic() - started:.0f} s"
    )
    judge_rollbacks = [r for r in rollbacks if "canary analysis" in r[1]]
    print(
        f"rolled back: {len(rollbacks)}/{deploys} ({len(rollbacks) / deploys:.1%}); "
        f"by the judge: {len(judge_rollbacks)} "
        f"({len(judge_rollbacks) / deploys:.1%} of deploys, "
        f"{len(judge_rollbacks) / judged:.1%} of judged steps)"
    )
    for version, reason in rollbacks:
        print(f"  {version}: {reason}")
    for version, reason in other:
        print(f"  {version} did not succeed: {reason}")
    ok, failed = sum(totals.ok.values()), sum(totals.failed.values())
    print(f"load: {ok} ok, {failed} failed ({totals.failed[NO_RELEASE]} with no release)")
    return 0 if not rollbacks and not other else 1


if __name__ == "__main__":
    sys.exit(main())
