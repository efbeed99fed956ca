"""Fuzzing safeship.toml and the command line (issue 11, acceptance).

Whatever the text of safeship.toml, loading it returns a config or raises ConfigError whose
problems are each one printable ``safeship.toml:LINE: ...`` line; whatever the arguments, the
`safeship` command ends with exit 0, 1 or 2 and, on error, lines of ``safeship: error: ...``:
never a traceback, never an ``unexpected`` error class, no case over 2 s.

Strategies build near-valid configs (every key of an environment, with values of the right type,
of the wrong type, out of bounds, hostile strings), plus raw text and bytes. The command line is
run in-process through the console entry point (safeship.cli.main.run), in an empty directory or
one with a valid config, and only commands that cannot start processes or reach the network
(health checks go to 127.0.0.1:9, where nothing listens).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeship.cli import main
from safeship.config import ConfigError, load_config, parse_config

# A fixed budget: the whole file runs in well under a minute. No case may take over 2 s of
# CPU (measured by `within_budget`, so that the other processes of a loaded CI machine do not
# count) nor hang: 10 s of wall-clock time.
CPU_SECONDS = 2.0
WALL_SECONDS = 10.0
BUDGET = settings(
    max_examples=120,
    deadline=None,  # wall-clock: see within_budget
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same cases every run: a failure here is a defect, not bad luck
)
CLI_BUDGET = settings(BUDGET, max_examples=50)


@contextlib.contextmanager
def within_budget(what: object) -> Iterator[None]:
    cpu, wall = time.process_time(), time.perf_counter()
    yield
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert cpu < CPU_SECONDS, f"{what!r:.200} took {cpu:.1f} s of CPU"
    assert wall < WALL_SECONDS, f"{what!r:.200} took {wall:.1f} s"


# -- TOML text from values ---------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            out.append("?")  # a lone surrogate cannot be written in UTF-8
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(type(value))


def toml_document(tables: dict[str, dict[str, Any]]) -> str:
    """``[dotted.header]`` then ``key = value`` lines, nested tables written inline."""
    lines = []
    for header, table in tables.items():
        lines.append(f"[{header}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
        lines.append("")
    return "\n".join(lines)


# -- values: right, wrong and hostile ----------------------------------------------------------

HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "{unknown}",
        "{port}",
        "{version}",
        "${HOME}",
        "/api/health",
        "/../../etc/passwd",
        "//evil.example/x",
        "/x\r\nHost: evil",
        "../../etc",
        "a\x00b",
        "\x1b[31mred",
        "\u202eevil",
        "x" * 5000,
        "http://127.0.0.1:9",
        "http://" + "a" * 3000,
        "postgresql://u:p@127.0.0.1:1/db",
        "sqlite:///.safeship/x.db",
        "local",
        "builtin",
        "platform",
        "canary",
        "X-User-Id",
        "$.items[0].id",
        "10",
        "true",
        "1e999",
    ]
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 5, 10, 50, 100, 8080, 65535, 65536, -1, 99999999999999999999999]),
    st.floats(),
    st.text(max_size=30),
    HOSTILE_STRINGS,
    st.dates(),
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10) | HOSTILE_STRINGS, children, max_size=4)
    ),
    max_leaves=12,
)
STEPS = st.lists(st.integers(min_value=-5, max_value=120), max_size=5) | ANY_VALUE
ENV_NAMES = st.sampled_from(
    ["staging", "production", "local", "", "../../etc", "a\x00b", "Prod", "x" * 64, "my-env"]
) | st.text(max_size=12)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A key's value: mostly of the right kind, sometimes anything."""
    return st.one_of(value, value, ANY_VALUE)


