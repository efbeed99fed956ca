"""The ``[secrets]`` table of safeship.toml: where rotated secrets' versions live, how long a
rotation's grace period is, the rotation periods, and each rotated secret::

    [secrets]
    store = "file"                 # "file" (encrypted, local) or "vault" (HashiCorp Vault KV v2)
    grace = 86400.0                # seconds between the production deploy and the finish step
    keep_warm = 60.0               # seconds the old release stays warm in the blue-green switch
    remind_before = 7.0            # days before a secret is due that it is reported due

    [secrets.file]
    path = ".safeship/secrets.enc" # the encrypted store (0600), relative to safeship.toml
    key_env = "SAFESHIP_SECRETS_KEY"   # Fernet key(s), comma-separated, newest first ...
    key_file = ".safeship/secrets.key" # ... else this file (0600; made on first use)

    [secrets.vault]
    url = "https://vault.example.com:8200"
    mount = "secret"               # the KV version 2 engine's mount
    path = "safeship/{environment}"    # each environment's secrets under this path
    namespace = ""                 # Vault Enterprise namespace
    auth = "token"                 # or "approle"
    token_env = "VAULT_TOKEN"
    role_id_env = "VAULT_ROLE_ID"  # approle
    secret_id_env = "VAULT_SECRET_ID"

    [secrets.periods]              # days between rotations, per category (0: on demand only)
    database = 90.0
    redis = 90.0
    platform = 90.0
    application = 30.0
    api = 0.0                      # external API keys: on demand, e.g. after a breach
    oauth = 0.0                    # OAuth clients: manual

    [secrets.rotate.DATABASE_URL]
    kind = "postgresql"            # the rotator: random, postgresql, redis, command, manual
    category = "database"
    environments = ["staging", "production"]   # in this order; empty: every environment
    # ... the rotator's own keys, e.g. users, group, admin_url_env, url
    [secrets.rotate.DATABASE_URL.environment.production]
    admin_url_env = "PROD_PG_ADMIN_URL"        # per-environment overrides of the rotator's keys
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from safeship.settings_model import SettingsModel

CATEGORIES: Final = ("database", "redis", "platform", "application", "api", "oauth")
Category = Literal["database", "redis", "platform", "application", "api", "oauth"]
Days = Annotated[float, Field(ge=0, le=3660)]
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,127}"


class VaultSettings(SettingsModel):
    # The Vault server (https in production; the token travels with every request).
    url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)] = "http://127.0.0.1:8200"
    # The KV version 2 secrets engine's mount, and each environment's path under it.
    mount: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")] = "secret"
    # {environment} (required) is replaced by the environment's name; each secret NAME is the
    # KV secret <path>/NAME, its value the data key "value".
    path: Annotated[str, Field(min_length=1, max_length=512)] = "safeship/{environment}"
    # A Vault Enterprise namespace (empty: none).
    namespace: Annotated[str, Field(max_length=256)] = ""
    # "token": the token in $token_env; "approle": a login with $role_id_env and $secret_id_env.
    auth: Literal["token", "approle"] = "token"
    token_env: Annotated[str, Field(pattern=f"^{_ENV_NAME}$")] = "VAULT_TOKEN"
    role_id_env: Annotated[str, Field(pattern=f"^{_ENV_NAME}$")] = "VAULT_ROLE_ID"
    secret_id_env: Annotated[str, Field(pattern=f"^{_ENV_NAME}$")] = "VAULT_SECRET_ID"
    # AppRole's mount (auth/<approle_mount>/login).
    approle_mount: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")] = "approle"
    # Seconds for each request.
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    # A CA bundle to verify the server with (empty: the system's).
    ca_cert: Annotated[str, Field(max_length=4096)] = ""

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"{path!r}: a path under the mount, without '/' first or '..'")
        # Each environment needs a tree of its own: without {environment}, staging's rotation
        # would write production's secrets.
        if "{environment}" not in path:
            raise ValueError(f"{path!r}: name each environment's tree with {{environment}}")
        if "{" in path.replace("{environment}", "") or "}" in path.replace("{environment}", ""):
            raise ValueError(f"{path!r}: {{environment}} is the only placeholder")
        return path


class SecretFileSettings(SettingsModel):
    # The encrypted store, relative to safeship.toml's directory (written 0600).
    path: Annotated[str, Field(min_length=1, max_length=4096)] = ".safeship/secrets.enc"
    # The key: Fernet keys in this variable (comma-separated, the newest first: the others
    # still decrypt, for a key rotation) ...
    key_env: Annotated[str, Field(pattern=f"^{_ENV_NAME}$")] = "SAFESHIP_SECRETS_KEY"
    # ... else in this file (0600; made with a new key on first use when missing).
    key_file: Annotated[str, Field(min_length=1, max_length=4096)] = ".safeship/secrets.key"


class RotationPeriods(SettingsModel):
    """Days between two rotations of a category's secrets (0: on demand only). The defaults are
    the architecture's (§3.3): credentials quarterly, application secrets monthly."""

    database: Days = 90.0
    redis: Days = 90.0
    platform: Days = 90.0
    application: Days = 30.0
    api: Days = 0.0
    oauth: Days = 0.0

    def of(self, category: str) -> float:
        return float(getattr(self, category))


