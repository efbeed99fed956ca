"""What a secret rotation costs, step by step, for the random, postgresql and redis rotators.

The rotation workspace of the acceptance test (testing/rotation_rig.py): the rotation test app
(testing/rotation_app.py: a pool of persistent PostgreSQL connections, a Redis pool, JWTs) in
staging and production on the local target, blue-green behind the builtin router; a private
PostgreSQL that checks passwords and a private Redis, all on 127.0.0.1. Each rotator's secret
(JWT_SECRET, DATABASE_URL, REDIS_URL) is rotated RUNS times for staging then production, in
process (safeship.core.rotate_secret), with ``[secrets] grace = 0`` (the finish step follows
the last deploy at once) and a short ``keep_warm``, under a light load through both routers
(LOAD_RATE requests/s each; a failed request is counted and shown).

The step times come from the audit trail (rotation_steps: each step's started_at and
finished_at): create (the pending version in the store), apply + test (at the provider),
deploy (each environment's blue-green deploy of ``<version>+rot.<id>``), finish (labels, revoke
at the provider, the previous slot dropped; both environments). "whole" is the wall-clock time
of the rotation, from the call to its end, finish included. Medians of RUNS, seconds.

    PYTHONPATH=. python benchmarks/rotation.py [--runs 3] [--kinds random,postgresql,redis]
        [--keep-warm 0.5] [--rate 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # testing/: the rig

from safeship import core
from safeship.demo.load import LoadGenerator
from safeship.pipeline import operations
from safeship.registry import Registry
from testing.redis import start_redis
from testing.rotation_rig import (
    ENVIRONMENTS,
    RotationWorkspace,
    make_rotation_workspace,
    password_checking_postgres,
)

SECRET_OF_KIND = {"random": "JWT_SECRET", "postgresql": "DATABASE_URL", "redis": "REDIS_URL"}
LOAD_RATE = 10.0
KEEP_WARM = 0.5
MAX_SECONDS = 1800.0  # bounds the load of a whole benchmark
COLUMNS = (
    "create",
    "apply+test",
    *(f"deploy {e}" for e in ENVIRONMENTS),
    "finish",
    "whole",
)
# The audit trail's step names, by column (a step not named here is counted under "other").
STEP_COLUMN = {"create": "create", "set": "create", "apply": "apply+test", "test": "apply+test"}
FINISH_STEPS = ("finish", "revoke")


def step_times(workspace: RotationWorkspace, rotation_id: int) -> dict[str, float]:
    """Seconds per column of one rotation, from its audit rows."""
    with Registry(workspace.loaded.registry_url()) as registry:
        record = registry.rotation(rotation_id)
    assert record is not None, rotation_id
    times: dict[str, float] = defaultdict(float)
    for step in record.steps:
        if step.finished_at is None:
            continue
        seconds = (step.finished_at - step.started_at).total_seconds()
        if step.step == "deploy":
            times[f"deploy {step.environment}"] += seconds
        elif step.step in FINISH_STEPS:
            times["finish"] += seconds
        else:
            times[STEP_COLUMN.get(step.step, "other")] += seconds
    return times


def rotate_once(workspace: RotationWorkspace, secret: str) -> dict[str, float]:
    began = time.perf_counter()
    result = core.rotate_secret(
        workspace.loaded, secret, environments=list(ENVIRONMENTS), triggered_by="bench"
    )
    if result.status != "finished":  # grace 0 finishes at once; a protocol that waits: now
        result = core.finish_rotation(workspace.loaded, secret, force=True, triggered_by="bench")
    whole = time.perf_counter() - began
    if result.status != "finished":
        raise SystemExit(f"{secret}: the rotation ended {result.status}: {result}")
    return {**step_times(workspace, result.id), "whole": whole}


def measure(
    workspace: RotationWorkspace, kinds: list[str], runs: int, rate: float, keep_warm: float
) -> int:
    for environment in ENVIRONMENTS:
        outcome = operations.deploy(workspace.loaded, environment, "v1", triggered_by="bench")
        if not outcome.ok:
            raise SystemExit(f"the first deploy of {environment} failed: {outcome.reason}")
    loads = [
        LoadGenerator(workspace.router_url(e) + "/", rate=rate, max_seconds=MAX_SECONDS).start()
        for e in ENVIRONMENTS
    ]
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    try:
        for run in range(runs):
            for kind in kinds:
                samples[kind].append(rotate_once(workspace, SECRET_OF_KIND[kind]))
                print(f"run {run + 1}/{runs} {kind}: {samples[kind][-1]['whole']:.2f} s")
    finally:
        totals = [load.stop() for load in loads]
    failed = sum(sum(t.failed.values()) for t in totals)
    served = sum(sum(t.ok.values()) for t in totals)
    print_table(samples, runs, keep_warm)
    print(f"load: {served} requests answered, {failed} failed ({rate:g}/s per environment)")
    return 1 if failed else 0


def print_table(samples: dict[str, list[dict[str, float]]], runs: int, keep_warm: float) -> None:
    print(f"\nmedians of {runs} run(s), seconds; grace 0, keep_warm {keep_warm:g} s")
    print(f"{'rotator':<12}" + "".join(f"{c:>20}" for c in COLUMNS))
    for kind, rows in samples.items():
        cells = [statistics.median(row.get(column, 0.0) for row in rows) for column in COLUMNS]
        print(f"{kind:<12}" + "".join(f"{cell:>20.2f}" for cell in cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(SECRET_OF_KIND))
    parser.add_argument("--keep-warm", type=float, default=KEEP_WARM)
    parser.add_argument("--rate", type=float, default=LOAD_RATE, help="requests/s per env")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in SECRET_OF_KIND]
    if unknown or args.runs < 1:
        parser.error(f"--kinds: one or more of {', '.join(SECRET_OF_KIND)}; --runs >= 1")
    with tempfile.TemporaryDirectory(prefix="safeship-bench-rotation-") as tmp:
        root = Path(tmp)
        (root / "redis").mkdir()
        redis_server = start_redis(root / "redis")
        try:
            with password_checking_postgres() as postgres:
                workspace = make_rotation_workspace(
                    root, postgres, redis_server.port, grace=0.0, keep_warm=args.keep_warm
                )
                os.environ.update(workspace.admin_env)
                try:
                    return measure(workspace, kinds, args.runs, args.rate, args.keep_warm)
                finally:
                    for environment in ENVIRONMENTS:
                        operations.down(workspace.loaded, environment)
        finally:
            redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
