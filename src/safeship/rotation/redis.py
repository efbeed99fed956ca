"""The redis rotator: one ACL user with two passwords during the overlap.

A Redis ACL user may have several passwords at once, so a rotation adds the pending password
beside the current one (``apply``) and removes the previous one at the finish step
(``revoke``): the serving release's credential never stops working.

Decisions:

- Passwords are sent to the server as SHA-256 hashes (``#<hash>`` to add, ``!<hash>`` to
  remove), never in clear text: only a login (``test``, the releases) sends a password.
- ``apply`` makes the user's permissions exactly ``rules`` (its key, channel and command rules
  reset, then ``rules``, in the same atomic ACL SETUSER as the password): the user never ends
  up with more than the config says because of what it had before. If its permissions change
  (wider or narrower) a warning line says so, with both forms: never silently.
- ``revoke`` and ``discard`` remove one password; connections stay open. An authenticated
  connection stays authenticated (Redis does not re-check it), and killing the user's
  connections (CLIENT KILL USER) would kill the serving release's too: same user. A new AUTH
  with a removed password fails.
- ``revoke`` refuses unless the current password is set on the user: removing the previous one
  would otherwise leave no password that works.
- ``ACL SAVE`` after each change, when the server has an ACL file; without one the changes
  live until the server restarts (a ``user`` line in redis.conf must then be updated too:
  docs/secrets.md). ACLs are per server: replicas and cluster nodes are not covered.
- The admin connection comes from the environment variable named by ``admin_url_env`` (a user
  allowed ``+acl``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, field_validator

from safeship.redaction import register_secret
from safeship.rotation.base import RotatorError
from safeship.settings_model import SettingsModel

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

SCHEMES = ("redis", "rediss")
# Seconds a connection or a command may take.
TIMEOUT_S = 10.0
# Rules that touch passwords or switch the user on/off: the rotator's own, never config's.
_PASSWORD_RULES = ("nopass", "resetpass", "reset", "on", "off")
# What the reset before ``rules`` clears: key patterns, channel patterns, commands.
_RESET_PERMISSIONS = ("resetkeys", "resetchannels", "-@all")
# The fields of ACL GETUSER that are permissions (not passwords, not on/off).
_PERMISSION_FIELDS = ("commands", "keys", "channels", "selectors")


class RedisOptions(SettingsModel):
    # The ACL user the releases log in as.
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$")]
    # The secret's value: redis://{user}:{password}@HOST:PORT/DB (both placeholders).
    url: str
    # The NAME of safeship's environment variable holding the admin connection URL.
    admin_url_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    # Characters of each new password (URL-safe alphabet).
    password_length: Annotated[int, Field(ge=24, le=1024)] = 48
    # The user's permissions, exactly (e.g. ["~app:*", "&*", "+@all", "-@dangerous"]).
    rules: Annotated[list[str], Field(min_length=1)]

    @field_validator("url")
    @classmethod
    def _template(cls, url: str) -> str:
        for placeholder in ("{user}", "{password}"):
            if placeholder not in url:
                raise ValueError(f"the url template needs {placeholder}")
        _parse(_fill(url, "user", "password"))  # ValueError if not a Redis URL
        return url

    @field_validator("rules")
    @classmethod
    def _no_password_rules(cls, rules: list[str]) -> list[str]:
        for rule in rules:
            if not rule or any(c.isspace() for c in rule):
                raise ValueError(f"rule {rule!r}: one ACL rule per item, without spaces")
            if rule[0] in "><#!" or rule.lower() in _PASSWORD_RULES:
                raise ValueError(
                    f"rule {rule!r}: passwords and on/off are the rotator's, not rules"
                )
        return rules


@dataclass(frozen=True)
class RedisURL:
    url: str  # with its password: never print it
    host: str
    port: int
    db: str
    user: str
    password: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.db}"


def _fill(template: str, user: str, password: str) -> str:
    return template.replace("{user}", quote(user, safe="")).replace(
        "{password}", quote(password, safe="")
    )


def _parse(url: str) -> RedisURL:
    """``url`` as a Redis URL; ValueError naming the problem (never the URL) if not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 6379
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"not a Redis URL (scheme {parts.scheme or 'none'!r})")
    if not parts.hostname:
        raise ValueError("names no host (redis://HOST:PORT/DB)")
    return RedisURL(
        url=url.strip(),
        host=parts.hostname,
        port=port,
        db=parts.path.lstrip("/") or "0",
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class RedisAclRotator:
    Options: ClassVar[type[SettingsModel]] = RedisOptions
    previous_slot = False  # each release has one URL; the old release keeps its own

    def __init__(
        self, secret: str, environment: str, options: Mapping[str, Any], base_dir: Path
    ) -> None:
        self.secret = secret
        self.environment = environment
        self.options = RedisOptions.model_validate(dict(options))
        self.where = _parse(_fill(self.options.url, "user", "password")).where

    # -- Rotator ---------------------------------------------------------------------------

    def generate(self, current: str | None) -> str:
        length = self.options.password_length
        while True:
            password = secrets.token_urlsafe(length)[:length]
            value = _fill(self.options.url, self.options.user, password)
            if value != current:
                break
        register_secret(password)
        register_secret(value)
        return value

    def apply(self, pending: str, current: str | None) -> None:
        target = self._own(pending, "the pending value")
        if current is not None and self._parse(current, "the current value") == target:
            raise RotatorError(f"{self._name}: the pending value is the current one; refusing")
        user = self.options.user
        with self._admin("apply") as client:
            before = _permissions(client, user)
            _acl(
                client,
                "SETUSER",
                user,
                "on",
                f"#{_digest(target.password)}",
                *_RESET_PERMISSIONS,
                *self.options.rules,
            )
            after = _permissions(client, user)
            if before is not None and after is not None and before != after:
                log.warning(
                    "%s: the permissions of Redis user %s changed to the configured rules: "
                    "%s -> %s",
                    self._name,
                    user,
                    _shown(before),
                    _shown(after),
                )
            self._save(client)

    def test(self, value: str) -> None:
        target = self._parse(value, "the value")
        import redis

        client = redis.Redis.from_url(
            target.url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            raise self._error(f"login as {target.user}", exc, target) from None
        finally:
            client.close()

    def revoke(self, previous: str, current: str) -> None:
        old = self._own(previous, "the previous value")
        new = self._own(current, "the current value")
        if old.password == new.password:
            raise RotatorError(
                f"{self._name}: the previous and the current value have the same password: "
                "removing it would lock out the serving release; refusing"
            )
        with self._admin("revoke") as client:
            passwords = self._passwords(client)
            if _digest(new.password) not in passwords:
                raise RotatorError(
                    f"{self._name}: the current password is not set on Redis user "
                    f"{self.options.user}: removing the previous one would "
                    "leave no password that works; refusing"
                )
            self._remove(client, old.password, passwords)

    def discard(self, pending: str, current: str | None) -> None:
        target = self._own(pending, "the pending value")
        if current is not None and self._parse(current, "the current value") == target:
            log.debug("%s: the pending value is the current one: nothing to discard", self._name)
            return  # apply refuses it, so nothing was added
        with self._admin("discard") as client:
            self._remove(client, target.password, self._passwords(client))

    def checklist(self) -> list[str]:
        return []

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return f"{self.secret} ({self.environment}, {self.where})"

    def _parse(self, value: str, what: str) -> RedisURL:
        try:
            return _parse(value)
        except ValueError as exc:
            raise RotatorError(f"{self._name}: {what} is {exc}") from None

    def _own(self, value: str, what: str) -> RedisURL:
        target = self._parse(value, what)
        if target.user != self.options.user:
            raise RotatorError(
                f"{self._name}: {what} logs in as {target.user or '(default)'}, not as "
                f"{self.options.user} (user)"
            )
        return target

    def _error(self, action: str, exc: BaseException, *urls: RedisURL) -> RotatorError:
        from safeship.httpapi import one_line
        from safeship.redaction import MASK
        from safeship.registry.errors import first_line

        cause = first_line(exc)
        for url in urls:
            if url.password:
                for form in {url.password, quote(url.password, safe="")}:
                    cause = cause.replace(form, MASK)
        return RotatorError(one_line(f"{self._name}: {action}: {cause}", 400))

    @contextmanager
    def _admin(self, action: str) -> Iterator[redis.Redis]:
        """A connection as the admin user; every failure a one-line RotatorError."""
        name = self.options.admin_url_env
        admin_url = os.environ.get(name, "").strip()
        if not admin_url:
            raise RotatorError(
                f"{self._name}: {action}: the environment variable {name} (admin_url_env) is "
                "not set: it holds the admin connection URL"
            )
        admin = self._parse(admin_url, name)
        register_secret(admin.password)
        import redis

        client = redis.Redis.from_url(
            admin.url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            decode_responses=True,
        )
        try:
            yield client
        except redis.RedisError as exc:
            raise self._error(action, exc, admin) from None
        finally:
            client.close()

    def _passwords(self, client: redis.Redis) -> set[str]:
        """The SHA-256 hashes of the user's passwords (none if the user does not exist)."""
        found: Any = client.acl_getuser(self.options.user)
        return set(found.get("passwords", [])) if found else set()

    def _remove(self, client: redis.Redis, password: str, passwords: set[str]) -> None:
        digest = _digest(password)
        if digest in passwords:  # removing an absent password is an error in Redis
            _acl(client, "SETUSER", self.options.user, f"!{digest}")
            self._save(client)

    def _save(self, client: redis.Redis) -> None:
        import redis

        try:
            _acl(client, "SAVE")
        except redis.ResponseError as exc:
            if "acl file" not in str(exc).lower():
                raise
            log.debug("%s: the server has no ACL file; ACL changes are not saved", self._name)


def _acl(client: redis.Redis, *args: str) -> Any:
    """One ACL subcommand, verbatim (redis-py's helpers cannot express every rule)."""
    execute: Callable[..., Any] = client.execute_command  # untyped in redis-py
    return execute("ACL", *args)


def _permissions(client: redis.Redis, user: str) -> dict[str, Any] | None:
    """The user's key, channel and command rules (None if the user does not exist)."""
    found: Any = client.acl_getuser(user)
    if not found:
        return None
    return {key: found.get(key) for key in _PERMISSION_FIELDS}


def _shown(permissions: dict[str, Any]) -> str:
    parts = []
    for key in _PERMISSION_FIELDS:
        value = permissions.get(key)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        parts.append(f"{key} {value or '(none)'}")
    return "; ".join(parts)
