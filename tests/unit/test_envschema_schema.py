"""env.schema.toml itself: extends, and every schema error as one line with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.envschema.problems import EnvSchemaError
from safeship.envschema.schema import load_schema, parse_schema


def errors(text: str) -> list[str]:
    with pytest.raises(EnvSchemaError) as caught:
        parse_schema(text, "env.schema.toml")
    return caught.value.problems


def one_error(text: str) -> str:
    found = errors(text)
    assert len(found) == 1, found
    return found[0]


def test_extends_inherits_and_replaces_whole_definitions() -> None:
    schema = parse_schema(
        """
[base]
A = { type = "string", optional = true }
B = { type = "int", default = 1 }

[staging]
extends = "base"
C = { type = "bool" }

[production]
extends = "staging"
A = { type = "string", min_length = 3 }
"""
    )
    production = schema.environment("production")
    assert list(production.variables) == ["A", "B", "C"]
    assert production.chain == ("production", "staging", "base")
    assert production.variables["A"].required and production.variables["A"].min_length == 3
    assert production.variables["A"].table == "production"
    assert production.variables["B"].default == "1"
    assert not schema.environment("base").variables["A"].required
    assert list(schema.environment("base").variables) == ["A", "B"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[base]\nA = { type = "strng" }\n',
            "env.schema.toml:2: base.A.type: unknown type 'strng' (one of string, url, int, "
            "float, bool, enum, literal, port, email, duration, json)",
        ),
        (
            "[base]\nA = { optional = true }\n",
            "env.schema.toml:2: base.A.type: required key is missing (one of string, url, int, "
            "float, bool, enum, literal, port, email, duration, json)",
        ),
        (
            '[base]\n\nA = { type = "string", min_lenght = 3 }\n',
            "env.schema.toml:3: base.A.min_lenght: unknown key (did you mean min_length?)",
        ),
        (
            '[base]\nA = { type = "int", min_length = 3 }\n',
            "env.schema.toml:2: base.A.min_length: does not apply to type int "
            "(it applies to string, url, email)",
        ),
        (
            '[base]\nA = { type = "string", min = 3 }\n',
            "env.schema.toml:2: base.A.min: does not apply to type string "
            "(it applies to int, float, port, duration)",
        ),
        (
            '[base]\nA = { type = "string", secret = true, public = true }\n',
            "env.schema.toml:2: base.A: cannot be both secret and public "
            "(public values reach browsers)",
        ),
        (
            '[base]\nNEXT_PUBLIC_KEY = { type = "string", secret = true }\n',
            "env.schema.toml:2: base.NEXT_PUBLIC_KEY: cannot be secret: "
            "variables named NEXT_... reach browsers",
        ),
        (
            '[base]\nA = { type = "string", pattern = "^(G-[A-Z" }\n',
            "env.schema.toml:2: base.A.pattern: bad regular expression (RE2 syntax: no "
            "lookarounds or backreferences): missing ]: [A-Z",
        ),
        (
            '[base]\nA = { type = "enum" }\n',
            "env.schema.toml:2: base.A.values: an enum needs values = [...]",
        ),
        (
            '[base]\nA = { type = "enum", values = [] }\n',
            "env.schema.toml:2: base.A.values: must be a non-empty list of non-empty strings",
        ),
        (
            '[base]\nA = { type = "enum", values = ["a", "a"] }\n',
            "env.schema.toml:2: base.A.values: lists a value twice",
        ),
        (
            '[base]\nA = { type = "literal" }\n',
            'env.schema.toml:2: base.A.value: a literal needs value = "..."',
        ),
        (
            '[base]\nA = { type = "literal", value = 3 }\n',
            "env.schema.toml:2: base.A.value: must be a non-empty string (values are strings)",
        ),
        (
            '[base]\nA = { type = "int", min = 10, max = 5 }\n',
            "env.schema.toml:2: base.A.min: is greater than max",
        ),
        (
            '[base]\nA = { type = "int", min = "ten" }\n',
            "env.schema.toml:2: base.A.min: must be a number",
        ),
        (
            '[base]\nA = { type = "duration", max = "forever" }\n',
            "env.schema.toml:2: base.A.max: not a duration",
        ),
        (
            '[base]\nA = { type = "string", min_length = -1 }\n',
            "env.schema.toml:2: base.A.min_length: must be a whole number >= 0",
        ),
        (
            '[base]\nA = { type = "string", min_length = 5, max_length = 2 }\n',
            "env.schema.toml:2: base.A.min_length: is greater than max_length",
        ),
        (
            '[base]\nA = { type = "string", startswith = "" }\n',
            "env.schema.toml:2: base.A.startswith: must be a non-empty string",
        ),
        (
            '[base]\nA = { type = "string", optional = "yes" }\n',
            "env.schema.toml:2: base.A.optional: must be true or false",
        ),
        (
            '[base]\nA = { type = "string", description = 3 }\n',
            "env.schema.toml:2: base.A.description: must be a string",
        ),
        (
            '[base]\nA = { type = "int", min = 5, default = 2 }\n',
            "env.schema.toml:2: base.A.default: the default must be at least 5 (got '2')",
        ),
        (
            '[base]\nA = { type = "int", default = "ten" }\n',
            "env.schema.toml:2: base.A.default: the default must be an integer (got 'ten')",
        ),
        (
            '[base]\nA = { type = "string", default = 3 }\n',
            "env.schema.toml:2: base.A.default: a number cannot be the default of type string "
            "(quote it)",
        ),
        (
            '[base]\nA = { type = "int", default = true }\n',
            "env.schema.toml:2: base.A.default: a boolean cannot be the default of type int",
        ),
        (
            '[base]\nA = { type = "string", default = "" }\n',
            "env.schema.toml:2: base.A.default: an empty default counts as missing; "
            "use optional = true",
        ),
        (
            '[base]\nA = { type = "string", secret = true, default = "changeme" }\n',
            "env.schema.toml:2: base.A.default: a secret cannot have a default "
            "(it would be committed here)",
        ),
        (
            '[base]\n"1A" = { type = "string" }\n',
            "env.schema.toml:2: base.1A: not a valid variable name "
            "(letters, digits and _, not first digit)",
        ),
        (
            '[base]\nA = "string"\n',
            'env.schema.toml:2: base.A: must be an inline table of rules, like { type = "string" }',
        ),
        ("A = 1\n", "env.schema.toml:1: A: must be a table of variables, like [base]"),
        (
            "[base]\nextends = 3\n",
            "env.schema.toml:2: base.extends: must be the name of another table",
        ),
        (
            '[base]\n[production]\nextends = "prod"\n',
            "env.schema.toml:3: production.extends: extends 'prod', which is not a table of "
            "this schema (tables: base)",
        ),
        (
            '[base]\nS = { type = "string", secret = true }\n'
            '[production]\nextends = "base"\nS = { type = "string" }\n',
            "env.schema.toml:5: production.S: secret in [base]: a redefinition must keep "
            "secret = true (its values would be shown and stored)",
        ),
        (
            '[base]\nA = { type = "string"\n',
            "env.schema.toml:2: syntax: Unclosed inline table",
        ),
    ],
)
def test_each_schema_error_is_one_line_with_file_line_and_key(text: str, expected: str) -> None:
    assert one_error(text) == expected


def test_extends_cycles_are_reported_once_at_the_extends_line() -> None:
    found = errors(
        """[base]
