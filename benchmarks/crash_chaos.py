"""Benchmark 5: SIGKILL `safeship deploy` at random moments; `safeship recover` must fix it all.

Three environments of one project (canary 10 → 50 → 100; canary with a monitoring window;
blue-green with a keep-warm window), the demo service, the builtin router, the SQLite registry
and an env schema (so every deploy also passes "validating"). The duration of one whole deploy
of each environment is measured first, from the moment its deployment exists in the registry
(the command's first write) to its final status; then, KILLS times, a real
`safeship deploy ENV --version kN` subprocess is started and, once its deployment exists,
SIGKILLed after a delay drawn uniformly from [0, that duration] (seeded), and
`safeship recover ENV` runs. (Before its first write a killed deploy leaves nothing but its
lease; that start-up, mostly imports, is left out so the kills land in the deploy itself.)

Consistent after the recovery means: the release the registry last recorded as succeeded (the
killed one if it had completed) serves 100% through the router and answers real requests; the
killed deployment is final, and unless it succeeded its reason starts with "orchestrator lost";
no deployment is left in a non-final status; the lease is free; the run directory holds only the
serving release; and no process works in the project's directory besides the routers and the
serving releases (an orphan without a pid file counts too).

Prints kills per state at the kill (the registry's status then), how many were consistent,
"N/KILLS consistent" and every failure; exits 1 on any failure. After an inconsistent kill the
environment is redeployed (uninterrupted) so that the failure does not cascade into the next.
Usage: python benchmarks/crash_chaos.py [KILLS]   (default 50; seed fixed by SEED)
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from safeship._processes import free_port
from safeship.config import LoadedConfig, load_config
from safeship.pipeline import operations
from safeship.pipeline.environment import open_environment
from safeship.registry import DeploymentRecord, Registry

SEED = 5
SAFESHIP = [sys.executable, "-m", "safeship"]
PROBES = 10
# Each environment's settings: [environments.NAME] lines.
ENVIRONMENTS = {
    "canary": 'strategy = "canary"\nsteps = [10, 50, 100]\nbake_time = 0.6',
    "monitored": 'strategy = "canary"\nsteps = [25, 100]\nbake_time = 0.6\nmonitor_time = 1.2',
    "bluegreen": 'strategy = "blue-green"\nbake_time = 0.6\nblue_green = { keep_warm = 1.2 }',
}
SCHEMA_TABLE = '[{env}]\nAPP_MODE = {{ type = "enum", values = ["demo", "live"] }}\n'
# Bounds: one deploy or recover command, and the deploy a kill interrupts.
COMMAND_TIMEOUT = 60.0


def write_project(root: Path) -> LoadedConfig:
    parts = ['[project]\nname = "chaos"\n']
    for name, settings in ENVIRONMENTS.items():
        parts.append(
            f"""
[environments.{name}]
port = {free_port()}
{settings}
health = {{ interval = 0.25, backoff = 0.1, retries = 30 }}
rollback = {{ error_rate = 0.05, min_requests = 20 }}

[environments.{name}.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
env = {{ APP_MODE = "demo" }}
"""
        )
    (root / "safeship.toml").write_text("".join(parts), encoding="utf-8")
    schema = "".join(SCHEMA_TABLE.format(env=name) for name in ENVIRONMENTS)
    (root / "env.schema.toml").write_text(schema, encoding="utf-8")
    return load_config(root / "safeship.toml")


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAFESHIP, *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def deploy_started(
    loaded: LoadedConfig, proc: subprocess.Popen[bytes], env: str, version: str
) -> None:
    """Wait (bounded) until the deploy command has created its deployment row."""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    with Registry(loaded.registry_url()) as registry:
        while find(registry, env, version) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{env} {version}: the deploy never created its deployment")
            time.sleep(0.02)


def timed_deploy(root: Path, loaded: LoadedConfig, env: str, version: str) -> float:
    """Seconds from the deployment's creation to its final status (the registry's stamps)."""
    result = run_cli(root, "deploy", env, "--version", version)
    with Registry(loaded.registry_url()) as registry:
        record = find(registry, env, version)
    if result.returncode != 0 or record is None or record.duration_seconds is None:
        raise SystemExit(f"{env} {version}: deploy failed: {result.stdout}{result.stderr}")
    return record.duration_seconds


def project_processes(root: Path) -> set[int]:
    """Live processes working in the project: releases (cwd = root) and routers (below it)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # gone, or a zombie
            continue
        if cwd == root or root in cwd.parents:
            found.add(int(entry.name))
    return found


