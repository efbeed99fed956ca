"""examples/env.schema.toml (the architecture's zod schema): every rule, valid and invalid, for
base, staging and production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from safeship import env
from safeship.envschema import problems as codes
from safeship.envschema.schema import Schema, load_schema
from safeship.envschema.sources import collect
from safeship.envschema.validate import CheckResult, check

EXAMPLE = Path(__file__).parents[2] / "examples" / "env.schema.toml"
SECRET = "s" * 32
VALID: dict[str, dict[str, str]] = {
    "base": {
        "NEXT_PUBLIC_API_BASE_URL": "http://localhost:3000",
        "NEXT_PUBLIC_API_TIMEOUT": "5000",
        "NEXT_PUBLIC_ENVIRONMENT": "development",
        "NEXTAUTH_SECRET": SECRET,
        "DATABASE_URL": "postgresql://app@localhost/app",
    },
    "staging": {
        "NEXT_PUBLIC_API_BASE_URL": "https://staging.example.com",
        "NEXT_PUBLIC_API_TIMEOUT": "5000",
        "NEXT_PUBLIC_ENVIRONMENT": "staging",
        "NEXTAUTH_SECRET": SECRET,
        "DATABASE_URL": "postgresql://app@db.staging/app",
    },
    "production": {
        "NEXT_PUBLIC_API_BASE_URL": "https://example.com",
        "NEXT_PUBLIC_API_TIMEOUT": "5000",
        "NEXT_PUBLIC_ENVIRONMENT": "production",
        "NEXTAUTH_SECRET": SECRET,
        "DATABASE_URL": "postgresql://app@db.production/app",
        "OPENAI_API_KEY": "sk-live-key",
        "NEXT_PUBLIC_GA_ID": "G-ABC123",
    },
}
ENVIRONMENTS = list(VALID)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return load_schema(EXAMPLE)


def run(schema: Schema, environment: str, **changes: str | None) -> CheckResult:
    values = dict(VALID[environment])
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return check(schema.environment(environment), collect(target=values))


def codes_of(result: CheckResult) -> list[tuple[str | None, str]]:
    return [(p.variable, p.code) for p in result.errors]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_valid_environment_passes_with_defaults(schema: Schema, environment: str) -> None:
    result = run(schema, environment)
    assert result.valid, result.errors
    assert result.warnings == []
    assert result.values["NEXT_PUBLIC_API_TIMEOUT"] == 5000
    assert result.values["DATABASE_POOL_SIZE"] == 10
    assert result.values["NEXT_PUBLIC_ENABLE_AI_FEATURES"] is True


# (environments, variable, value, expected code or None when valid, typed value when valid)
RULES: list[tuple[list[str], str, str | None, str | None, Any]] = [
    # NEXT_PUBLIC_API_BASE_URL: a URL; staging requires https
    (ENVIRONMENTS, "NEXT_PUBLIC_API_BASE_URL", "api.example.com", codes.INVALID_TYPE, None),
    (ENVIRONMENTS, "NEXT_PUBLIC_API_BASE_URL", None, codes.MISSING, None),
    (ENVIRONMENTS, "NEXT_PUBLIC_API_BASE_URL", "", codes.MISSING, None),
    (["base", "production"], "NEXT_PUBLIC_API_BASE_URL", "http://x.io", None, "http://x.io"),
    (["staging"], "NEXT_PUBLIC_API_BASE_URL", "http://x.io", codes.INVALID_PREFIX, None),
    (["staging"], "NEXT_PUBLIC_API_BASE_URL", "https://x.io", None, "https://x.io"),
    # NEXT_PUBLIC_API_TIMEOUT: int, 1000..60000
    (ENVIRONMENTS, "NEXT_PUBLIC_API_TIMEOUT", "1000", None, 1000),
    (ENVIRONMENTS, "NEXT_PUBLIC_API_TIMEOUT", "60000", None, 60000),
    (ENVIRONMENTS, "NEXT_PUBLIC_API_TIMEOUT", "999", codes.TOO_SMALL, None),
    (ENVIRONMENTS, "NEXT_PUBLIC_API_TIMEOUT", "60001", codes.TOO_BIG, None),
    (ENVIRONMENTS, "NEXT_PUBLIC_API_TIMEOUT", "5s", codes.INVALID_TYPE, None),
    (ENVIRONMENTS, "NEXT_PUBLIC_API_TIMEOUT", None, codes.MISSING, None),
    # NEXT_PUBLIC_ENVIRONMENT: an enum in base, a literal in staging and production
    (["base"], "NEXT_PUBLIC_ENVIRONMENT", "staging", None, "staging"),
    (["base"], "NEXT_PUBLIC_ENVIRONMENT", "production", None, "production"),
    (["base"], "NEXT_PUBLIC_ENVIRONMENT", "test", codes.INVALID_ENUM_VALUE, None),
    (["staging"], "NEXT_PUBLIC_ENVIRONMENT", "production", codes.INVALID_LITERAL, None),
    (["staging"], "NEXT_PUBLIC_ENVIRONMENT", "development", codes.INVALID_LITERAL, None),
    (["production"], "NEXT_PUBLIC_ENVIRONMENT", "staging", codes.INVALID_LITERAL, None),
    (ENVIRONMENTS, "NEXT_PUBLIC_ENVIRONMENT", None, codes.MISSING, None),
    # NEXTAUTH_SECRET: at least 32 characters
    (ENVIRONMENTS, "NEXTAUTH_SECRET", "s" * 31, codes.TOO_SMALL, None),
    (ENVIRONMENTS, "NEXTAUTH_SECRET", "s" * 64, None, "s" * 64),
    (ENVIRONMENTS, "NEXTAUTH_SECRET", None, codes.MISSING, None),
    # DATABASE_URL: starts with postgresql://
    (ENVIRONMENTS, "DATABASE_URL", "mysql://app@db/app", codes.INVALID_PREFIX, None),
    (ENVIRONMENTS, "DATABASE_URL", "postgres://app@db/app", codes.INVALID_PREFIX, None),
    (ENVIRONMENTS, "DATABASE_URL", None, codes.MISSING, None),
    # DATABASE_POOL_SIZE: int 5..50, default 10
    (ENVIRONMENTS, "DATABASE_POOL_SIZE", "5", None, 5),
    (ENVIRONMENTS, "DATABASE_POOL_SIZE", "50", None, 50),
    (ENVIRONMENTS, "DATABASE_POOL_SIZE", "4", codes.TOO_SMALL, None),
    (ENVIRONMENTS, "DATABASE_POOL_SIZE", "51", codes.TOO_BIG, None),
    (ENVIRONMENTS, "DATABASE_POOL_SIZE", "ten", codes.INVALID_TYPE, None),
    (ENVIRONMENTS, "DATABASE_POOL_SIZE", "", None, 10),
    # OPENAI_API_KEY: starts with sk-, optional except in production
    (["base", "staging"], "OPENAI_API_KEY", None, None, None),
    (ENVIRONMENTS, "OPENAI_API_KEY", "sk-other", None, "sk-other"),
    (ENVIRONMENTS, "OPENAI_API_KEY", "pk-live-key", codes.INVALID_PREFIX, None),
    (["production"], "OPENAI_API_KEY", None, codes.MISSING, None),
    # NEXT_PUBLIC_ENABLE_AI_FEATURES: bool, default true
    (ENVIRONMENTS, "NEXT_PUBLIC_ENABLE_AI_FEATURES", "false", None, False),
    (ENVIRONMENTS, "NEXT_PUBLIC_ENABLE_AI_FEATURES", "0", None, False),
    (ENVIRONMENTS, "NEXT_PUBLIC_ENABLE_AI_FEATURES", "YES", None, True),
    (ENVIRONMENTS, "NEXT_PUBLIC_ENABLE_AI_FEATURES", "maybe", codes.INVALID_TYPE, None),
    # NEXT_PUBLIC_GA_ID: production only, ^G-[A-Z0-9]+$
    (["production"], "NEXT_PUBLIC_GA_ID", "G-Z9", None, "G-Z9"),
    (["production"], "NEXT_PUBLIC_GA_ID", "UA-12345", codes.PATTERN_MISMATCH, None),
    (["production"], "NEXT_PUBLIC_GA_ID", "G-abc", codes.PATTERN_MISMATCH, None),
    (["production"], "NEXT_PUBLIC_GA_ID", "G-", codes.PATTERN_MISMATCH, None),
    (["production"], "NEXT_PUBLIC_GA_ID", None, codes.MISSING, None),
]
CASES = [
    pytest.param(environment, variable, value, code, typed, id=f"{environment}-{variable}-{value}")
    for environments, variable, value, code, typed in RULES
    for environment in environments
]


@pytest.mark.parametrize(("environment", "variable", "value", "code", "typed"), CASES)
def test_every_rule(
    schema: Schema,
    environment: str,
    variable: str,
    value: str | None,
    code: str | None,
    typed: Any,
) -> None:
    result = run(schema, environment, **{variable: value})
    if code is None:
        assert result.valid, result.errors
        assert result.values[variable] == typed
    else:
        assert codes_of(result) == [(variable, code)]


@pytest.mark.parametrize("environment", ["base", "staging"])
def test_ga_id_is_not_part_of_base_or_staging(schema: Schema, environment: str) -> None:
    result = run(schema, environment, NEXT_PUBLIC_GA_ID="G-ABC")
    assert result.valid
    assert [(w.variable, w.code) for w in result.warnings] == [
        ("NEXT_PUBLIC_GA_ID", codes.UNKNOWN_VARIABLE)
    ]


def test_secret_values_stay_out_of_every_message(schema: Schema) -> None:
    result = run(
        schema,
        "production",
        NEXTAUTH_SECRET="short-but-secret",
        DATABASE_URL="mysql://root:hunter2@db/app",
        OPENAI_API_KEY="pk-live-abcdef",
    )
    assert {p.variable for p in result.errors} == {
        "NEXTAUTH_SECRET",
        "DATABASE_URL",
        "OPENAI_API_KEY",
    }
    text = repr(result.as_json())
    for secret in ("short-but-secret", "hunter2", "pk-live-abcdef", "mysql"):
        assert secret not in text


def test_python_api_returns_typed_settings_and_masks_its_repr() -> None:
    settings = env.load("production", schema=EXAMPLE, environ=VALID["production"])
    assert settings["NEXT_PUBLIC_API_TIMEOUT"] == 5000
    assert settings.DATABASE_POOL_SIZE == 10
    assert settings.NEXT_PUBLIC_ENABLE_AI_FEATURES is True
    assert settings.environment == "production"
    assert len(settings) == 9
    assert SECRET not in repr(settings) and "sk-live-key" not in repr(settings)
    assert settings.secret_names == {"NEXTAUTH_SECRET", "DATABASE_URL", "OPENAI_API_KEY"}
    with pytest.raises(AttributeError):
        _ = settings.NOPE


def test_python_api_raises_one_error_listing_every_problem(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("NEXTAUTH_SECRET=too-short-secret\nNEXT_PUBLIC_API_TIMEOUT=5\n")
    environ = {"NEXT_PUBLIC_ENVIRONMENT": "development", "PATH": "/usr/bin"}
    with pytest.raises(env.InvalidEnvironment) as caught:
        env.load("production", schema=EXAMPLE, env_files=[dotenv], environ=environ)
    error = caught.value
    assert {(p.variable, p.code) for p in error.errors} == {
        ("NEXT_PUBLIC_API_BASE_URL", codes.MISSING),
        ("NEXT_PUBLIC_API_TIMEOUT", codes.TOO_SMALL),
        ("NEXT_PUBLIC_ENVIRONMENT", codes.INVALID_LITERAL),
        ("NEXTAUTH_SECRET", codes.TOO_SMALL),
        ("DATABASE_URL", codes.MISSING),
        ("OPENAI_API_KEY", codes.MISSING),
        ("NEXT_PUBLIC_GA_ID", codes.MISSING),
    }
    message = str(error)
    assert message.startswith("environment production is invalid (7 problems):")
    assert f"{dotenv}:2: NEXT_PUBLIC_API_TIMEOUT: must be at least 1000 (got '5')" in message
    assert "too-short-secret" not in message
    assert isinstance(error, ValueError)


def test_python_api_process_environment_wins_over_files(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in VALID["production"].items()))
    settings = env.load(
        "production",
        schema=EXAMPLE,
        env_files=[dotenv],
        environ={"DATABASE_POOL_SIZE": "20", "NEXT_PUBLIC_API_TIMEOUT": "7000"},
    )
    assert settings.DATABASE_POOL_SIZE == 20
    assert settings.NEXT_PUBLIC_API_TIMEOUT == 7000


def test_python_api_schema_errors_are_their_own_exception(tmp_path: Path) -> None:
    broken = tmp_path / "env.schema.toml"
    broken.write_text('[production]\nA = { type = "integer" }\n')
    with pytest.raises(env.EnvSchemaError, match=r"env.schema.toml:2: production.A.type"):
        env.load("production", schema=broken, environ={})
