"""Property tests: for arbitrary schemas and variables, checking never raises an unexpected
exception, and a value reported valid re-validates to the same typed value."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeship.envschema.patterns import compile_pattern
from safeship.envschema.problems import EnvSchemaError
from safeship.envschema.schema import EnvironmentSchema, _SchemaParser
from safeship.envschema.sources import Variables
from safeship.envschema.types import TYPES, VariableSpec, format_value, parse_value
from safeship.envschema.validate import check

NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)
PATTERNS = ["^G-[A-Z0-9]+$", "[a-z]+", ".*", "(a|b)*c?", r"\d{2,4}", "[^@]+@[^@]+"]


@st.composite
def specs(draw: st.DrawFn, name: str) -> VariableSpec:
    type_name = draw(st.sampled_from(TYPES))
    rules: dict[str, Any] = {"optional": draw(st.booleans()), "secret": draw(st.booleans())}
    if type_name in ("int", "port"):
        low = draw(st.none() | st.integers(-1000, 70000))
        high = draw(st.none() | st.integers(-1000, 70000))
        rules |= {"min": low, "max": high}
    elif type_name == "float":
        finite = st.floats(allow_nan=False, allow_infinity=False)
        rules |= {"min": draw(st.none() | finite), "max": draw(st.none() | finite)}
    elif type_name == "duration":
        delta = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
        rules |= {"min": draw(st.none() | delta), "max": draw(st.none() | delta)}
    elif type_name in ("string", "url", "email"):
        rules |= {
            "min_length": draw(st.none() | st.integers(0, 20)),
            "max_length": draw(st.none() | st.integers(0, 200)),
            "startswith": draw(st.none() | st.sampled_from(["a", "http", "sk-", "é"])),
            "pattern": draw(st.none() | st.sampled_from(PATTERNS).map(compile_pattern)),
        }
    elif type_name == "enum":
        rules["values"] = tuple(draw(st.lists(st.text(min_size=1), min_size=1, unique=True)))
    elif type_name == "literal":
        rules["value"] = draw(st.text(min_size=1))
    return VariableSpec(name=name, type=type_name, **rules)


@st.composite
def schemas(draw: st.DrawFn) -> EnvironmentSchema:
    names = draw(st.lists(NAMES, max_size=8, unique=True))
    return EnvironmentSchema("any", {name: draw(specs(name)) for name in names})


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
# Values that often are valid for some type, and anything at all.
VALUES = st.one_of(
    st.text(),
    st.integers().map(str),
    st.floats().map(repr),
    st.sampled_from(["true", "FALSE", "yes", "No", "1", "0", "on", ""]),
    st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,3})?(us|ms|s|m|h|d)", fullmatch=True),
    st.sampled_from(["https://example.com/x", "postgresql://u:p@db:5432/app", "http://[::1"]),
    st.sampled_from(["ops@example.com", "a@b", "G-ABC1", "sk-abcdef", "a" * 300]),
    JSON.map(json.dumps),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_check_never_raises_and_valid_values_revalidate_to_the_same_value(
    data: st.DataObject,
) -> None:
    schema = data.draw(schemas())
    names = [*schema.variables, "OTHER"]
    values = data.draw(st.dictionaries(st.sampled_from(names) | st.text(), VALUES))
    result = check(schema, Variables(values=values, declared=set(values)))
    failed = {p.variable for p in result.errors}
    for name, spec in schema.variables.items():
        raw = values.get(name)
        if name in failed or not raw:
            continue
        typed = result.values[name]
        # Re-validating the same text, and the typed value written back as text, give it back.
        assert parse_value(spec, raw) == typed
        assert parse_value(spec, format_value(spec, typed)) == typed


@settings(max_examples=300)
@given(spec=NAMES.flatmap(specs), raw=VALUES)
def test_one_value_round_trips_when_valid(spec: VariableSpec, raw: str) -> None:
    result = check(EnvironmentSchema("any", {spec.name: spec}), Variables(values={spec.name: raw}))
    if result.valid and raw:
        typed = result.values[spec.name]
        assert parse_value(spec, format_value(spec, typed)) == typed


TOML_SCALARS = (
    st.text(max_size=10)
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.sampled_from([*TYPES, "base", "production", "^(", "30s"])
    | st.just(datetime(2026, 1, 1))
    | st.just(date(2026, 1, 1))
)
RULE_KEYS = st.sampled_from(
    [
        *("type", "min", "max", "min_length", "max_length", "startswith", "pattern", "values"),
        *("value", "optional", "default", "secret", "public", "description", "extends", "bogus"),
    ]
)
RULES = st.dictionaries(RULE_KEYS, TOML_SCALARS | st.lists(TOML_SCALARS, max_size=3), max_size=6)
TABLES = st.dictionaries(
    st.sampled_from(["extends"]) | NAMES | st.text(max_size=5),
    RULES | TOML_SCALARS,
    max_size=5,
)
DOCUMENTS = st.dictionaries(
    st.sampled_from(["base", "staging", "production"]) | st.text(max_size=5),
    TABLES | TOML_SCALARS,
    max_size=4,
)


@settings(max_examples=300)
@given(document=DOCUMENTS, values=st.dictionaries(NAMES, VALUES, max_size=6))
def test_arbitrary_schema_documents_load_or_fail_with_schema_errors_only(
    document: dict[str, Any], values: dict[str, str]
) -> None:
    try:
        schema = _SchemaParser("", Path("env.schema.toml")).parse(document)
    except EnvSchemaError as exc:
        assert exc.problems and all(p.startswith("env.schema.toml:") for p in exc.problems)
        return
    for environment in schema.environments.values():
        check(environment, Variables(values=values, declared=set(values)))