class RotatedSecretSettings(SettingsModel):
    """One ``[secrets.rotate.NAME]`` table. Keys other than the ones below belong to the rotator
    (validated by its own ``Options`` model when the config is loaded)."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    # The rotator (a name in the safeship.rotators entry points).
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    category: Category
    # The environments rotated, in order (staging first); empty: every configured environment.
    environments: Annotated[list[str], Field(max_length=32)] = Field(default_factory=list)
    # The platform variable releases read the secret from (default: the secret's name).
    variable: Annotated[str, Field(pattern=f"^({_ENV_NAME})?$")] = ""
    # Days between rotations; None: the category's period.
    period: Days | None = None
    # Per-environment overrides of the rotator's own keys.
    environment: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def options(self, environment: str) -> dict[str, Any]:
        """The rotator's own keys for ``environment``: the table's, then its overrides."""
        return {**(self.model_extra or {}), **self.environment.get(environment, {})}


class SecretsSettings(SettingsModel):
    # Where versions and labels live: "file" or "vault" (a safeship.versioned_stores name).
    store: Annotated[str, Field(min_length=1, max_length=64)] = "file"
    # Seconds from the last environment's deploy to the finish step (the old credential and, in
    # blue-green, the old release stay usable for a rollback until then).
    grace: Annotated[float, Field(ge=0, le=90 * 86400)] = 86400.0
    # Seconds the old release stays warm (rules watching) in a rotation's blue-green switch.
    keep_warm: Annotated[float, Field(ge=0, le=86400)] = 60.0
    # Days before a secret is due that status and the reminder job report it due.
    remind_before: Days = 7.0
    file: SecretFileSettings = Field(default_factory=SecretFileSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    periods: RotationPeriods = Field(default_factory=RotationPeriods)
    rotate: dict[Annotated[str, Field(pattern=f"^{_ENV_NAME}$")], RotatedSecretSettings] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _known_kinds(self) -> SecretsSettings:
        if not self.rotate:
            return self  # nothing to look up: `safeship status` pays nothing for [secrets]
        from safeship.plugins import ROTATORS, VERSIONED_STORES, is_registered, names

        if not is_registered(VERSIONED_STORES, self.store):
            known = ", ".join(repr(n) for n in names(VERSIONED_STORES))
            raise ValueError(f"store: unknown store {self.store!r} (expected one of: {known})")
        for name, secret in self.rotate.items():
            if not is_registered(ROTATORS, secret.kind):
                known = ", ".join(repr(n) for n in names(ROTATORS))
                raise ValueError(
                    f"rotate.{name}.kind: unknown rotator {secret.kind!r} "
                    f"(expected one of: {known})"
                )
        return self

    def period(self, name: str) -> float:
        """Days between rotations of ``name`` (0: on demand only)."""
        secret = self.rotate[name]
        return secret.period if secret.period is not None else self.periods.of(secret.category)


def _rotation_checks(settings: SecretsSettings, info: ValidationInfo) -> SecretsSettings:
    """Each rotated secret's environments are configured ones, and its rotator's own keys
    (with each environment's overrides) are what the rotator takes."""
    environments: Any = info.data.get("environments")
    if not settings.rotate or environments is None:  # a wrong [environments] is reported already
        return settings
    from pydantic import ValidationError

    from safeship.rotation.base import validate_options

    for name, secret in settings.rotate.items():
        where = f"secrets.rotate.{name}"
        for env in [*secret.environments, *secret.environment]:
            if env not in environments:
                known = ", ".join(environments)
                raise ValueError(f"{where}: no environment {env!r} is configured ({known})")
        for env in secret.environments or list(environments):
            try:
                validate_options(secret.kind, secret.options(env))
            except ValidationError as exc:
                first = exc.errors()[0]
                key = ".".join(str(part) for part in first["loc"])
                raise ValueError(f"{where}.{key} ({env}): {first['msg']}") from None
    return settings


# SafeshipConfig's ``secrets`` field: declared after ``environments``, so the check sees them.
SecretsTable = Annotated[SecretsSettings, AfterValidator(_rotation_checks)]
