"""`safeship env check` on a 500-variable schema and .env file, as a whole process.

Beside it, for reference, the same validation by a plain pydantic-settings model reading the same
.env file (also a whole process: interpreter start, imports, validation), and the interpreter
alone. Prints median and max of N runs each; the goal is a median under 0.3 s.

    .venv/bin/python benchmarks/env_check.py [RUNS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
VARIABLES = 500
GOAL = 0.3

# One kind of variable per row: (schema rules, pydantic annotation, a valid value, an invalid one).
KINDS: list[tuple[str, str, str, str]] = [
    ('type = "string", min_length = 8', "Annotated[str, Field(min_length=8)]", "abcdefgh", "abc"),
    ('type = "url"', "AnyUrl", "https://api.example.com/v1", "not a url"),
    ('type = "int", min = 1, max = 1000', "Annotated[int, Field(ge=1, le=1000)]", "42", "0"),
    ('type = "float", min = 0, max = 1', "Annotated[float, Field(ge=0, le=1)]", "0.25", "2"),
    ('type = "bool"', "bool", "true", "maybe"),
    (
        'type = "enum", values = ["a", "b", "c"]',
        'Literal["a", "b", "c"]',
        "b",
        "d",
    ),
    ('type = "port"', "Annotated[int, Field(ge=1, le=65535)]", "8080", "70000"),
    (
        'type = "email"',
        'Annotated[str, Field(pattern=r"^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")]',
        "ops@example.com",
        "ops",
    ),
    (
        'type = "duration"',
        'Annotated[str, Field(pattern=r"^([0-9]+(\\.[0-9]+)?(us|ms|s|m|h|d))+$")]',
        "1h30m",
        "90",
    ),
    ('type = "json"', "Json[Any]", '{"a": [1, 2]}', "{a:"),
    (
        'type = "string", pattern = "^G-[A-Z0-9]+$"',
        'Annotated[str, Field(pattern=r"^G-[A-Z0-9]+$")]',
        "G-ABC123",
        "UA-1",
    ),
    (
        'type = "string", startswith = "sk-", secret = true',
        'Annotated[str, Field(pattern=r"^sk-")]',
        "sk-0123456789",
        "pk-0123456789",
    ),
]


def write_project(root: Path) -> None:
    schema = ["[bench]"]
    model = [
        "from typing import Annotated, Any, Literal",
        "from pydantic import AnyUrl, Field, Json",
        "from pydantic_settings import BaseSettings, SettingsConfigDict",
        "",
        "class Settings(BaseSettings):",
        '    model_config = SettingsConfigDict(env_file=".env", extra="ignore")',
    ]
    valid, invalid = [], []
    for i in range(VARIABLES):
        rules, annotation, good, bad = KINDS[i % len(KINDS)]
        name = f"VAR_{i:03d}"
        schema.append(f"{name} = {{ {rules} }}")
        model.append(f"    {name}: {annotation}")
        valid.append(f"{name}={json.dumps(good) if '{' in good else good}")
        # Every tenth variable wrong in the invalid file: the reporting path costs too.
        value = bad if i % 10 == 0 else good
        invalid.append(f"{name}={json.dumps(value) if '{' in value else value}")
    model += ["", "Settings()", "print('ok')"]
    (root / "env.schema.toml").write_text("\n".join(schema) + "\n")
    (root / ".env").write_text("\n".join(valid) + "\n")
    (root / "invalid.env").write_text("\n".join(invalid) + "\n")
    (root / "settings_model.py").write_text("\n".join(model) + "\n")


def time_once(argv: list[str], cwd: Path, expect: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(f"{argv} exited {done.returncode}, expected {expect}:\n{done.stderr}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root)
        check = [sys.executable, "-m", "safeship", "env", "check", "bench"]
        cases: dict[str, tuple[list[str], int]] = {
            "python -c pass (floor)": ([sys.executable, "-c", "pass"], 0),
            "safeship env check (valid)": ([*check, "--env-file", ".env"], 0),
            "safeship env check --json (valid)": ([*check, "--env-file", ".env", "--json"], 0),
            "safeship env check (50 invalid)": ([*check, "--env-file", "invalid.env"], 1),
            "pydantic-settings model (valid)": ([sys.executable, "settings_model.py"], 0),
        }
        results: dict[str, list[float]] = {}
        for name, (argv, expect) in cases.items():
            time_once(argv, root, expect)  # warm the file cache
            results[name] = [time_once(argv, root, expect) for _ in range(RUNS)]
    print(f"env check of {VARIABLES} variables, whole process, {RUNS} runs each (seconds)")
    print(f"{'case':36} {'median':>8} {'max':>8}")
    for name, samples in results.items():
        print(f"{name:36} {statistics.median(samples):8.3f} {max(samples):8.3f}")
    median = statistics.median(results["safeship env check (valid)"])
    verdict = "meets" if median < GOAL else "MISSES"
    print(f"\nsafeship env check median {median:.3f}s: {verdict} the {GOAL} s goal")


if __name__ == "__main__":
    main()
