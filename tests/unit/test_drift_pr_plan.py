"""The edits `safeship env drift --pr` proposes (``plan_drift``: text in, text out, no I/O)."""

from __future__ import annotations

from safeship.envschema.drift_pr import plan_drift
from safeship.envschema.schema import parse_schema

SCHEMA = """\
# The shop's variables.
[base]
LOG_LEVEL = { type = "string", default = "info" }

[production]   # stricter
extends = "base"
OLD_FLAG = { type = "bool" }

[staging]
extends = "base"
"""


def test_added_lines_go_to_the_environments_own_table_and_the_rest_is_kept() -> None:
    plan = plan_drift(SCHEMA, "env.schema.toml", "production", {"PORT": "8080", "RETRIES": "3"})
    schema = parse_schema(plan.schema_text)
    production = schema.environment("production").variables
    assert production["PORT"].type == "port" and production["PORT"].default == "8080"
    assert production["RETRIES"].type == "int" and production["RETRIES"].default == "3"
    assert "OLD_FLAG" not in production
    assert "PORT" not in schema.environment("staging").variables
    assert plan.schema_text.startswith("# The shop's variables.\n[base]\n")
    assert "[production]   # stricter\nextends" in plan.schema_text
    assert [(c.variable, c.kind) for c in plan.changes] == [
        ("PORT", "added"),
        ("RETRIES", "added"),
        ("OLD_FLAG", "removed"),
    ]
    assert "\nPORT=8080\n" in plan.example_text


def test_a_public_variable_holding_a_credential_is_for_review_never_declared() -> None:
    leaked = "sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xk2"
    plan = plan_drift(
        SCHEMA, "env.schema.toml", "production", {"OLD_FLAG": "yes", "NEXT_PUBLIC_KEY": leaked}
    )
    assert [(c.variable, c.kind) for c in plan.changes] == [("NEXT_PUBLIC_KEY", "review")]
    assert leaked not in plan.schema_text + plan.example_text
    assert plan.schema_text == SCHEMA  # nothing else to change


def test_a_value_the_schema_refuses_is_named_by_its_code_not_shown() -> None:
    plan = plan_drift(SCHEMA, "env.schema.toml", "production", {"OLD_FLAG": "maybe-Zq8rXw2L"})
    [change] = plan.changes
    assert (change.variable, change.kind) == ("OLD_FLAG", "review")
    assert "maybe" not in change.detail and "[invalid_type]" in change.detail
