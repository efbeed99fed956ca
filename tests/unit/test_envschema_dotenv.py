""".env files: python-dotenv's parsing, and a problem naming the line for every odd line."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.envschema import problems as codes
from safeship.envschema.dotenv_file import MAX_ENTRY_BYTES, read_env_file
from safeship.envschema.problems import EnvSourceError
from safeship.envschema.schema import parse_schema
from safeship.envschema.sources import collect
from safeship.envschema.validate import check


def write(tmp_path: Path, content: bytes | str, name: str = ".env") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_the_syntax_python_dotenv_accepts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeff# comment\n"
        "PLAIN=value\n"
        "export EXPORTED=1\n"
        "SPACED = spaced value   # trailing comment\n"
        "SINGLE='single # not a comment'\n"
        'DOUBLE="line1\\nline2"\n'
        'MULTI="first\n'
        'second"\n'
        "EMPTY=\n"
        "HASH=#not-a-comment\n"
        "WINDOWS=crlf\r\n"
        "REF=${PLAIN}-${MISSING:-fallback}\n",
    )
    parsed = read_env_file(path)
    assert parsed.problems == []
    assert parsed.values == {
        "PLAIN": "value",
        "EXPORTED": "1",
        "SPACED": "spaced value",
        "SINGLE": "single # not a comment",
        "DOUBLE": "line1\nline2",
        "MULTI": "first\nsecond",
        "EMPTY": "",
        "HASH": "#not-a-comment",
        "WINDOWS": "crlf",
        "REF": "value-fallback",
    }
    assert parsed.lines["PLAIN"] == 2
    assert parsed.lines["MULTI"] == 7
    assert parsed.lines["EMPTY"] == 9
    assert parsed.lines["REF"] == 12


def test_malformed_lines_are_errors_naming_the_line_without_the_content(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "GOOD=1\n\nBROKEN='unterminated secret-value\n=no-key-secret\nAFTER=2\n",
    )
    parsed = read_env_file(path)
    assert [(p.variable, p.code, p.location) for p in parsed.problems] == [
        ("BROKEN", codes.DOTENV_SYNTAX, f"{path}:3"),
        (None, codes.DOTENV_SYNTAX, f"{path}:4"),
    ]
    assert parsed.problems[0].text() == (
        f"{path}:3: BROKEN: cannot parse this line (expected KEY=value; is a quote left open?)"
    )
    assert "secret" not in repr(parsed.problems)
    assert parsed.values == {"GOOD": "1", "AFTER": "2"}


def test_a_duplicated_key_warns_and_the_last_value_wins(tmp_path: Path) -> None:
    parsed = read_env_file(write(tmp_path, "A=1\nB=2\nA=3\n"))
    assert parsed.values == {"A": "3", "B": "2"}
    [problem] = parsed.problems
    assert problem.is_warning
    assert problem.text() == (
        f"{tmp_path / '.env'}:3: A: is set again (first on line 1); the last value wins"
    )


def test_a_key_without_equals_is_ignored_with_a_warning(tmp_path: Path) -> None:
    parsed = read_env_file(write(tmp_path, "A=1\nLONELY\n"))
    assert parsed.values == {"A": "1"}
    assert [(p.variable, p.code, p.is_warning) for p in parsed.problems] == [
        ("LONELY", codes.DOTENV_NO_VALUE, True)
    ]


def test_invalid_utf8_is_an_error_on_its_line_and_the_rest_is_read(tmp_path: Path) -> None:
    parsed = read_env_file(write(tmp_path, b"A=1\nLATIN1=caf\xe9\nB=2\n"))
    assert parsed.values == {"A": "1", "B": "2"}
    [problem] = parsed.problems
    assert (problem.variable, problem.code) == ("LATIN1", codes.DOTENV_ENCODING)
    assert problem.text() == (
        f"{tmp_path / '.env'}:2: LATIN1: not valid UTF-8 (byte 0xe9 at column 11); "
        "the line is ignored"
    )


def test_a_value_too_large_for_a_process_is_refused_naming_the_line(tmp_path: Path) -> None:
    # Over MAX_ENTRY_BYTES (128 KiB), under the line bound (256 KiB): the variable is refused,
    # the rest of the file is read. A longer line refuses the file (test_envschema_limits).
    huge = "x" * (200 * 1024)
    parsed = read_env_file(write(tmp_path, f'A=1\nHUGE={huge}\nQUOTED="{huge}"\nB=2\n'))
    assert parsed.values == {"A": "1", "B": "2"}
    assert [(p.variable, p.code, p.location) for p in parsed.problems] == [
        ("HUGE", codes.VALUE_TOO_LARGE, f"{tmp_path / '.env'}:2"),
        ("QUOTED", codes.VALUE_TOO_LARGE, f"{tmp_path / '.env'}:3"),
    ]
    assert parsed.problems[0].message == (
        "value is 200 KiB: a process cannot receive an environment entry over 128 KiB "
        "(Linux MAX_ARG_STRLEN); the value is ignored"
    )


def test_the_largest_value_a_process_can_take_is_accepted(tmp_path: Path) -> None:
    value = "y" * (MAX_ENTRY_BYTES - len("BIG") - 2)
    parsed = read_env_file(write(tmp_path, f"BIG={value}\n"))
    assert parsed.problems == [] and parsed.values["BIG"] == value


def test_missing_or_unreadable_files_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(EnvSourceError, match="file not found"):
        read_env_file(tmp_path / "nope.env")
    with pytest.raises(EnvSourceError, match="is a directory"):
        read_env_file(tmp_path)


def test_read_problems_flow_into_the_check_without_a_second_missing_error(
    tmp_path: Path,
) -> None:
    schema = parse_schema(
        '[base]\nA = { type = "string" }\nB = { type = "string" }\nC = { type = "string" }\n'
    ).environment("base")
    first = write(tmp_path, b"A=\xff\nB='open\nC=1\nC=2\nEXTRA=1\n", ".env")
    result = check(schema, collect(env_files=[first]))
    assert [(p.variable, p.code) for p in result.errors] == [
        ("A", codes.DOTENV_ENCODING),
        ("B", codes.DOTENV_SYNTAX),
    ]
    assert [(p.variable, p.code) for p in result.warnings] == [
        ("C", codes.DOTENV_DUPLICATE),
        ("EXTRA", codes.UNKNOWN_VARIABLE),
    ]


def test_later_files_win_and_may_refer_to_earlier_ones(tmp_path: Path) -> None:
    base = write(tmp_path, "HOST=db\nURL=postgresql://${HOST}/app\n", ".env")
    local = write(tmp_path, "HOST=localhost\nLOCAL_URL=postgresql://${HOST}/app\n", ".env.local")
    variables = collect(env_files=[base, local])
    assert variables.values == {
        "HOST": "localhost",
        "URL": "postgresql://db/app",
        "LOCAL_URL": "postgresql://localhost/app",
    }
    assert variables.locations["HOST"] == f"{local}:1"
    assert variables.locations["URL"] == f"{base}:2"
