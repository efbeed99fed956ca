"""The local encrypted secrets file (secrets/encrypted_file.py, ``EncryptedFileStore``): versions
and labels, check-and-set, the key from a variable (two keys: a rotation of the key itself) or
a key file made on first use, private files, one-line errors for a changed file or a wrong key,
and two processes writing at once without losing a version."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from safeship.redaction import redact
from safeship.secrets.base import SecretConflict, SecretStoreError
from safeship.secrets.encrypted_file import EncryptedFileStore
from safeship.secrets.settings import SecretsSettings

KEY_ENV = "SAFESHIP_TEST_SECRETS_KEY"
VALUE = "v4lue-0f-the-jwt-key-0123456789abcdef"


def settings() -> SecretsSettings:
    return SecretsSettings.model_validate({"file": {"key_env": KEY_ENV}})


def store(base: Path, environment: str = "production") -> EncryptedFileStore:
    return EncryptedFileStore(environment, settings(), base)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, value)
    return value


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_versions_and_labels_round_trip(tmp_path: Path, key: str) -> None:
    prod = store(tmp_path)
    assert prod.read("JWT_SECRET") is None and prod.newest("JWT_SECRET") == 0
    assert prod.put("JWT_SECRET", VALUE, cas=0) == 1
    assert prod.put("JWT_SECRET", VALUE + "-2", cas=1) == 2
    prod.set_labels("JWT_SECRET", {"current": 1, "pending": 2})
    again = store(tmp_path)  # another process's view: from the file
    current, pending = again.read("JWT_SECRET"), again.read("JWT_SECRET", "pending")
    assert current is not None and (current.version, current.value) == (1, VALUE)
    assert pending is not None and pending.value == VALUE + "-2"
    assert again.read("JWT_SECRET", "previous") is None
    prod.set_labels("JWT_SECRET", {"current": 2, "previous": 1, "pending": None})
    assert again.labels("JWT_SECRET") == {"current": 2, "previous": 1}
    versions = again.versions("JWT_SECRET")
    assert [(v.version, v.labels) for v in versions] == [(1, ("previous",)), (2, ("current",))]
    assert all(v.created_at is not None for v in versions)
    first = again.read_version("JWT_SECRET", 1)
    assert first is not None and first.value == VALUE
    assert again.read_version("JWT_SECRET", 9) is None
    assert again.names() == ["JWT_SECRET"] and store(tmp_path, "staging").names() == []
    assert VALUE not in repr(current) and VALUE not in redact(f"key {VALUE}")
    # The file holds no value in the clear, and is private.
    assert VALUE.encode() not in prod.path.read_bytes()
    assert mode(prod.path) == 0o600


def test_check_and_set_and_labels_refuse_what_is_wrong(tmp_path: Path, key: str) -> None:
    prod = store(tmp_path)
    prod.put("DATABASE_URL", VALUE, cas=0)
    with pytest.raises(SecretConflict) as lost:
        prod.put("DATABASE_URL", VALUE + "x", cas=0)  # another writer got version 1 first
    assert str(lost.value) == (
        f"{prod.path} (production/DATABASE_URL): check-and-set failed (newest version is 1, "
        "the writer saw 0)"
    )
    with pytest.raises(SecretStoreError, match="no version 5"):
        prod.set_labels("DATABASE_URL", {"current": 5})
    with pytest.raises(SecretStoreError, match="no such secret"):
        prod.set_labels("NOPE", {"current": 1})
    with pytest.raises(SecretStoreError, match="unknown label 'latest'"):
        prod.read("DATABASE_URL", "latest")
    with pytest.raises(SecretStoreError, match="an empty value is not a secret"):
        prod.put("DATABASE_URL", "", cas=1)
    assert prod.newest("DATABASE_URL") == 1


def test_a_file_written_with_the_old_key_opens_with_both_and_is_re_encrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, old)
    store(tmp_path).put("JWT_SECRET", VALUE, cas=0)
    monkeypatch.setenv(KEY_ENV, f"{new}, {old}")  # the newest first
    both = store(tmp_path)
    read = both.read_version("JWT_SECRET", 1)
    assert read is not None and read.value == VALUE
    both.put("JWT_SECRET", VALUE + "-2", cas=1)  # a write re-encrypts with the newest key
    monkeypatch.setenv(KEY_ENV, new)  # the old key retired
    assert store(tmp_path).newest("JWT_SECRET") == 2


def test_the_key_file_is_made_private_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    prod = store(tmp_path)
    key_file = tmp_path / ".safeship" / "secrets.key"
    assert not key_file.exists()
    prod.put("JWT_SECRET", VALUE, cas=0)
    assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
    Fernet(key_file.read_text(encoding="ascii").strip())  # a Fernet key
    assert store(tmp_path).newest("JWT_SECRET") == 1  # the same key, read back


def test_a_changed_file_and_a_wrong_key_are_one_line_errors(
    tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = store(tmp_path)
    prod.put("JWT_SECRET", VALUE, cas=0)
    token = bytearray(prod.path.read_bytes())
    token[40] = ord("A") if token[40] != ord("A") else ord("B")
    prod.path.write_bytes(bytes(token))
    with pytest.raises(SecretStoreError) as changed:
        store(tmp_path).names()
    assert str(changed.value) == (
        f"{prod.path}: cannot decrypt (another key, or the file was changed)"
    )
    prod.path.unlink()
    prod.put("JWT_SECRET", VALUE, cas=0)
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(SecretStoreError) as wrong:
        store(tmp_path).read("JWT_SECRET")
    assert "\n" not in str(wrong.value) and "cannot decrypt" in str(wrong.value)
    monkeypatch.setenv(KEY_ENV, "not-a-fernet-key")
    with pytest.raises(SecretStoreError) as bad:
        store(tmp_path).read("JWT_SECRET")
    assert str(bad.value) == (
        f"${KEY_ENV}: not Fernet keys (32 url-safe base64-encoded bytes each, comma-separated)"
    )
    assert "not-a-fernet-key" not in redact(str(bad.value))


WRITES = 20


def _writer(base: str, who: str, key: str, go: Any) -> None:
    """One process: its own secrets, and versions of a shared one (check-and-set, retried)."""
    os.environ[KEY_ENV] = key
    mine = store(Path(base))
    go.wait(10)  # both start together
    for index in range(WRITES):
        mine.put(f"{who}_{index}", f"value-of-{who}-{index}-0123456789", cas=0)
        for _attempt in range(50):  # bounded: the other writer wins at most a few in a row
            try:
                mine.put("SHARED", f"shared-{who}-{index}-0123456789", cas=mine.newest("SHARED"))
                break
            except SecretConflict:
                continue


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path, key: str) -> None:
    context = multiprocessing.get_context("fork")
    go = context.Event()
    writers = [context.Process(target=_writer, args=(str(tmp_path), w, key, go)) for w in "AB"]
    for process in writers:
        process.start()
    go.set()
    for process in writers:
        process.join(30)
        assert process.exitcode == 0
    prod = store(tmp_path)
    assert len(prod.names()) == 2 * WRITES + 1
    shared = [prod.read_version("SHARED", v) for v in range(1, 2 * WRITES + 1)]
    values = sorted(s.value for s in shared if s is not None)
    assert values == sorted(f"shared-{w}-{i}-0123456789" for w in "AB" for i in range(WRITES))