def describe(pid: int) -> str:
    """``pid`` and its command line (shortened), for a failure line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid} (gone)"
    return f"pid {pid} {' '.join(a.decode(errors='replace') for a in argv if a)[:120]}"


@dataclass
class Kill:
    number: int
    environment: str
    version: str
    delay: float
    state: str = ""
    problems: tuple[str, ...] = ()


def state_of(record: DeploymentRecord | None, exited: int | None) -> str:
    """The registry's status at the kill, with the canary step and pause when there is one."""
    if record is None:
        return "no deployment"
    state = record.status
    if record.status == "progressing" and record.current_step is not None:
        state += f" {record.current_step}%"
    if exited is not None and record.status != "succeeded":
        state += f" (exited {exited})"
    return state


def find(registry: Registry, env: str, version: str) -> DeploymentRecord | None:
    return next((r for r in registry.history(env, limit=5) if r.version == version), None)


def check(loaded: LoadedConfig, kill: Kill, stable_before: str) -> list[str]:
    """Every way the environment is not consistent after the recovery (empty: consistent)."""
    problems: list[str] = []
    env = kill.environment
    with Registry(loaded.registry_url()) as registry:
        record = find(registry, env, kill.version)
        last = registry.last_succeeded(env)
        active = registry.active(env)
        lease = registry.lease(env)
    expected = (
        kill.version if record is not None and record.status == "succeeded" else stable_before
    )
    if last is None or last.version != expected:
        problems.append(f"last succeeded is {last.version if last else None}, not {expected}")
    if record is not None and record.status != "succeeded":
        if record.status not in ("rolled_back", "aborted"):
            problems.append(f"{kill.version} left {record.status}")
        elif not (record.rollback_reason or "").startswith("orchestrator lost"):
            problems.append(f"{kill.version} {record.status}: {record.rollback_reason}")
    if active:
        problems.append("open: " + ", ".join(f"{r.version} {r.status}" for r in active))
    if lease is not None:
        problems.append(f"lease still held by {lease.holder}")
    environment = open_environment(loaded, env)
    weights = {b.name: b.weight for b in environment.router.backends()}
    if weights != {expected: 100}:
        problems.append(f"router weights {weights}, not {{{expected!r}: 100}}")
    try:
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            url = f"http://127.0.0.1:{environment.settings.port}/api/v1/items"
            answers = [client.get(url) for _ in range(PROBES)]
        wrong = [
            f"{a.status_code} from {a.headers.get('X-Release-Version', 'no release')}"
            for a in answers
            if a.status_code != 200 or a.headers.get("X-Release-Version") != expected
        ]
        if wrong:
            problems.append(f"{len(wrong)}/{PROBES} requests not served by {expected}: {wrong[0]}")
    except httpx.HTTPError as exc:
        problems.append(f"requests failed: {exc!r}")
    files = sorted(p.stem for p in loaded.run_dir(env).glob("*.json"))
    if files != [expected]:
        problems.append(f"run dir holds {files}, not [{expected!r}]")
    return problems


def expected_processes(loaded: LoadedConfig) -> set[int]:
    """The routers and the serving release of every environment."""
    pids: set[int] = set()
    for name in ENVIRONMENTS:
        environment = open_environment(loaded, name)
        serving = {b.name for b in environment.router.backends() if b.weight > 0}
        pids |= {r.pid for r in environment.target.releases() if r.version in serving and r.pid}
        router_pid = getattr(environment.router, "pid", None)
        if router_pid:
            pids.add(router_pid)
    return pids


