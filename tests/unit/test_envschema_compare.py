"""Fingerprints, diff, audit, .env.example and parity, and the masking they rely on."""

from __future__ import annotations

import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeship.envschema import compare
from safeship.envschema.example import parity, render_example
from safeship.envschema.fingerprint import KEY_ENV, KEY_FILENAME, FingerprintKey, load_key
from safeship.envschema.problems import EnvSourceError
from safeship.envschema.schema import load_schema, parse_schema
from safeship.redaction import MASK, Redactor, is_high_entropy, looks_like_credential

EXAMPLE = Path(__file__).parents[2] / "examples" / "env.schema.toml"
KEY = FingerprintKey(b"k" * 32)

# -- fingerprints ---------------------------------------------------------------------------


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    state = tmp_path / ".safeship"
    first = load_key(state, environ={})
    path = state / KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(state, environ={}) == first
    assert first.fingerprint("value") == load_key(state, environ={}).fingerprint("value")
    assert len(first.fingerprint("value")) == 16
    assert first.fingerprint("value") != first.fingerprint("value2")
    assert path.read_text().strip() not in repr(first)


def test_concurrent_first_uses_agree_on_one_key(tmp_path: Path) -> None:
    keys: list[FingerprintKey] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        try:
            barrier.wait()
            keys.append(load_key(tmp_path, environ={}))
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(keys) == 8 and len({k.key_id for k in keys}) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILENAME]


def test_the_environment_variable_key_wins_and_a_bad_key_is_an_error(tmp_path: Path) -> None:
    shared = "ab" * 32
    a = load_key(tmp_path / "a", environ={KEY_ENV: shared})
    b = load_key(tmp_path / "b", environ={KEY_ENV: shared})
    assert a.fingerprint("x") == b.fingerprint("x")
    assert not (tmp_path / "a").exists()
    other = load_key(tmp_path / "c", environ={})
    assert other.fingerprint("x") != a.fingerprint("x") and other.key_id != a.key_id
    with pytest.raises(EnvSourceError, match="not a fingerprint key"):
        load_key(tmp_path, environ={KEY_ENV: "not hex"})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / KEY_FILENAME).write_text("garbage")
    with pytest.raises(EnvSourceError, match="delete it for a new one"):
        load_key(tmp_path / "d", environ={})


def test_keys_are_masked_once_loaded(tmp_path: Path) -> None:
    from safeship.redaction import redact

    load_key(tmp_path, environ={})
    text = (tmp_path / KEY_FILENAME).read_text().strip()
    assert redact(f"key={text}") == f"key={MASK}"


# -- entries, diff, audit -------------------------------------------------------------------


SCHEMA = parse_schema(
    """
[base]
PUBLIC = { type = "string" }
SECRET = { type = "string", secret = true }
PORT = { type = "port", optional = true }

[production]
extends = "base"
PORT = { type = "port" }
GA = { type = "string" }
"""
)


def test_only_declared_non_secret_values_are_kept_in_clear() -> None:
    values = {
        "PUBLIC": "hello",
        "SECRET": "hunter2-hunter2",
        "UNDECLARED": "maybe-a-password",
        "PORT": "sk-proj-abcdefghijklmnopqrstu",  # declared, but shaped like a key
    }
    stored = compare.entries(values, SCHEMA.environment("base").variables, KEY)
    assert stored["PUBLIC"] == {"value": "hello", "fingerprint": None, "secret": False}
    for name in ("SECRET", "UNDECLARED", "PORT"):
        assert stored[name] == {
            "value": None,
            "fingerprint": KEY.fingerprint(values[name]),
            "secret": True,
        }
    assert "hunter2" not in repr(stored) and "password" not in repr(stored)


def test_diff_compares_values_secrets_by_fingerprint_and_schema_rules() -> None:
    staging = {"PUBLIC": "a", "SECRET": "same-secret-1", "PORT": "80"}
    production = {"PUBLIC": "b", "SECRET": "same-secret-1", "GA": "G-1", "PORT": "80"}
    found = compare.diff(
        ("base", staging, SCHEMA.environment("base")),
        ("production", production, SCHEMA.environment("production")),
        KEY,
    )
    assert [(d.variable, d.kind) for d in found] == [
        ("GA", "only_in_b"),
        ("PUBLIC", "value"),
        ("GA", "schema"),
        ("PORT", "schema"),
    ]
    assert found[1].detail == "base: 'a' · production: 'b'"
    assert found[2].detail == "only in the schema of production"
    assert found[3].detail == "base → production: optional: true → false"
    changed = compare.diff(
        ("a", {"SECRET": "first-secret"}, None), ("b", {"SECRET": "second-secret"}, None), KEY
    )
    assert [d.kind for d in changed] == ["value"]
    assert "first-secret" not in changed[0].detail and MASK in changed[0].detail
    assert KEY.fingerprint("first-secret") in changed[0].detail


def test_a_variable_secret_on_either_side_is_masked_on_both() -> None:
    loose = parse_schema('[a]\nX = { type = "string" }\n').environment("a")
    strict = parse_schema('[b]\nX = { type = "string", secret = true }\n').environment("b")
    found = compare.diff(("a", {"X": "plain-1"}, loose), ("b", {"X": "plain-2"}, strict), KEY)
    assert "plain-1" not in repr(found) and "plain-2" not in repr(found)


def snapshot(
    minutes: int, variables: dict[str, dict[str, object]], key_id: str = "k1"
) -> compare.SnapshotView:
    when = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return compare.SnapshotView(f"s{minutes}", when, "ci", key_id, variables)


