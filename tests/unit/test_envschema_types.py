"""Every value type and constraint of env.schema.toml, valid and invalid."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from safeship.envschema import problems as codes
from safeship.envschema.schema import parse_schema
from safeship.envschema.sources import Variables
from safeship.envschema.types import ValueProblem, VariableSpec, format_value, parse_value
from safeship.envschema.validate import check


def spec(type_name: str = "string", **rules: Any) -> VariableSpec:
    return VariableSpec(name="X", type=type_name, **rules)


def problem(s: VariableSpec, raw: str) -> ValueProblem:
    with pytest.raises(ValueProblem) as caught:
        parse_value(s, raw)
    return caught.value


@pytest.mark.parametrize(
    ("type_name", "raw", "typed"),
    [
        ("string", "anything at all", "anything at all"),
        ("url", "https://api.example.com/v1?x=1", "https://api.example.com/v1?x=1"),
        (
            "url",
            "postgresql://app:pw@db.internal:5432/app",
            "postgresql://app:pw@db.internal:5432/app",
        ),
        ("url", "redis://:pw@127.0.0.1:6379/0", "redis://:pw@127.0.0.1:6379/0"),
        ("int", "42", 42),
        ("int", "-7", -7),
        ("int", "+3", 3),
        ("int", "007", 7),
        ("float", "0.25", 0.25),
        ("float", "-1e3", -1000.0),
        ("float", ".5", 0.5),
        ("float", "3", 3.0),
        ("port", "1", 1),
        ("port", "65535", 65535),
        ("email", "ops@example.com", "ops@example.com"),
        ("email", "first.last+tag@mail.example.co.uk", "first.last+tag@mail.example.co.uk"),
        ("duration", "30s", timedelta(seconds=30)),
        ("duration", "250ms", timedelta(milliseconds=250)),
        ("duration", "1h30m", timedelta(hours=1, minutes=30)),
        ("duration", "1.5s", timedelta(milliseconds=1500)),
        ("duration", "2d", timedelta(days=2)),
        ("duration", "10us", timedelta(microseconds=10)),
        ("json", '{"a": [1, 2.5, null, true]}', {"a": [1, 2.5, None, True]}),
        ("json", "[]", []),
        ("json", '"text"', "text"),
    ],
)
def test_valid_values_of_every_type(type_name: str, raw: str, typed: Any) -> None:
    s = spec(type_name)
    assert parse_value(s, raw) == typed
    assert parse_value(s, format_value(s, typed)) == typed


@pytest.mark.parametrize(
    ("type_name", "raw"),
    [
        ("url", "not a url"),
        ("url", "example.com/path"),
        ("url", "http://"),
        ("url", "http://host:99999/"),
        ("url", "http://[::1"),
        ("url", "https://exa mple.com"),
        ("int", "4.0"),
        ("int", "1_000"),
        ("int", "١٢"),  # Arabic-Indic digits: int() takes them, other languages would not
        ("int", " 5"),
        ("int", "9" * 101),
        ("int", "0x10"),
        ("float", "1.2.3"),
        ("float", "nan"),
        ("float", "inf"),
        ("float", "1e999"),
        ("float", "1,5"),
        ("port", "0"),
        ("port", "65536"),
        ("port", "80.0"),
        ("port", "-1"),
        ("port", "http"),
        ("email", "ops@"),
        ("email", "@example.com"),
        ("email", "ops example.com"),
        ("email", "ops@exa mple.com"),
        ("duration", "30"),
        ("duration", "5 minutes"),
        ("duration", "1w"),
        ("duration", "-5s"),
        ("duration", "99999999999d"),
        ("json", "{'single': 'quotes'}"),
        ("json", "[1, 2"),
        ("json", "NaN"),
        ("json", "[Infinity]"),
        ("json", "1e400"),
        ("json", "[" * 100_000),
    ],
)
def test_invalid_values_of_every_type(type_name: str, raw: str) -> None:
    assert problem(spec(type_name), raw).code == codes.INVALID_TYPE


def test_enum_and_literal() -> None:
    enum = spec("enum", values=("development", "staging", "production"))
    assert parse_value(enum, "staging") == "staging"
    p = problem(enum, "Staging")  # case matters: the app compares strings
    assert p.code == codes.INVALID_ENUM_VALUE
    assert p.message == "must be one of development, staging, production (got 'Staging')"
    literal = spec("literal", value="production")
    assert parse_value(literal, "production") == "production"
    p = problem(literal, "prod")
    assert (p.code, p.message) == (codes.INVALID_LITERAL, "must be 'production' (got 'prod')")


@pytest.mark.parametrize("raw", ["true", "TRUE", "True", "1", "yes", "YES", "Yes"])
def test_bool_true(raw: str) -> None:
    assert parse_value(spec("bool"), raw) is True


@pytest.mark.parametrize("raw", ["false", "FALSE", "False", "0", "no", "NO", "No"])
def test_bool_false(raw: str) -> None:
    assert parse_value(spec("bool"), raw) is False


@pytest.mark.parametrize("raw", ["on", "off", "y", "n", "2", "-1", "t", "f", "truthy", " true"])
def test_bool_rejects_everything_else(raw: str) -> None:
    p = problem(spec("bool"), raw)
    assert p.code == codes.INVALID_TYPE
    assert p.message.startswith("must be one of true/false/1/0/yes/no")


def test_bool_false_is_false_unlike_zod_coerce_boolean() -> None:
    # zod's z.coerce.boolean() is Boolean(value): every non-empty string, "false" included,
    # becomes true. Here "false" and "0" mean false, as the person who wrote them meant.
    assert parse_value(spec("bool"), "false") is False
    assert parse_value(spec("bool"), "0") is False
    assert bool("false") is True  # what zod's coercion does, for contrast


@pytest.mark.parametrize(
    ("type_name", "rules", "good", "bad", "code", "message"),
    [
        ("int", {"min": 5, "max": 50}, ["5", "50"], "4", codes.TOO_SMALL, "must be at least 5"),
        ("int", {"min": 5, "max": 50}, ["27"], "51", codes.TOO_BIG, "must be at most 50"),
        ("float", {"min": 0.5}, ["0.5"], "0.49", codes.TOO_SMALL, "must be at least 0.5"),
        ("float", {"max": 1.0}, ["1.0"], "1.01", codes.TOO_BIG, "must be at most 1.0"),
        ("port", {"min": 1024}, ["1024"], "80", codes.TOO_SMALL, "must be at least 1024"),
        ("port", {"max": 9000}, ["9000"], "9001", codes.TOO_BIG, "must be at most 9000"),
        (
            "duration",
            {"min": timedelta(seconds=1), "max": timedelta(minutes=5)},
            ["1s", "1000ms", "5m"],
            "999ms",
            codes.TOO_SMALL,
            "must be at least 1s",
        ),
        (
            "duration",
            {"max": timedelta(minutes=5)},
            ["300s"],
            "301s",
            codes.TOO_BIG,
            "must be at most 5m",
        ),
        (
            "string",
            {"min_length": 3},
            ["abc"],
            "ab",
            codes.TOO_SMALL,
            "must be at least 3 characters long (got 2)",
        ),
        (
            "string",
            {"max_length": 3},
            ["abc", "é€😀"],
            "abcd",
            codes.TOO_BIG,
            "must be at most 3 characters long (got 4)",
        ),
        (
            "url",
            {"startswith": "https://"},
            ["https://x.io"],
            "http://x.io",
            codes.INVALID_PREFIX,
            "must start with 'https://' (got 'http://x.io')",
        ),
        (
            "email",
            {"pattern": re.compile(r".*@example\.com")},
            ["a@example.com"],
            "a@example.org",
            codes.PATTERN_MISMATCH,
            "must match the pattern '.*@example\\\\.com' (got 'a@example.org')",
        ),
        (
            "string",
            {"pattern": re.compile("^G-[A-Z0-9]+$")},
            ["G-ABC123"],
            "G-abc",
            codes.PATTERN_MISMATCH,
            "must match the pattern '^G-[A-Z0-9]+$' (got 'G-abc')",
        ),
        (
            "string",
            {"pattern": re.compile("[a-z]+")},  # a full match: "abc1" must not pass
            ["abc"],
            "abc1",
            codes.PATTERN_MISMATCH,
            "must match the pattern '[a-z]+' (got 'abc1')",
        ),
    ],
)
def test_constraints(
    type_name: str, rules: dict[str, Any], good: list[str], bad: str, code: str, message: str
) -> None:
    s = spec(type_name, **rules)
    for value in good:
        parse_value(s, value)
    p = problem(s, bad)
    assert p.code == code
    assert p.message.startswith(message), p.message


def test_secret_values_never_appear_in_messages() -> None:
    value = "mysql://root:hunter2-hunter2@db/app"
    checks = [
        spec("string", secret=True, startswith="postgresql://"),
        spec("string", secret=True, min_length=64),
        spec("string", secret=True, max_length=5),
        spec("string", secret=True, pattern=re.compile("^postgres.*")),
        spec("int", secret=True),
        spec("enum", secret=True, values=("a", "b")),
        spec("literal", secret=True, value="x"),
        spec("url", secret=True, startswith="https://"),
        spec("json", secret=True),
        spec("bool", secret=True),
    ]
    for s in checks:
        p = problem(s, value)
        assert "hunter2" not in p.message and "mysql" not in p.message, p.message
        assert str(len(value)) not in p.message  # not even its length


def test_nul_character_is_refused_for_every_type() -> None:
    for type_name in ("string", "json", "url"):
        assert problem(spec(type_name), "a\x00b").code == codes.NUL_CHARACTER


def _schema(text: str, env: str = "base") -> Any:
    return parse_schema(text).environment(env)


def test_empty_string_counts_as_missing() -> None:
    env = _schema(
        """
