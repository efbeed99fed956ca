"""Fuzzing env.schema.toml and .env files, through the library and through `safeship env`.

A fixed budget (a number of examples, derandomized so every run tries the same cases): for any
schema text and any .env bytes, loading and checking either succeed or fail with the errors meant
for the user, each one line; the CLI exits 0, 1 or 2 with no traceback, no ``unexpected`` error
class, and no secret value in its output. The generated inputs lean towards what broke before:
catastrophic patterns, long extends chains, cycles, unknown keys, unclosed quotes, ``${...}``
expansions and bytes that are not UTF-8.

No case may take over 2 s of CPU time (``bounded``): the work an input causes, which is what a
hostile input inflates. Wall-clock time on a shared, loaded machine varies tenfold, so hypothesis's
own deadline is set far higher, to catch only a case that hangs.
"""

from __future__ import annotations

import json
import string
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from safeship.cli.errors import exit_code_for
from safeship.cli.main import app
from safeship.envschema.dotenv_file import parse_env_text
from safeship.envschema.problems import EnvSchemaError, EnvSourceError
from safeship.envschema.schema import parse_schema
from safeship.envschema.sources import Variables
from safeship.envschema.types import TYPES
from safeship.envschema.validate import check

# The most CPU time one case may take, and the wall-clock time that counts as a hang.
CASE_CPU_SECONDS = 2.0
FUZZ = settings(
    max_examples=100,
    deadline=20_000,  # ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TABLES = ["base", "staging", "production", "t0", "t1", "t2"]
NAMES = st.sampled_from(["A", "B", "DATABASE_URL", "NEXT_PUBLIC_X", "PORT", "S1", "S2"]) | (
    st.text(string.ascii_letters + string.digits + "_-. ", min_size=0, max_size=6)
)
PATTERN_PARTS = [
    "(a+)+", "b", "(?=x)", "(?!x)", "\\1", "[", "]", "[a-z]", "{1000}", "x{2,}", ".*", "(", ")",
    "|", "\\d", "^", "$", "(?P<n>a)", "(?i)", "\\p{L}", "\\", "a*", "é", "\\x00",
]  # fmt: skip
# Text with the characters that matter to TOML, regular expressions and .env files.
TRICKY = st.text(
    alphabet=st.sampled_from([*"aAbz09 _-.=#'\"\\${}:/@\n\t", "é", "\x00", "\u2028"]),
    max_size=30,
)
SECRET_VALUES = ["zq-secret-value-one", "zq-secret-value-two"]


def toml_value(value: Any) -> str:
    """A TOML rendering of a generated value (strings as JSON strings, which TOML reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise AssertionError(value)


RULE_VALUES = st.recursive(
    st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=2),
    max_leaves=5,
)
PATTERNS = st.lists(st.sampled_from(PATTERN_PARTS), max_size=6).map("".join)


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        found["type"] = draw(st.sampled_from([*TYPES, "nope"]))
    for key in draw(
        st.lists(
            st.sampled_from(
                [
                    "optional",
                    "secret",
                    "public",
                    "default",
                    "min",
                    "max",
                    "min_length",
                    "max_length",
                    "startswith",
                    "values",
                    "value",
                    "description",
                    "typo",
                ]
            ),
            max_size=4,
            unique=True,
        )
    ):
        found[key] = draw(RULE_VALUES)
    if draw(st.booleans()):
        found["pattern"] = draw(PATTERNS)
    return found


@st.composite
def schema_texts(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for table in draw(st.lists(st.sampled_from(TABLES), min_size=1, max_size=4, unique=True)):
        lines.append(f"[{table}]")
        if draw(st.booleans()):
            lines.append(f"extends = {toml_value(draw(st.sampled_from([*TABLES, 'nope'])))}")
        for name in draw(st.lists(NAMES, max_size=4, unique=True)):
            lines.append(f"{json.dumps(name)} = {toml_value(draw(rules()))}")
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:  # now and then, damage it
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(TRICKY) + text[at:]
    return text


@st.composite
def dotenv_bytes(draw: st.DrawFn) -> bytes:
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 5))
        name = draw(NAMES)
        value = draw(TRICKY | st.sampled_from(SECRET_VALUES) | st.just("a" * 40))
        if kind == 0:
            lines.append(f"{name}={value}".encode())
        elif kind == 1:
            quote = draw(st.sampled_from(["'", '"']))
            closed = draw(st.booleans())
            lines.append(f"export {name}={quote}{value}{quote if closed else ''}".encode())
        elif kind == 2:
            lines.append(f"{name}=${{{draw(NAMES)}:-{value}}}".encode())
        elif kind == 3:
            lines.append(f"# {value}".encode())
        elif kind == 4:
            lines.append(draw(st.binary(max_size=8)))
        else:
            lines.append(name.encode())
    return b"\n".join(lines)


class bounded:
    """Fails the case when its body takes more than CASE_CPU_SECONDS of this process's CPU."""

    def __enter__(self) -> None:
        self.start = time.process_time()

    def __exit__(self, *exc: object) -> None:
        spent = time.process_time() - self.start
        assert spent < CASE_CPU_SECONDS, f"this case took {spent:.1f} s of CPU"


def one_line_errors(problems: list[str]) -> None:
    for problem in problems:
        assert problem and "\n" not in problem, problem


@FUZZ
@given(text=schema_texts(), raw=dotenv_bytes())
def test_any_schema_and_dotenv_load_and_check_without_surprises(text: str, raw: bytes) -> None:
    with bounded():
        load_and_check(text, raw)


def load_and_check(text: str, raw: bytes) -> None:
    try:
        schema = parse_schema(text, "env.schema.toml")
    except EnvSchemaError as exc:
        one_line_errors(exc.problems)
        assert all(p.startswith("env.schema.toml") for p in exc.problems), exc.problems
        return
    try:
        parsed = parse_env_text(raw, Path(".env"))
    except EnvSourceError as exc:
        one_line_errors(exc.problems)
        return
    variables = Variables()
    variables.problems = parsed.problems
    for name, value in parsed.values.items():
        variables.set(name, value, parsed.location(name), declared=True)
    for env in schema.environments.values():
        result = check(env, variables)
        one_line_errors([p.text() for p in result.errors + result.warnings])
        json.dumps(result.as_json())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_cli(["env", "--help"])  # imports the CLI once, outside any case's time
    return tmp_path_factory.mktemp("fuzz")


def run_cli(args: list[str]) -> tuple[int, str]:
    """The CLI in this process, with the console entry point's error mapping: (code, output)."""
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    output = result.output
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        code, message = exit_code_for(result.exception)
        output += message
    return code, output


@settings(FUZZ, max_examples=50)
@given(text=schema_texts(), raw=dotenv_bytes(), json_output=st.booleans())
def test_env_check_on_any_input_is_a_verdict_or_one_line_per_problem(
    workdir: Path, text: str, raw: bytes, json_output: bool
) -> None:
    # Secret variables get the values the .env files may hold: none may be printed.
    text += "".join(
        f'\n[secret_{n}]\nS{n} = {{ type = "string", secret = true }}\n' for n in (1, 2)
    )
    schema, env_file = workdir / "env.schema.toml", workdir / "fuzz.env"
    schema.write_text(text, encoding="utf-8", errors="surrogatepass")
    env_file.write_bytes(raw.replace(b"S1=", b"S1=zq-secret-value-one\nX="))
    with bounded():
        for environment in ("production", "secret_1"):
            args = ["env", "check", environment, "--schema", str(schema)]
            args += ["--env-file", str(env_file), *(["--json"] if json_output else [])]
            code, output = run_cli(args)
            assert code in (0, 1, 2), output
            assert "Traceback" not in output and "unexpected " not in output, output
            assert "zq-secret-value-one" not in output, output
        code, output = run_cli(["env", "example", "--schema", str(schema), "--output", "-"])
        assert code in (0, 2) and "unexpected " not in output, output
