"""The Vault store (safeship.secrets.vault) against the loopback Vault server (vault_api.py):
KV v2 versions with check-and-set, labels in custom_metadata, token and AppRole auth,
namespaces, and one-line errors that never carry a value or a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vault_api import ROLE_ID, SECRET_ID, VaultServer

from safeship._processes import free_port
from safeship.config import ConfigError, parse_config
from safeship.secrets.base import (
    CURRENT,
    PENDING,
    PREVIOUS,
    SecretConflict,
    SecretStoreError,
    open_versioned_store,
)
from safeship.secrets.settings import SecretsSettings, VaultSettings
from safeship.secrets.vault import VaultStore

PATH = "safeship/production/JWT_SECRET"
FIRST = "jwt-first-Vd8qL2mX7pR4tK9w"
SECOND = "jwt-second-Hs3nB6cY1fJ5gZ0e"


@pytest.fixture
def vault_api() -> Iterator[VaultServer]:
    server = VaultServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def token(vault_api: VaultServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VAULT_TOKEN", vault_api.root_token)
    return vault_api.root_token


def store(server: VaultServer | str, environment: str = "production", **vault: Any) -> VaultStore:
    url = server if isinstance(server, str) else server.url
    settings = SecretsSettings(store="vault", vault=VaultSettings(url=url, **vault))
    return VaultStore(environment, settings, Path("/nonexistent"))


def failure(call: Any, *args: Any, kind: type[Exception] = SecretStoreError, **kw: Any) -> str:
    """The one-line message ``call`` fails with; checked for what must never be in it."""
    with pytest.raises(kind) as info:
        call(*args, **kw)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    for secret in (FIRST, SECOND, SECRET_ID):
        assert secret not in message
    assert "hvs." not in message  # no token
    return message


def test_versions_and_labels_round_trip(vault_api: VaultServer, token: str) -> None:
    vault = store(vault_api)
    assert vault.read("JWT_SECRET") is None
    assert (vault.labels("JWT_SECRET"), vault.versions("JWT_SECRET")) == ({}, [])
    assert (vault.newest("JWT_SECRET"), vault.names()) == (0, [])

    assert vault.put("JWT_SECRET", FIRST, cas=0) == 1
    vault_api.secret(PATH).custom_metadata = {"owner": "team-payments"}  # someone else's key
    vault_api.secret(PATH).delete_version_after = 90 * 86400
    vault.set_labels("JWT_SECRET", {CURRENT: 1})
    assert vault.put("JWT_SECRET", SECOND, cas=1) == 2
    vault.set_labels("JWT_SECRET", {PENDING: 2})

    current, pending = vault.read("JWT_SECRET"), vault.read("JWT_SECRET", PENDING)
    assert current is not None and (current.version, current.value) == (1, FIRST)
    assert pending is not None and (pending.version, pending.value) == (2, SECOND)
    assert current.created_at is not None and current.created_at.tzinfo is not None
    assert vault.read("JWT_SECRET", PREVIOUS) is None
    assert vault.newest("JWT_SECRET") == 2
    assert vault.names() == ["JWT_SECRET"]

    # The rotation's finish: one metadata write moves all three labels.
    vault.set_labels("JWT_SECRET", {CURRENT: 2, PREVIOUS: 1, PENDING: None})
    assert vault.labels("JWT_SECRET") == {CURRENT: 2, PREVIOUS: 1}
    assert [(v.version, v.labels, v.destroyed) for v in vault.versions("JWT_SECRET")] == [
        (1, (PREVIOUS,), False),
        (2, (CURRENT,), False),
    ]
    secret = vault_api.secret(PATH)
    assert secret.custom_metadata == {
        "owner": "team-payments",
        "safeship_current": "2",
        "safeship_previous": "1",
    }
    assert secret.delete_version_after == 90 * 86400  # sent back, not reset to 0s
    assert secret.versions[2].data == {"value": SECOND}
    writes = [r for r in vault_api.calls("/v1/secret/data/") if r.method == "POST"]
    assert [w.body for w in writes] == [
        {"options": {"cas": 0}, "data": {"value": FIRST}},
        {"options": {"cas": 1}, "data": {"value": SECOND}},
    ]
    assert all(r.headers["X-Vault-Token"] == token for r in vault_api.received)
    assert all("X-Vault-Namespace" not in r.headers for r in vault_api.received)


def test_check_and_set_lets_one_of_two_writers_win(vault_api: VaultServer, token: str) -> None:
    first, second = store(vault_api), store(vault_api)
    seen = second.newest("JWT_SECRET")
    assert first.put("JWT_SECRET", FIRST, cas=seen) == 1
    message = failure(second.put, "JWT_SECRET", SECOND, cas=seen, kind=SecretConflict)
    assert "check-and-set failed" in message and PATH in message
    assert [v.data for v in vault_api.secret(PATH).versions.values()] == [{"value": FIRST}]
    assert second.put("JWT_SECRET", SECOND, cas=second.newest("JWT_SECRET")) == 2


def test_deleted_and_destroyed_versions_are_gone(vault_api: VaultServer, token: str) -> None:
    vault = store(vault_api)
    for cas, value in enumerate((FIRST, SECOND, "jwt-third-Ww2Rk7Lm4Np9")):
        vault.put("JWT_SECRET", value, cas=cas)
    vault.set_labels("JWT_SECRET", {CURRENT: 3, PREVIOUS: 2})
    vault_api.destroy_version(PATH, 1)
    vault_api.delete_version(PATH, 2)  # an operator's `vault kv delete`

    assert vault.read_version("JWT_SECRET", 1) is None
    assert vault.read("JWT_SECRET", PREVIOUS) is None
    assert vault.read_version("JWT_SECRET", 0) is None  # never Vault's "newest"
    assert [v.destroyed for v in vault.versions("JWT_SECRET")] == [True, True, False]
    message = failure(vault.set_labels, "JWT_SECRET", {CURRENT: 1})
    assert "version 1 is deleted or destroyed" in message
    assert "no version 9" in failure(vault.set_labels, "JWT_SECRET", {CURRENT: 9})
    assert "no such secret" in failure(vault.set_labels, "OTHER", {CURRENT: 1})


def test_token_auth_errors(
    vault_api: VaultServer, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.delenv("VAULT_TOKEN")
    message = failure(store(vault_api).read, "JWT_SECRET")
    assert message == (
        f"vault {vault_api.url}: $VAULT_TOKEN is not set ([secrets.vault] token_env, "
        "auth = 'token')"
    )
    assert vault_api.received == []  # nothing sent without a token

    monkeypatch.setenv("VAULT_TOKEN", token)
    vault = store(vault_api)
    vault.put("JWT_SECRET", FIRST, cas=0)
    vault_api.expire(token)
    message = failure(vault.read_version, "JWT_SECRET", 1)
    assert message == (
        f"vault {vault_api.url}: read secret/data/{PATH}: the token in $VAULT_TOKEN is invalid "
        "or expired (403)"
    )


def test_approle_logs_in_and_again_once_when_its_token_expires(
    vault_api: VaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.setenv("VAULT_ROLE_ID", ROLE_ID)
    monkeypatch.setenv("VAULT_SECRET_ID", SECRET_ID)
    vault = store(vault_api, auth="approle")
    assert vault.put("JWT_SECRET", FIRST, cas=0) == 1
    login, write = vault_api.received[:2]
    assert login.path == "/v1/auth/approle/login"
    assert login.body == {"role_id": ROLE_ID, "secret_id": SECRET_ID}
    issued = write.headers["X-Vault-Token"]
    assert issued in vault_api.tokens and vault_api.logins == 1

    vault_api.expire(issued)
    assert vault.put("JWT_SECRET", SECOND, cas=1) == 2  # refused, logged in, sent again
    assert vault_api.logins == 2
    assert vault_api.received[-1].headers["X-Vault-Token"] not in (issued, "")
    assert len(vault_api.secret(PATH).versions) == 2  # the refused write was not applied

    monkeypatch.setenv("VAULT_SECRET_ID", "sid-wrong-Tq8Lm3Xv6Rz1")
    message = failure(store(vault_api, auth="approle").names)
    assert message == (
        f"vault {vault_api.url}: log in at auth/approle/login: AppRole login refused (400: "
        "invalid role or secret ID; $VAULT_ROLE_ID and $VAULT_SECRET_ID)"
    )
    assert "sid-wrong" not in message
    monkeypatch.delenv("VAULT_SECRET_ID")
    assert "$VAULT_SECRET_ID is not set" in failure(store(vault_api, auth="approle").names)


def test_namespaces_are_separate_trees(
    vault_api: VaultServer, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = store(vault_api, namespace="team-a")
    team.put("JWT_SECRET", FIRST, cas=0)
    team.set_labels("JWT_SECRET", {CURRENT: 1})
    assert {r.headers["X-Vault-Namespace"] for r in vault_api.received} == {"team-a"}
    assert vault_api.secret(PATH, namespace="team-a").current_version == 1

    root = store(vault_api)
    assert (root.names(), root.read("JWT_SECRET")) == ([], None)
    team_read = team.read("JWT_SECRET")
    assert team_read is not None and team_read.value == FIRST

    # A token made in team-a is no token at the root.
    monkeypatch.setenv("VAULT_TOKEN", vault_api.new_token("team-a"))
    assert "permission denied (403)" in failure(store(vault_api).names)


def test_sealed_vault_is_one_line(vault_api: VaultServer, token: str) -> None:
    vault = store(vault_api)
    vault_api.sealed = True
    assert failure(vault.read, "JWT_SECRET") == (
        f"vault {vault_api.url}: read secret/metadata/{PATH}: Vault is sealed (503)"
    )
    assert failure(vault.put, "JWT_SECRET", FIRST, cas=0).endswith(
        f"write secret/data/{PATH}: Vault is sealed (503)"
    )


def test_permission_denied_names_the_path(vault_api: VaultServer, token: str) -> None:
    vault = store(vault_api, namespace="team-a")
    vault.put("JWT_SECRET", FIRST, cas=0)
    vault_api.deny(f"secret/metadata/{PATH}", "POST")  # a policy without update on metadata
    message = failure(vault.set_labels, "JWT_SECRET", {CURRENT: 1})
    assert message.startswith(
        f"vault {vault_api.url} (namespace team-a): label secret/metadata/{PATH}: "
        "permission denied (403)"
    )
    vault_api.deny("secret/data/safeship/production/")
    assert "read secret/data/" in failure(vault.read_version, "JWT_SECRET", 1)


def test_unreachable_and_silent_vaults(
    vault_api: VaultServer, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    message = failure(store(nobody).names)
    assert message.startswith(f"vault {nobody}: list secret/metadata/safeship/production: ")
    assert "not reachable (Connection refused)" in message

    vault = store(vault_api, timeout=0.3)
    vault_api.fail("hang")
    assert failure(vault.read_version, "JWT_SECRET", 1).endswith("no answer within 0.3s")
    vault_api.fail("hang")
    message = failure(vault.put, "JWT_SECRET", FIRST, cas=0)
    assert message.endswith(
        "no answer within 0.3s; it may have taken effect: read the secret again before repeating it"
    )
    assert len(vault_api.calls("/v1/secret/data/")) == 2  # the write was not sent twice
    # Carried out, then the connection drops: the store cannot know, and says so.
    vault_api.drop_after(lambda r: r.method == "POST")
    message = failure(vault.put, "JWT_SECRET", SECOND, cas=0)
    assert message.endswith(
        "the connection dropped before an answer; it may have taken effect: read the secret "
        "again before repeating it"
    )
    assert vault_api.secret(PATH).current_version == 1
    assert len([r for r in vault_api.received if r.method == "POST"]) == 2
    # Credentials in the configured URL stay out of every message.
    monkeypatch.setenv("VAULT_TOKEN", token)
    with_user = vault_api.url.replace("http://", "http://admin:pw-Zr4Tq9Lx@")
    vault_api.sealed = True
    assert "pw-Zr4Tq9Lx" not in failure(store(with_user).names)


def test_wrong_mount_names_and_ca_cert(vault_api: VaultServer, token: str) -> None:
    message = failure(store(vault_api, mount="kv").names)
    assert "no secrets engine is mounted at kv/" in message
    assert "is not a secret name" in failure(store(vault_api).read, "../other/X")
    assert failure(store(vault_api, ca_cert="ca.pem").names) == (
        f"vault {vault_api.url}: [secrets.vault] ca_cert /nonexistent/ca.pem: no such file"
    )


def test_store_is_chosen_by_config(vault_api: VaultServer, token: str) -> None:
    source = f"""\
[project]
name = "shop"

[environments.production]
port = 8081
target = {{ type = "local", command = ["python", "app.py"] }}

[secrets]
store = "vault"

[secrets.vault]
url = "{vault_api.url}"
path = "apps/shop/{{environment}}"
"""
    config = parse_config(source)
    vault = open_versioned_store("production", config.secrets, Path("/nonexistent"))
    assert isinstance(vault, VaultStore)
    assert vault.put("JWT_SECRET", FIRST, cas=0) == 1
    assert vault_api.secret("apps/shop/production/JWT_SECRET").current_version == 1

    with pytest.raises(ConfigError) as info:
        parse_config(source.replace("apps/shop/{environment}", "apps/shop"))
    (problem,) = info.value.problems
    assert "secrets.vault.path" in problem and "{environment}" in problem