A = { type = "string" }

[staging]
extends = "production"

[production]
extends = "staging"

[preview]
extends = "staging"

[self]
extends = "self"
"""
    )
    assert found == [
        "env.schema.toml:8: production.extends: extends forms a cycle: "
        "staging → production → staging",
        "env.schema.toml:14: self.extends: extends forms a cycle: self → self",
    ]


def test_every_problem_of_a_schema_is_reported_together() -> None:
    found = errors(
        """[base]
A = { type = "nope" }
B = { type = "int", min = "x" }
C = { type = "string", pattern = "(" }
"""
    )
    assert [line.split(":")[1] for line in found] == ["2", "3", "4"]


def test_variables_as_sub_tables_report_the_key_line(tmp_path: Path) -> None:
    path = tmp_path / "env.schema.toml"
    path.write_text('[base.A]\ntype = "int"\nmin = 1\nmax = "many"\n')
    with pytest.raises(EnvSchemaError) as caught:
        load_schema(path)
    assert caught.value.problems == ["env.schema.toml:4: base.A.max: must be a number"]


def test_unknown_environment_names_the_tables() -> None:
    schema = parse_schema('[base]\n[production]\nextends = "base"\n')
    with pytest.raises(EnvSchemaError) as caught:
        schema.environment("staging")
    assert caught.value.problems == [
        "env.schema.toml: staging: no [staging] table in the schema (defined: base, production)"
    ]


def test_unreadable_schema_files(tmp_path: Path) -> None:
    with pytest.raises(EnvSchemaError) as caught:
        load_schema(tmp_path / "missing.toml")
    assert caught.value.problems == [f"{tmp_path / 'missing.toml'}: schema file not found"]
    bad = tmp_path / "env.schema.toml"
    bad.write_bytes(b'[base]\nA = { type = "string", description = "caf\xe9" }\n')
    with pytest.raises(EnvSchemaError) as caught:
        load_schema(bad)
    assert caught.value.problems == ["env.schema.toml:2: syntax: not valid UTF-8"]


def test_the_example_schema_loads() -> None:
    schema = load_schema(Path(__file__).parents[2] / "examples" / "env.schema.toml")
    assert list(schema.environments) == ["base", "staging", "production"]
