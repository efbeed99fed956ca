"""Hostile input, bounded work: schema patterns on RE2, extends resolved in linear time and
capped, .env and schema files capped in size, lines and keys, devices refused at once.

Time bounds here are generous (seconds of this process's CPU time, which a loaded machine does
not inflate) and only catch what used to take minutes or never end: ``(a+)+b`` took 4 s at 26
characters on Python's re, a 2,000-level extends chain 28 s, and ``--env-file /dev/zero`` never
returned (reading it is all CPU).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from safeship.envschema.dotenv_file import parse_env_text, read_env_file
from safeship.envschema.limits import (
    MAX_ENV_FILE_BYTES,
    MAX_ENV_KEYS,
    MAX_ENV_LINE_BYTES,
    MAX_ENV_LINES,
    MAX_EXTENDS_DEPTH,
    MAX_PATTERN_LENGTH,
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_TABLES,
    MAX_SCHEMA_VARIABLES,
    read_limited,
)
from safeship.envschema.problems import EnvSchemaError, EnvSourceError
from safeship.envschema.schema import load_schema, parse_schema
from safeship.envschema.types import ValueProblem, parse_value


def schema_errors(text: str) -> list[str]:
    with pytest.raises(EnvSchemaError) as caught:
        parse_schema(text, "env.schema.toml")
    return caught.value.problems


def chain(levels: int) -> str:
    """t0 extends t1 extends ... t<levels-1>: a chain of ``levels`` tables."""
    tables = [f'[t{i}]\nextends = "t{i + 1}"\n' for i in range(levels - 1)]
    return "".join(tables) + f'[t{levels - 1}]\nA = {{ type = "string" }}\n'


# -- patterns ------------------------------------------------------------------------------


def test_a_catastrophic_pattern_matches_in_linear_time() -> None:
    spec = parse_schema('[base]\nA = { type = "string", pattern = "(a+)+b" }\n')
    variable = spec.environment("base").variables["A"]
    start = time.process_time()
    for length in (26, 40, 100_000):
        with pytest.raises(ValueProblem) as caught:
            parse_value(variable, "a" * length)
        assert caught.value.code == "pattern_mismatch"
    assert parse_value(variable, "aaab") == "aaab"
    assert time.process_time() - start < 2.0  # Python's re: > 30 s at 40 characters


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("^(?=a)a$", "invalid perl operator: (?="),
        ("^(a)\\\\1$", "invalid escape sequence: \\1"),
        ("x{1000}{1000}", "bad repetition operator: {1000}{1000}"),
    ],
)
def test_a_pattern_re2_refuses_is_one_line_naming_file_line_and_key(
    pattern: str, reason: str, capfd: pytest.CaptureFixture[str]
) -> None:
    [problem] = schema_errors(
        f'[base]\nOK = {{ type = "string" }}\nA = {{ pattern = "{pattern}", type = "string" }}\n'
    )
    assert problem == (
        "env.schema.toml:3: base.A.pattern: bad regular expression (RE2 syntax: no lookarounds "
        f"or backreferences): {reason}"
    )
    assert capfd.readouterr().err == ""  # RE2's own logging is off


def test_a_pattern_over_the_length_cap_is_refused() -> None:
    long = "a" * (MAX_PATTERN_LENGTH + 1)
    [problem] = schema_errors(f'[base]\nA = {{ type = "string", pattern = "{long}" }}\n')
    assert problem == (
        f"env.schema.toml:2: base.A.pattern: is {MAX_PATTERN_LENGTH + 1} characters long; "
        f"a pattern may have at most {MAX_PATTERN_LENGTH}"
    )
    ok = "a" * MAX_PATTERN_LENGTH
    parse_schema(f'[base]\nA = {{ type = "string", pattern = "{ok}" }}\n')


def test_a_value_re2_cannot_encode_does_not_match() -> None:
    spec = parse_schema('[base]\nA = { type = "string", pattern = ".*" }\n')
    with pytest.raises(ValueProblem) as caught:
        parse_value(spec.environment("base").variables["A"], "bad\udcffbyte")
    assert caught.value.code == "pattern_mismatch"


# -- extends -------------------------------------------------------------------------------


def test_a_chain_at_the_depth_cap_resolves() -> None:
    schema = parse_schema(chain(MAX_EXTENDS_DEPTH))
    assert len(schema.environment("t0").chain) == MAX_EXTENDS_DEPTH
    assert "A" in schema.environment("t0").variables


def test_a_deeper_chain_is_one_error_at_the_table_that_goes_over() -> None:
    levels = MAX_EXTENDS_DEPTH + 5
    [problem] = schema_errors(chain(levels))
    over = levels - MAX_EXTENDS_DEPTH - 1  # t4 extends a chain of MAX_EXTENDS_DEPTH tables
    assert problem == (
        f"env.schema.toml:{2 * over + 2}: t{over}.extends: makes a chain longer than "
        f"{MAX_EXTENDS_DEPTH} tables (t{over} → t{over + 1} → t{over + 2} → t{over + 3} → ...); "
        f"extends may go at most {MAX_EXTENDS_DEPTH} tables deep"
    )


def test_a_2000_level_chain_is_refused_quickly() -> None:
    # Was 28 s: every table walked its whole chain. Now each table is walked once, and the
    # table count is capped before anything is resolved.
    start = time.process_time()
    [problem] = schema_errors(chain(2_000))
    assert f"more than {MAX_SCHEMA_TABLES} tables" in problem
    [problem] = schema_errors(chain(MAX_SCHEMA_TABLES))
    assert "extends may go at most" in problem
    assert time.process_time() - start < 2.0


def test_cycles_and_unknown_parents_are_still_reported_once() -> None:
    problems = schema_errors(
        '[a]\nextends = "b"\n[b]\nextends = "a"\n[c]\nextends = "a"\n'
        '[d]\nextends = "nope"\n[e]\nextends = "d"\n'
    )
    assert problems == [
        "env.schema.toml:4: b.extends: extends forms a cycle: a → b → a",
        "env.schema.toml:8: d.extends: extends 'nope', which is not a table of this schema "
        "(tables: a, b, c, e)",
    ]


# -- schema size ---------------------------------------------------------------------------


def test_a_schema_with_too_many_variables_is_refused() -> None:
    text = "[base]\n" + "".join(
        f'V{i} = {{ type = "string" }}\n' for i in range(MAX_SCHEMA_VARIABLES + 1)
    )
    assert schema_errors(text) == [
        f"env.schema.toml:1: base: more than {MAX_SCHEMA_VARIABLES} variables in the schema; "
        "it may have at most that"
    ]


def test_thousands_of_problems_are_located_in_one_pass() -> None:
    # Each problem used to scan the whole file for its line: 2,000 problems took 20 s.
    text = "[base]\n" + "".join(f'V{i} = {{ type = "nope" }}\n' for i in range(2_000))
    start = time.process_time()
    problems = schema_errors(text)
    assert len(problems) == 2_000
    assert problems[-1].startswith("env.schema.toml:2001: base.V1999.type: unknown type 'nope'")
    assert time.process_time() - start < 2.0


def test_a_schema_file_is_read_only_up_to_its_cap(tmp_path: Path) -> None:
    big = tmp_path / "env.schema.toml"
    big.write_text("# " + "x" * MAX_SCHEMA_BYTES + "\n")
    with pytest.raises(EnvSchemaError) as caught:
        load_schema(big)
    assert caught.value.problems == [
        f"{big}: is larger than {MAX_SCHEMA_BYTES // 1024} KiB, the most safeship reads here"
    ]
    with pytest.raises(EnvSchemaError) as caught:
        load_schema(Path("/dev/zero"))
    assert caught.value.problems == ["/dev/zero: is a character device, not a file safeship reads"]


def test_deeply_nested_toml_is_one_line() -> None:
    text = '[base]\nA = { type = "json", default = ' + "[" * 5000 + "]" * 5000 + " }\n"
    assert schema_errors(text) == ["env.schema.toml: syntax: values nested too deeply"]


# -- .env files ----------------------------------------------------------------------------


def test_dev_zero_is_refused_at_once() -> None:
    start = time.process_time()
    with pytest.raises(EnvSourceError) as caught:
        read_env_file(Path("/dev/zero"))
    assert caught.value.problems == ["/dev/zero: is a character device, not a file safeship reads"]
    assert time.process_time() - start < 2.0


def test_a_file_over_the_size_cap_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    # A million keys (~16 MiB) took minutes to parse.
    path = tmp_path / ".env"
    with path.open("w") as out:
        for i in range(1_000_000):
            out.write(f"KEY_{i}=value\n")
    start = time.process_time()
    with pytest.raises(EnvSourceError) as caught:
        read_env_file(path)
    assert caught.value.problems == [
        f"{path}: is larger than {MAX_ENV_FILE_BYTES // (1024 * 1024)}.0 MiB, "
        "the most safeship reads here"
    ]
    assert time.process_time() - start < 2.0


def test_too_many_keys_is_refused_naming_the_line() -> None:
    raw = "".join(f"K{i}=v\n" for i in range(MAX_ENV_KEYS + 1)).encode()
    with pytest.raises(EnvSourceError) as caught:
        parse_env_text(raw, Path(".env"))
    assert caught.value.problems == [
        f".env:{MAX_ENV_KEYS + 1}: K{MAX_ENV_KEYS}: more than {MAX_ENV_KEYS} variables in one file"
    ]
    # Setting the same key again is not a new key.
    parsed = parse_env_text(b"A=1\n" * (MAX_ENV_KEYS + 1), Path(".env"))
    assert parsed.values == {"A": "1"}


def test_too_many_lines_is_refused() -> None:
    raw = b"# comment\n" * MAX_ENV_LINES
    with pytest.raises(EnvSourceError) as caught:
        parse_env_text(raw, Path(".env"))
    assert caught.value.problems == [
        f".env: has {MAX_ENV_LINES + 1} lines; a .env file may have at most {MAX_ENV_LINES}"
    ]


def test_a_line_over_the_line_cap_is_refused_naming_it() -> None:
    raw = b"A=1\nB=" + b"x" * MAX_ENV_LINE_BYTES + b"\n"
    with pytest.raises(EnvSourceError) as caught:
        parse_env_text(raw, Path(".env"))
    assert caught.value.problems == [
        ".env:2: the line is 256 KiB long; a line may be at most 256 KiB "
        "(no process can receive such an entry)"
    ]


def test_a_pipe_without_a_writer_reads_as_empty(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.env"
    os.mkfifo(fifo)
    assert read_limited(fifo, 10) == b""


def test_a_pipe_is_read_up_to_its_cap() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"A=1\n")
    os.close(write_end)
    try:
        assert read_limited(Path(f"/dev/fd/{read_end}"), 100) == b"A=1\n"
    finally:
        os.close(read_end)
