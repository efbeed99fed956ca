"""How fast `safeship --help` starts, beside the interpreter alone and an eager-import CLI.

The alternative it is measured against imports the core at start-up (what the CLI would cost
without lazy imports). Prints median and max of N runs each, and the ratio of medians.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15
CASES: dict[str, list[str]] = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "safeship --help (lazy)": [sys.executable, "-m", "safeship", "--help"],
    "eager: import core + --help": [
        sys.executable,
        "-c",
        "import safeship.pipeline.operations, safeship.cli.render, safeship.demo.runner;"
        "import sys; sys.argv=['safeship','--help'];"
        "from safeship.cli.main import run; run()",
    ],
}


def time_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    results: dict[str, list[float]] = {}
    for name, argv in CASES.items():
        time_once(argv)  # warm the file cache
        results[name] = [time_once(argv) for _ in range(RUNS)]
    lazy = statistics.median(results["safeship --help (lazy)"])
    print(f"CLI start-up, {RUNS} runs each (seconds)")
    print(f"{'case':32} {'median':>8} {'max':>8} {'vs lazy':>8}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:32} {median:8.3f} {max(samples):8.3f} {median / lazy:7.2f}x")
    verdict = "meets" if lazy < 0.5 else "MISSES"
    print(f"\nsafeship --help median {lazy:.3f}s: {verdict} the 0.5 s budget")


if __name__ == "__main__":
    main()
