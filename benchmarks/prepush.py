"""The pre-push gate on a 2,000-file repository with a one-file change, beside a full scan.

Generates a repository (Python modules, YAML, JSON, Markdown; a safeship.toml, an env schema
and an OpenAPI spec) with a bare remote, pushes it, then commits a change to one file. Times,
as whole processes: `safeship prepush` without the user's tests and build (affected tests and
build are off), from cold (its cache removed before each run) and re-run with nothing changed
(the cache), and `detect-secrets scan` of the whole repository. Goal: the cold gate under 1 s
median. Besides wall time it prints each case's median CPU time (user + system of the child),
which other processes on a shared machine disturb much less.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cli_startup import measured_tree_env  # beside this script

FILES = 2000
RUNS = 11
SCAN_RUNS = 3
TIMEOUT = 600.0
# The gate runs this script's safeship from bytecode, as cli_startup.py runs its commands.
ENV = {
    **measured_tree_env(),
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
CONFIG = """[project]
name = "bench"

[environments.production]
port = 18090
[environments.production.target]
command = ["python", "-m", "app"]
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, timeout=TIMEOUT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def generate(root: Path) -> Path:
    git(root, "init", "-q", "--bare", "-b", "main", "remote.git")
    repo = root / "repo"
    git(root, "clone", "-q", "remote.git", "repo")
    git(repo, "checkout", "-q", "-b", "main")
    (repo / "safeship.toml").write_text(CONFIG)
    (repo / "env.schema.toml").write_text('[production]\nAPI_URL = { type = "url" }\n')
    (repo / "openapi.yaml").write_text("openapi: 3.0.3\npaths: {}\n")
    for n in range(FILES - 3):
        folder = repo / "src" / f"pkg{n // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = n % 4
        if kind == 0:
            text = f"mode: {n}\nname: service-{n}\nreplicas: 2\n"
            (folder / f"config_{n}.yaml").write_text(text)
        elif kind == 1:
            (folder / f"data_{n}.json").write_text(f'{{"id": {n}, "name": "item {n}"}}\n')
        elif kind == 2:
            (folder / f"notes_{n}.md").write_text(f"# Notes {n}\n\nSome prose here.\n" * 5)
        else:
            body = "".join(f"def f{i}(x: int) -> int:\n    return x + {i}\n\n" for i in range(20))
            (folder / f"mod_{n}.py").write_text(f'"""Module {n}."""\n\n' + body)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    git(repo, "push", "-q", "-u", "origin", "main")
    changed = repo / "src" / "pkg3" / "mod_303.py"
    changed.write_text(changed.read_text() + "\ndef g(x: int) -> int:\n    return x * 2\n")
    git(repo, "commit", "-q", "-am", "one-file change")
    return repo


CPU: dict[str, list[float]] = {}


def timed(argv: list[str], cwd: Path, case: str = "") -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, timeout=TIMEOUT)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[:4]} failed: {done.stderr.decode()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU.setdefault(case, []).append(cpu)
    return elapsed


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="safeship-bench-prepush-"))
    try:
        repo = generate(root)
        gate = [sys.executable, "-m", "safeship", "prepush"]
        cache = repo / ".safeship"
        cold, cached = "safeship prepush (cold, no cache)", "safeship prepush (re-run, cached)"
        results: dict[str, list[float]] = {cold: []}
        timed(gate, repo)  # warm the file cache
        for _ in range(RUNS):
            shutil.rmtree(cache, ignore_errors=True)
            results[cold].append(timed(gate, repo, cold))
        timed(gate, repo)
        results[cached] = [timed(gate, repo, cached) for _ in range(RUNS)]
        scan = [sys.executable, "-m", "detect_secrets", "scan", "--all-files"]
        whole = "detect-secrets scan (whole repo)"
        results[whole] = [timed(scan, repo, whole) for _ in range(SCAN_RUNS)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"Pre-push gate: {FILES} files, a one-file change (seconds; {os.cpu_count()} CPUs)")
    print(f"{'case':36} {'runs':>5} {'median':>8} {'max':>8} {'cpu':>8}")
    for name, samples in results.items():
        median = statistics.median(samples)
        cpu = statistics.median(CPU[name])
        print(f"{name:36} {len(samples):5d} {median:8.3f} {max(samples):8.3f} {cpu:8.3f}")
    cold = statistics.median(results["safeship prepush (cold, no cache)"])
    verdict = "meets" if cold < 1.0 else "MISSES"
    print(f"\nsafeship prepush cold median {cold:.3f}s: {verdict} the 1 s goal")


if __name__ == "__main__":
    main()