TARGET = st.fixed_dictionaries(
    {},
    optional={
        "type": maybe(st.sampled_from(["local", "railway", "command", "ssh"])),
        "command": maybe(
            st.lists(HOSTILE_STRINGS | st.sampled_from(["python", "app.py"]), max_size=4)
        ),
        "deploy": maybe(st.lists(HOSTILE_STRINGS, max_size=3)),
        "url": maybe(HOSTILE_STRINGS | st.just("https://app-{version}.example.com")),
        "env": maybe(st.dictionaries(HOSTILE_STRINGS, HOSTILE_STRINGS, max_size=3)),
        "cwd": maybe(HOSTILE_STRINGS),
        "start_timeout": maybe(st.floats(-1, 400)),
        "project_id": maybe(HOSTILE_STRINGS),
        "retries": maybe(st.integers(-1, 20)),
    },
)
CHECK = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(HOSTILE_STRINGS),
        "type": maybe(st.sampled_from(["http", "tcp", "postgres", "redis", "smtp"])),
        "url": maybe(HOSTILE_STRINGS),
        "host": maybe(HOSTILE_STRINGS),
        "port": maybe(st.integers(-1, 70000)),
        "headers": maybe(st.dictionaries(HOSTILE_STRINGS, HOSTILE_STRINGS, max_size=2)),
        "expect_status": maybe(st.integers(0, 700) | st.lists(st.integers(0, 700), max_size=3)),
        "assert": maybe(st.lists(st.dictionaries(HOSTILE_STRINGS, ANY_VALUE, max_size=3))),
    },
)
STEP = st.fixed_dictionaries(
    {"path": maybe(HOSTILE_STRINGS)},
    optional={
        "method": maybe(st.sampled_from(["GET", "POST", "TRACE"])),
        "json": ANY_VALUE,
        "capture": maybe(st.dictionaries(HOSTILE_STRINGS, HOSTILE_STRINGS, max_size=2)),
        "headers": maybe(st.dictionaries(HOSTILE_STRINGS, HOSTILE_STRINGS, max_size=2)),
    },
)
HEALTH = st.fixed_dictionaries(
    {},
    optional={
        "path": maybe(HOSTILE_STRINGS),
        "timeout": maybe(st.floats(-1, 100)),
        "retries": maybe(st.integers(-1, 200)),
        "deep": maybe(st.fixed_dictionaries({}, optional={"path": HOSTILE_STRINGS})),
        "checks": maybe(st.lists(CHECK, max_size=2)),
        "smoke": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "flows": st.lists(
                        st.fixed_dictionaries(
                            {"name": maybe(HOSTILE_STRINGS), "steps": st.lists(STEP, max_size=2)}
                        ),
                        max_size=2,
                    )
                },
            )
        ),
        "baseline": maybe(st.fixed_dictionaries({}, optional={"path": HOSTILE_STRINGS})),
    },
)
ENVIRONMENT = st.fixed_dictionaries(
    {"target": maybe(TARGET)},
    optional={
        "port": maybe(st.integers(-1, 70000)),
        "router": maybe(
            st.fixed_dictionaries(
                {"type": maybe(st.sampled_from(["builtin", "nginx", "platform", "haproxy"]))},
                optional={
                    "sticky": maybe(st.sampled_from(["off", "cookie", "header"])),
                    "sticky_name": maybe(HOSTILE_STRINGS),
                },
            )
        ),
        "strategy": maybe(st.sampled_from(["all-at-once", "canary", "blue-green", "yolo"])),
        "steps": STEPS,
        "bake_time": maybe(st.floats(-1, 5000)),
        "pause_at": STEPS,
        "monitor_time": maybe(st.floats(-1, 100000)),
        "health": maybe(HEALTH),
        "rollback": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "error_rate": maybe(st.floats(-1, 2)),
                    "min_requests": maybe(st.integers(-1, 2**70)),
                    "memory_limit_mb": maybe(st.floats()),
                },
            )
        ),
        "analysis": maybe(st.dictionaries(HOSTILE_STRINGS, ANY_VALUE, max_size=3)),
    },
)
TOP_LEVEL = st.fixed_dictionaries(
    {},
    optional={
        "project": maybe(
            st.fixed_dictionaries(
                {}, optional={"name": HOSTILE_STRINGS, "env_schema": HOSTILE_STRINGS}
            )
        ),
        "registry": maybe(st.fixed_dictionaries({}, optional={"url": HOSTILE_STRINGS})),
        "paths": ANY_VALUE,
        "notify": ANY_VALUE,
        "jobs": ANY_VALUE,
    },
)