def one_kill(root: Path, loaded: LoadedConfig, kill: Kill) -> None:
    env = kill.environment
    with Registry(loaded.registry_url()) as registry:
        last = registry.last_succeeded(env)
    assert last is not None
    proc = subprocess.Popen(
        [*SAFESHIP, "deploy", env, "--version", kill.version],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deploy_started(loaded, proc, env, kill.version)
        time.sleep(kill.delay)
        exited = proc.poll()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=COMMAND_TIMEOUT)
    finally:
        proc.kill()
    with Registry(loaded.registry_url()) as registry:
        kill.state = state_of(find(registry, env, kill.version), exited)
    recovered = run_cli(root, "recover", env)
    problems = [] if recovered.returncode == 0 else [f"recover exited {recovered.returncode}"]
    problems += check(loaded, kill, last.version)
    extra = project_processes(root) - expected_processes(loaded)
    if extra:
        problems.append("orphan processes: " + "; ".join(describe(pid) for pid in sorted(extra)))
        for pid in extra:  # so that one failure does not spill into the next kills
            os.kill(pid, signal.SIGKILL)
    kill.problems = tuple(problems)


def main() -> int:
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    if kills < 1:
        print("crash_chaos: KILLS must be a positive number", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="safeship-chaos-")).resolve()
    loaded = write_project(root)
    rng = random.Random(SEED)
    done: list[Kill] = []
    started = time.monotonic()
    try:
        durations = {}
        for env in ENVIRONMENTS:
            timed_deploy(root, loaded, env, "s0")  # the first release: no stable, all at once
            durations[env] = timed_deploy(root, loaded, env, "s1")
        print("deploy duration (the window kills are drawn from):", file=sys.stderr)
        for env, seconds in durations.items():
            print(f"  {env:10} {seconds:5.2f}s", file=sys.stderr)
        names = list(ENVIRONMENTS)
        for n in range(kills):
            env = names[n % len(names)]
            kill = Kill(n + 1, env, f"k{n + 1}", rng.uniform(0, durations[env]))
            one_kill(root, loaded, kill)
            done.append(kill)
            verdict = "ok" if not kill.problems else "INCONSISTENT: " + "; ".join(kill.problems)
            if kill.problems:
                # A full deploy puts the environment right, so one failure is counted once and
                # not again in every later kill of the same environment.
                run_cli(root, "deploy", env, "--version", f"repair{kill.number}")
            print(
                f"  kill {kill.number:2} {env:10} at {kill.delay:4.2f}s [{kill.state}]: {verdict}",
                file=sys.stderr,
            )
    finally:
        for env in ENVIRONMENTS:
            operations.down(loaded, env)
        shutil.rmtree(root, ignore_errors=True)
    return report(done, kills, time.monotonic() - started)


def report(done: list[Kill], kills: int, seconds: float) -> int:
    counts = Counter(k.state for k in done)
    ok = Counter(k.state for k in done if not k.problems)
    print(f"\nCrash chaos: SIGKILL of `safeship deploy` at {kills} random moments (seed {SEED})")
    print(f"{'state at kill':28} {'kills':>6} {'consistent':>11}")
    for state in sorted(counts, key=lambda s: (-counts[s], s)):
        print(f"{state:28} {counts[state]:6} {ok[state]:11}")
    consistent = sum(not k.problems for k in done)
    print(f"\n{consistent}/{kills} consistent ({seconds:.0f} s)")
    for k in done:
        if k.problems:
            where = f"{k.environment} {k.version} at {k.delay:.2f}s, {k.state}"
            print(f"FAILED kill {k.number} ({where}):")
            for problem in k.problems:
                print(f"  - {problem}")
    return 0 if consistent == kills else 1


if __name__ == "__main__":
    sys.exit(main())
