"""How fast each everyday command starts and answers: `--help`, `status`, `history`,
`config check` and `env check`, beside the interpreter alone.

Each command runs as a whole process (`python -m safeship ...`) in a generated project: a
safeship.toml with one environment, a registry holding 20 deployments (so `history` prints a
table and `status` a last deployment), an env.schema.toml and a valid .env.production. The
cases are run round-robin, so a burst of load on a shared machine hits them all alike. Prints
per case the median and max wall time, the median CPU time (user + system of the child: less
sensitive to other processes than wall time) and the ratio of medians to `--help`.

Goal (issue 12): each command under 0.3 s median on a quiet machine. On a loaded machine, read
the ratios to `--help` (0.15 s when quiet).

    python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = 0.3
SAFESHIP = [sys.executable, "-m", "safeship"]
CASES: dict[str, list[str]] = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "safeship --help": [*SAFESHIP, "--help"],
    "safeship status": [*SAFESHIP, "status"],
    "safeship history": [*SAFESHIP, "history"],
    "safeship config check": [*SAFESHIP, "config", "check"],
    "safeship env check production": [*SAFESHIP, "env", "check", "production"],
}
CONFIG = """[project]
name = "bench"

[environments.production]
port = {port}
[environments.production.target]
command = ["python", "-m", "app"]
"""
SCHEMA = """[production]
API_URL = { type = "url", startswith = "https://" }
API_TIMEOUT = { type = "int", min = 100, max = 60000, default = 5000 }
SESSION_SECRET = { type = "string", min_length = 32, secret = true }
DATABASE_URL = { type = "string", startswith = "postgresql://", secret = true }
ENVIRONMENT = { type = "enum", values = ["staging", "production"] }
FEATURE_X = { type = "bool", default = false }
"""
DOTENV = """API_URL=https://api.example.com
API_TIMEOUT=3000
SESSION_SECRET=0123456789abcdef0123456789abcdef
DATABASE_URL=postgresql://app@db.internal/app
ENVIRONMENT=production
"""


def make_project(root: Path) -> None:
    """A project with a config, an env schema and .env, and a registry with history."""
    from safeship._processes import free_port
    from safeship.config import load_config
    from safeship.registry import Registry

    (root / "safeship.toml").write_text(CONFIG.format(port=free_port()))
    (root / "env.schema.toml").write_text(SCHEMA)
    (root / ".env.production").write_text(DOTENV)
    loaded = load_config(root / "safeship.toml")
    with Registry(loaded.registry_url()) as registry:
        for n in range(20):
            deployment = registry.create_deployment("production", f"v{n}", f"{n:07x}", "bench")
            registry.update_deployment(deployment, status="succeeded", completed=True)


def measured_tree_env() -> dict[str, str]:
    """The environment of the timed commands: they import the same safeship as this script
    (a relative PYTHONPATH such as ``src`` would not resolve in the project directory, and
    the commands would silently time another checkout), from bytecode, as an installed
    safeship does: PYTHONDONTWRITEBYTECODE (set in some shells and CI) would make every run
    compile the source tree again (about 0.1 s of each command), so the commands write their
    bytecode to a cache of their own (PYTHONPYCACHEPREFIX) and never into the tree."""
    import safeship

    source = str(Path(safeship.__file__).resolve().parents[1])
    paths = [source, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "safeship-bench-pycache")
    return env


def time_once(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run; fails loudly if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:])} failed ({done.returncode}): {done.stderr[-400:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


ENV = measured_tree_env()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    root = Path(tempfile.mkdtemp(prefix="safeship-bench-cli-"))
    try:
        make_project(root)
        for argv in CASES.values():
            time_once(argv, root)  # warm the file cache (and the .pyc files)
        walls: dict[str, list[float]] = {name: [] for name in CASES}
        cpus: dict[str, list[float]] = {name: [] for name in CASES}
        for _ in range(runs):
            for name, argv in CASES.items():
                wall, cpu = time_once(argv, root)
                walls[name].append(wall)
                cpus[name].append(cpu)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    help_median = statistics.median(walls["safeship --help"])
    print(f"CLI start-up, {runs} runs each, round-robin (seconds; {os.cpu_count()} CPUs)")
    print(f"{'case':32} {'median':>8} {'max':>8} {'cpu':>8} {'vs --help':>10}")
    for name in CASES:
        median = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        print(
            f"{name:32} {median:8.3f} {max(walls[name]):8.3f} {cpu:8.3f} "
            f"{median / help_median:9.2f}x"
        )
    print()
    for name in CASES:
        if name.startswith("safeship"):
            median = statistics.median(walls[name])
            verdict = "meets" if median < BUDGET else "MISSES"
            print(f"{name:32} median {median:.3f}s: {verdict} the {BUDGET} s budget")


if __name__ == "__main__":
    main()