def test_audit_lists_added_removed_and_changed_per_snapshot() -> None:
    fp = KEY.fingerprint
    first = snapshot(
        0,
        {
            "A": {"value": "1", "fingerprint": None, "secret": False},
            "S": {"value": None, "fingerprint": fp("s1"), "secret": True},
            "GONE": {"value": "x", "fingerprint": None, "secret": False},
        },
    )
    second = snapshot(
        1,
        {
            "A": {"value": "2", "fingerprint": None, "secret": False},
            "S": {"value": None, "fingerprint": fp("s2"), "secret": True},
            "NEW": {"value": "n", "fingerprint": None, "secret": False},
        },
    )
    third = snapshot(2, dict(second.variables))
    entries = compare.audit([first, second, third])
    assert [e.first for e in entries] == [True, False, False]
    assert [(c.variable, c.kind) for c in entries[1].changes] == [
        ("A", "changed"),
        ("GONE", "removed"),
        ("NEW", "added"),
        ("S", "changed"),
    ]
    assert entries[1].changes[0].detail == "'1' → '2'"
    assert entries[1].changes[3].detail == (
        f"{MASK} (fingerprint {fp('s1')}) → {MASK} (fingerprint {fp('s2')})"
    )
    assert entries[2].changes == []


def test_audit_across_a_key_change_does_not_report_every_secret_as_changed() -> None:
    old = snapshot(0, {"S": {"value": None, "fingerprint": "aaaa", "secret": True}}, "k1")
    new = snapshot(1, {"S": {"value": None, "fingerprint": "bbbb", "secret": True}}, "k2")
    entry = compare.compare_snapshot(old, new)
    assert entry.changes == []
    assert entry.note == "the fingerprint key changed: changes of secret values cannot be seen"


# -- .env.example and parity ----------------------------------------------------------------


def test_example_lists_every_variable_with_defaults_and_blank_secrets(tmp_path: Path) -> None:
    schema = load_schema(EXAMPLE)
    text = render_example(schema)
    assert "DATABASE_POOL_SIZE=10\n" in text
    assert "NEXT_PUBLIC_ENABLE_AI_FEATURES=true\n" in text
    assert "NEXTAUTH_SECRET=\n" in text
    assert "# Signs session cookies\n# string, length 32.., secret, required\n" in text
    assert "# string, starts with 'sk-', secret, required in production\nOPENAI_API_KEY=\n" in text
    assert "required, only in production\nNEXT_PUBLIC_GA_ID=\n" in text
    path = tmp_path / ".env.example"
    path.write_text(text)
    assert parity(schema, path).problems == []
    only_staging = render_example(schema, "staging")
    assert "NEXT_PUBLIC_GA_ID" not in only_staging
    assert "# string, starts with 'sk-', secret, optional\n" in only_staging


def test_parity_finds_missing_extra_renamed_and_filled_in_secrets(tmp_path: Path) -> None:
    schema = load_schema(EXAMPLE)
    text = render_example(schema)
    text = text.replace("DATABASE_POOL_SIZE=10", "DATABASE_POOL=10")  # renamed
    text = text.replace("NEXT_PUBLIC_GA_ID=\n", "")  # missing
    text = text.replace("NEXTAUTH_SECRET=\n", "NEXTAUTH_SECRET=real-value-committed\n")
    text += "LEFTOVER=1\n"  # extra
    path = tmp_path / ".env.example"
    path.write_text(text)
    report = parity(schema, path)
    assert not report.ok
    assert [(p.variable, p.code) for p in report.problems] == [
        ("DATABASE_POOL", "renamed"),
        ("NEXT_PUBLIC_GA_ID", "missing"),
        ("LEFTOVER", "extra"),
        ("NEXTAUTH_SECRET", "secret_value"),
    ]
    assert report.problems[0].message == (
        "is not in the schema, which has DATABASE_POOL_SIZE instead: renamed?"
    )
    assert "real-value-committed" not in repr(report.problems)


# -- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "credential",
    [
        "glpat-abcdefghijklmnopqrst",
        "npm_" + "a1B2" * 9,
        "hf_" + "aB3" * 11,
        "whsec_" + "Ab1" * 10,
        "SG." + "a" * 22 + "." + "b" * 43,
        "SK" + "0123456789abcdef" * 2,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU",
        "Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz",  # random, no known prefix
    ],
)
def test_more_credential_shapes_are_masked(credential: str) -> None:
    assert Redactor().redact(f"token: {credential}.") == f"token: {MASK}."
    assert looks_like_credential(credential)


def test_bearer_tokens_and_slack_webhooks_are_masked() -> None:
    r = Redactor()
    assert r.redact("Authorization: Bearer abcdefghijklmnop1234") == (
        f"Authorization: Bearer {MASK}"
    )
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    assert r.redact(url) == f"https://hooks.slack.com/services/{MASK}"


@pytest.mark.parametrize(
    "text",
    [
        "0e1e1d8a9c3f0e1e1d8a9c3f0e1e1d8a9c3f0e1e",  # a commit SHA
        "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",  # a deployment id
        "NEXT_PUBLIC_ENABLE_AI_FEATURES_FOR_EVERYONE",
        "/tmp/pytest-of-root/pytest-0/test_something_long_here0/ws0",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaAAAAAAAAAA1111",  # long but not random
        "7714ad236c1bf828",  # a fingerprint
    ],
)
def test_ordinary_long_words_are_not_masked(text: str) -> None:
    assert Redactor().redact(text) == text
    assert not looks_like_credential(text)


def test_high_entropy_needs_length_and_mixed_characters() -> None:
    assert is_high_entropy("Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz")
    assert not is_high_entropy("Zx8Qw2Er4Ty6Ui8Op0As2Df4")  # too short
    assert not is_high_entropy("zx8qw2er4ty6ui8op0as2df4gh6jk8lz")  # no upper case
    assert os.environ.get("NEVER_SET_IN_TESTS") is None