[base]
REQUIRED = { type = "string" }
WITH_DEFAULT = { type = "int", default = 3 }
OPTIONAL = { type = "url", optional = true }
"""
    )
    vs = Variables(values={"REQUIRED": "", "WITH_DEFAULT": "", "OPTIONAL": ""})
    result = check(env, vs)
    assert [(p.variable, p.code) for p in result.errors] == [("REQUIRED", codes.MISSING)]
    assert result.errors[0].message == "is set to an empty string, which counts as missing"
    assert result.values == {"REQUIRED": None, "WITH_DEFAULT": 3, "OPTIONAL": None}


def test_defaults_are_typed_and_optional_absent_is_none() -> None:
    env = _schema(
        """
[base]
POOL = { type = "int", default = 10 }
RATIO = { type = "float", default = 0.5 }
AI = { type = "bool", default = true }
TIMEOUT = { type = "duration", default = "30s" }
GRACE = { type = "duration", default = 90 }
FLAGS = { type = "json", default = { a = 1 } }
HOST = { type = "string", optional = true }
"""
    )
    result = check(env, Variables())
    assert result.valid
    assert result.values == {
        "POOL": 10,
        "RATIO": 0.5,
        "AI": True,
        "TIMEOUT": timedelta(seconds=30),
        "GRACE": timedelta(seconds=90),
        "FLAGS": {"a": 1},
        "HOST": None,
    }


def test_every_problem_is_reported_at_once() -> None:
    env = _schema(
        """
[base]
A = { type = "int" }
B = { type = "bool" }
C = { type = "url" }
D = { type = "string" }
"""
    )
    result = check(env, Variables(values={"A": "x", "B": "maybe", "C": "nope"}))
    assert [(p.variable, p.code) for p in result.errors] == [
        ("A", codes.INVALID_TYPE),
        ("B", codes.INVALID_TYPE),
        ("C", codes.INVALID_TYPE),
        ("D", codes.MISSING),
    ]
    assert result.as_json()["valid"] is False