@st.composite
def configs(draw: st.DrawFn) -> str:
    tables: dict[str, dict[str, Any]] = {}
    for key, value in draw(TOP_LEVEL).items():
        tables[key] = value if isinstance(value, dict) else {"value": value}
    for name, environment in draw(st.dictionaries(ENV_NAMES, ENVIRONMENT, max_size=2)).items():
        tables[f"environments.{toml_key(name)}"] = environment
    return toml_document(tables)


VALID = """\
[project]
name = "shop"

[environments.staging]
port = 8080
steps = [10, 50, 100]
bake_time = 2.5
target = { command = ["python", "app.py", "--port", "{port}"] }

[environments.staging.health]
path = "/api/health"

[[environments.staging.health.checks]]
name = "api"
type = "http"
url = "http://127.0.0.1:9/status"
"""


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The valid config with a few characters inserted, deleted or replaced."""
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        junk = draw(st.text(max_size=6) | HOSTILE_STRINGS.map(lambda s: s[:50]))
        cut = draw(st.integers(0, 5))
        text = text[:at] + junk + text[at + cut :]
    return text


# -- safeship.toml -----------------------------------------------------------------------------


def assert_clean_problems(exc: ConfigError) -> None:
    assert exc.problems
    for problem in exc.problems:
        assert problem.startswith("safeship.toml:"), problem
        assert "\n" not in problem and "\r" not in problem, problem
        assert "unexpected" not in problem, problem
        assert len(problem) < 1000, problem


def parse_within_budget(text: str) -> None:
    with within_budget(text):
        try:
            parse_config(text)
        except ConfigError as exc:
            assert_clean_problems(exc)


@BUDGET
@given(configs())
def test_near_valid_configs(text: str) -> None:
    parse_within_budget(text)


@BUDGET
@given(mutated())
def test_mutated_configs(text: str) -> None:
    parse_within_budget(text)


@BUDGET
@given(st.text(max_size=300) | st.text(alphabet="[]{}=\"'.,# \nab1", max_size=300))
def test_raw_text(text: str) -> None:
    parse_within_budget(text)


@BUDGET
@given(st.binary(max_size=300) | mutated().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_raw_bytes_from_a_file(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "safeship.toml"
        path.write_bytes(raw)
        with within_budget(raw):
            try:
                load_config(path)
            except ConfigError as exc:
                assert_clean_problems(exc)


def test_the_strategies_reach_valid_configs() -> None:
    # A fuzzer that only ever builds broken configs would not test the checks after parsing.
    parse_config(toml_document({"environments.staging": json.loads(json.dumps(VALID_ENV))}))


VALID_ENV = {"port": 8080, "target": {"command": ["python", "app.py", "{port}"]}}


# -- the command line --------------------------------------------------------------------------


@contextlib.contextmanager
def cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(argv: list[str], directory: Path) -> tuple[int, str, str]:
    """`safeship ARGV` in-process through the console entry point: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    env = {k: v for k, v in os.environ.items() if k != "SAFESHIP_DEBUG"}
    with (
        within_budget(argv),
        cwd(directory),
        mock.patch.object(sys, "argv", ["safeship", *argv]),
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main.run()
        except SystemExit as exit_:
            code = exit_.code
    assert isinstance(code, int | None), code
    return code or 0, out.getvalue(), err.getvalue()


UNMAPPED = re.compile(r"unexpected [A-Za-z_.]*(Error|Exception|Warning|Exit|Interrupt)\b")


def assert_clean_exit(argv: list[str], directory: Path, codes: tuple[int, ...] = (0, 1, 2)) -> str:
    code, out, err = run_cli(argv, directory)
    assert code in codes, (argv, code, out, err)
    assert "Traceback" not in out + err, (argv, out, err)
    # An error nobody mapped reads "unexpected ValueError: ..." (cli/errors).
    assert not UNMAPPED.search(err), (argv, err)
    for line in err.splitlines():
        # Ours are one printable line each. Click's usage errors (its Usage/Try/Error lines)
        # echo the argument as given: the user's own input, back to the user.
        if line.startswith("safeship: error: "):
            assert line.isprintable(), (argv, line)
    return err


# Arguments: sometimes valid, sometimes hostile, sometimes arbitrary text. NUL cannot be in argv.
ARG = (st.sampled_from(["v1", "1.4.0", "c0ffee1", "ci", "staging"]) | HOSTILE_STRINGS).map(
    lambda s: s.replace("\x00", "")
) | st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40)
ENV_ARG = st.sampled_from(["staging", "local", "nope"]) | ARG


