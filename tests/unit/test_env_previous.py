"""``safeship.env.load``'s previous slot: NAME_PREVIOUS, implied for every secret variable, typed
and validated like NAME, secret, and what an application verifies a rotated key with."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from safeship import env
from safeship.redaction import redact

SCHEMA = """\
[base]
JWT_SECRET = { type = "string", min_length = 32, secret = true }
API_TIMEOUT = { type = "int", default = "5" }
SESSION_KEYS = { type = "int", secret = true, optional = true }

[production]
extends = "base"
"""
NEW = "n" * 16 + "new-signing-key-0123456789"
OLD = "o" * 16 + "old-signing-key-9876543210"


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "env.schema.toml"
    path.write_text(SCHEMA, encoding="utf-8")
    return path


def sign(key: str, payload: bytes) -> str:
    digest = hmac.new(key.encode(), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def verify(settings: env.Settings, payload: bytes, signature: str) -> bool:
    """The pattern docs/secrets.md shows: accept a signature made with either key."""
    return any(
        hmac.compare_digest(sign(key, payload), signature)
        for key in settings.candidates("JWT_SECRET")
    )


def test_the_previous_value_is_there_during_the_overlap(schema: Path) -> None:
    settings = env.load(
        "production",
        schema,
        environ={"JWT_SECRET": NEW, "JWT_SECRET_PREVIOUS": OLD, "SESSION_KEYS_PREVIOUS": "7"},
    )
    assert settings["JWT_SECRET"] == NEW
    assert settings.previous("JWT_SECRET") == OLD
    assert settings.candidates("JWT_SECRET") == (NEW, OLD)
    assert settings.previous("SESSION_KEYS") == 7  # typed like SESSION_KEYS
    assert settings.previous("API_TIMEOUT") is None  # not a secret: no implied slot
    # A token signed before the rotation and one signed after both verify; a forged one not.
    assert verify(settings, b"old-token", sign(OLD, b"old-token"))
    assert verify(settings, b"new-token", sign(NEW, b"new-token"))
    assert not verify(settings, b"forged", sign("x" * 40, b"forged"))
    # The slot is not a variable of the mapping, and its value is masked like the key's.
    assert "JWT_SECRET_PREVIOUS" not in settings and OLD not in repr(settings)
    assert OLD not in redact(f"token {OLD}")


def test_outside_a_rotation_there_is_one_candidate(schema: Path) -> None:
    settings = env.load("production", schema, environ={"JWT_SECRET": NEW})
    assert settings.previous("JWT_SECRET") is None
    assert settings.candidates("JWT_SECRET") == (NEW,)
    with pytest.raises(KeyError, match="NOPE is not a variable of production"):
        settings.previous("NOPE")


def test_a_previous_value_is_validated_like_its_variable(schema: Path) -> None:
    with pytest.raises(env.InvalidEnvironment) as invalid:
        env.load("production", schema, environ={"JWT_SECRET": NEW, "JWT_SECRET_PREVIOUS": "short"})
    text = str(invalid.value)
    assert "JWT_SECRET_PREVIOUS" in text and "short" not in text


def test_a_slot_the_schema_declares_wins(tmp_path: Path) -> None:
    path = tmp_path / "env.schema.toml"
    path.write_text(
        SCHEMA + 'JWT_SECRET_PREVIOUS = { type = "string", optional = true }\n', encoding="utf-8"
    )
    settings = env.load(
        "production", path, environ={"JWT_SECRET": NEW, "JWT_SECRET_PREVIOUS": "short-old"}
    )  # its own rules (no min_length), still masked as the secret's slot
    assert settings.previous("JWT_SECRET") == "short-old"
    assert settings["JWT_SECRET_PREVIOUS"] == "short-old"
    assert "short-old" not in repr(settings)


def test_a_platform_s_previous_slot_is_not_an_unknown_variable(schema: Path) -> None:
    """During a rotation's overlap the target has JWT_SECRET_PREVIOUS: `safeship env check`
    and the drift job know it (no warning, no drift); another *_PREVIOUS is still unknown."""
    from safeship.envschema.schema import load_schema
    from safeship.envschema.sources import collect
    from safeship.envschema.validate import check

    production = load_schema(schema).environment("production")
    target = {"JWT_SECRET": NEW, "JWT_SECRET_PREVIOUS": OLD, "API_TIMEOUT_PREVIOUS": "4"}
    result = check(production, collect(target=target))
    assert [(p.variable, p.code) for p in result.warnings] == [
        ("API_TIMEOUT_PREVIOUS", "unknown_variable")
    ]
    assert result.errors == []