@pytest.fixture(scope="module")
def empty_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


@pytest.fixture(scope="module")
def project_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "safeship.toml").write_text(
            VALID.replace("port = 8080", "port = 18997")
            + '\n[environments.web.target]\ntype = "command"\ndeploy = ["true"]\n'
            'url = "https://app-{version}.example.com"\n'
        )
        # Warm up: the first command imports the config models (and what they import).
        assert_clean_exit(["config", "check"], root, (0,))
        yield root


@CLI_BUDGET
@given(
    env=ENV_ARG,
    version=ARG,
    commit=st.none() | ARG,
    triggered_by=st.none() | ARG,
    config=st.none() | ARG,
)
def test_deploy_arguments(
    empty_dir: Path,
    env: str,
    version: str,
    commit: str | None,
    triggered_by: str | None,
    config: str | None,
) -> None:
    # In a directory without safeship.toml: every case ends before a deploy can start.
    argv = ["deploy", env, "--version", version]
    argv += ["--commit", commit] if commit is not None else []
    argv += ["--triggered-by", triggered_by] if triggered_by is not None else []
    argv += ["--config", config] if config is not None else []
    assert_clean_exit(argv, empty_dir, (2,))


@CLI_BUDGET
@given(
    command=st.sampled_from(["history", "status", "promote", "abort", "config"]),
    env=st.none() | ENV_ARG,
    extra=st.lists(ARG | st.sampled_from(["--json", "--limit", "0", "-c", "check"]), max_size=3),
)
def test_read_only_commands(
    project_dir: Path, command: str, env: str | None, extra: list[str]
) -> None:
    argv = [command] + ([env] if env is not None else []) + extra
    assert_clean_exit(argv, project_dir)


@CLI_BUDGET
@given(
    url=st.one_of(
        ARG,
        st.text(max_size=30).map(lambda s: "http://127.0.0.1:9/" + s.replace("\x00", "")),
        st.just("http://127.0.0.1:9/" + "a" * 70_000),
    ),
    options=st.lists(
        st.sampled_from(["--path", "--deep-path", "--timeout"]).flatmap(
            lambda option: st.tuples(
                st.just(option),
                ARG | st.sampled_from(["/api/health", "/x\r\ny", "nan", "-1", "1e9", "0.5"]),
            )
        ),
        max_size=2,
    ),
    deep=st.booleans(),
)
def test_health_arguments(
    empty_dir: Path, url: str, options: list[tuple[str, str]], deep: bool
) -> None:
    argv = ["health", url, *[part for pair in options for part in pair]]
    argv += ["--deep"] if deep else []
    assert_clean_exit(argv, empty_dir)


SAFE_COMMANDS = ["deploy", "status", "history", "rollback", "promote", "abort", "config", "env"]


@CLI_BUDGET
@given(
    argv=st.tuples(st.sampled_from(SAFE_COMMANDS), st.lists(ARG, max_size=5)).map(
        lambda t: [t[0], *t[1]]
    )
)
def test_arbitrary_arguments_without_a_config(empty_dir: Path, argv: list[str]) -> None:
    assert_clean_exit(argv, empty_dir)
