"""The postgresql rotator: a database password changed with no moment in which the serving
release's credential is invalid, by alternating users.

PostgreSQL keeps one password per role, so changing a role's password in place would cut off
the serving release the moment it happened. Instead two login roles (``users``, e.g. app_blue
and app_green) are members of one group role (``group``) that owns the tables and holds the
privileges. Each rotation gives the pending release the role the current one does not use,
with a new password; the current role is untouched until the finish step revokes it.

Decisions:

- The secret's value is a whole connection URL (``url`` with ``{user}`` and ``{password}``
  filled in), so which role a release uses travels with its password.
- ``generate`` is pure: the other user and a new password; nothing changes at the server
  until ``apply``, so a crash in between leaves nothing behind.
- The password reaches the server only as a SCRAM verifier computed here (libpq's
  PQencryptPasswordConn), never in clear text, and the admin session also turns off statement
  logging when it may (superusers): a logged ALTER ROLE shows a verifier, not the password.
- ``set_role`` (default on): the login roles' sessions act as the group (``ALTER ROLE ... SET
  role``), so what a release creates (a migration's tables) belongs to the group and the other
  role can still use and alter it after the next rotation.
- ``revoke`` only disables roles of ``users`` (NOLOGIN, PASSWORD NULL), never a hand-made one
  nor the role the current value uses; ``discard`` likewise for the pending role.
- The admin connection comes from the environment variable named by ``admin_url_env`` (a
  superuser, or a role with CREATEROLE, plus pg_signal_backend to end sessions): a URL with a
  password never sits in safeship.toml.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from safeship.redaction import register_secret
from safeship.rotation.base import RotatorError
from safeship.settings_model import SettingsModel

if TYPE_CHECKING:
    import psycopg

    from safeship.gates.postgres import DatabaseURL

log = logging.getLogger(__name__)

# Lower case only: an unquoted identifier folds to lower case in SQL, a user name in a URL does
# not, and a role that needs quoting in one place and not the other is a trap.
Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
# Seconds a connection attempt may take: a server that does not answer fails the step quickly.
CONNECT_TIMEOUT_S = 10
# Milliseconds pg_terminate_backend waits for each ended session to be gone.
TERMINATE_WAIT_MS = 5000
# Statement logging the admin session turns off where it may (superuser-only settings).
QUIET_SETTINGS = ("log_statement = 'none'", "log_min_duration_statement = -1")


class PostgresOptions(SettingsModel):
    # The two login roles that alternate; both members of ``group``.
    users: Annotated[list[Identifier], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: ["app_blue", "app_green"]
    )
    # The role that owns the tables and holds the privileges (NOLOGIN; made by the admin).
    group: Identifier = "app"
    # The secret's value: postgresql://{user}:{password}@HOST:PORT/DB (both placeholders).
    url: str
    # The NAME of safeship's environment variable holding the admin connection URL.
    admin_url_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    # Characters of each new password (URL-safe alphabet).
    password_length: Annotated[int, Field(ge=24, le=1024)] = 40
    # At revoke and discard, end the disabled role's open sessions.
    terminate_sessions: bool = True
    # Sessions of the login roles act as the group (objects they create belong to it).
    set_role: bool = True

    @field_validator("url")
    @classmethod
    def _template(cls, url: str) -> str:
        for placeholder in ("{user}", "{password}"):
            if placeholder not in url:
                raise ValueError(f"the url template needs {placeholder}")
        from safeship.gates.postgres import DatabaseToolError, parse_url

        try:
            parse_url(_fill(url, "user", "password"), "url")
        except DatabaseToolError as exc:
            raise ValueError(str(exc)) from None
        return url

    @model_validator(mode="after")
    def _roles(self) -> PostgresOptions:
        if self.users[0] == self.users[1]:
            raise ValueError(f"users: two different roles, not {self.users[0]!r} twice")
        if self.group in self.users:
            raise ValueError(f"group {self.group!r} cannot also be one of users")
        return self


def _fill(template: str, user: str, password: str) -> str:
    from urllib.parse import quote

    return template.replace("{user}", quote(user, safe="")).replace(
        "{password}", quote(password, safe="")
    )


class PostgresRoleRotator:
    Options: ClassVar[type[SettingsModel]] = PostgresOptions
    previous_slot = False  # each release has one URL; the old release keeps its own

    def __init__(
        self, secret: str, environment: str, options: Mapping[str, Any], base_dir: Path
    ) -> None:
        self.secret = secret
        self.environment = environment
        self.options = PostgresOptions.model_validate(dict(options))
        # Where the secret's URLs point, for messages (host:port/db, never a password).
        from safeship.gates.postgres import parse_url

        template = parse_url(_fill(self.options.url, "user", "password"), "url")  # checked
        self.where = f"{template.host}:{template.port}/{template.dbname}"

    # -- Rotator ---------------------------------------------------------------------------

    def generate(self, current: str | None) -> str:
        first, second = self.options.users
        user = second if self._user_or_none(current) == first else first
        length = self.options.password_length
        password = secrets.token_urlsafe(length)[:length]
        register_secret(password)
        value = _fill(self.options.url, user, password)
        register_secret(value)
        return value

    def apply(self, pending: str, current: str | None) -> None:
        target = self._parse(pending, "the pending value")
        user = self._own_user(target, "the pending value")
        if current is not None and self._user_or_none(current) == user:
            raise RotatorError(
                f"{self._name}: the pending and the current value both use role {user}: "
                "changing its password would cut off the serving release; refusing"
            )
        group = self.options.group
        with self._admin("apply") as conn:
            from psycopg import errors, sql

            if not self._role_exists(conn, group):
                raise RotatorError(
                    f"{self._name}: group role {group} does not exist: create "
                    "it (NOLOGIN) and grant it the application's privileges (docs/secrets.md)"
                )
            if not self._role_exists(conn, user):
                # Made meanwhile by another apply: the statements below still hold.
                with suppress(errors.DuplicateObject):
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                            sql.Identifier(user), sql.Identifier(group)
                        )
                    )
            verifier = conn.pgconn.encrypt_password(target.password.encode(), user.encode())
            conn.execute(
                sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(verifier.decode())
                )
            )
            if not self._is_member(conn, user, group):
                conn.execute(
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(user))
                )
            if self.options.set_role:
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET role = {}").format(
                        sql.Identifier(user), sql.Literal(group)
                    )
                )

    def test(self, value: str) -> None:
        target = self._parse(value, "the value")
        import psycopg

        try:
            with psycopg.connect(
                target.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as conn:
                row = conn.execute("SELECT session_user, current_user").fetchone()
        except psycopg.Error as exc:
            raise self._error(f"login as {target.user}", exc, target) from None
        session_user, current_user = row if row else ("", "")
        if session_user != target.user:
            raise RotatorError(f"{self._name}: logged in as {session_user}, expected {target.user}")
        if self.options.set_role and current_user != self.options.group:
            raise RotatorError(
                f"{self._name}: sessions of {target.user} act as {current_user}, not as group "
                f"{self.options.group} (set_role)"
            )

    def revoke(self, previous: str, current: str) -> None:
        user = self._own_user(self._parse(previous, "the previous value"), "the previous value")
        if self._user_or_none(current) == user:
            raise RotatorError(
                f"{self._name}: the previous and the current value both use role {user}: "
                "revoking it would lock out the serving release; refusing"
            )
        self._disable(user, "revoke")

    def discard(self, pending: str, current: str | None) -> None:
        user = self._user_or_none(pending)
        if user not in self.options.users or (
            current is not None and self._user_or_none(current) == user
        ):
            # apply refuses both, so nothing was changed at the server for this value.
            log.debug("%s: nothing to discard (role %s)", self._name, user)
            return
        self._disable(user, "discard")

    def checklist(self) -> list[str]:
        return []

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return f"{self.secret} ({self.environment}, {self.where})"

    def _parse(self, value: str, what: str) -> DatabaseURL:
        from safeship.gates.postgres import DatabaseToolError, parse_url

        try:
            return parse_url(value, what)
        except DatabaseToolError as exc:
            raise RotatorError(f"{self._name}: {exc}") from None

    def _user_or_none(self, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return self._parse(value, "the value").user
        except RotatorError:
            return None  # not a URL of ours (a hand-set value): treated as an unknown user

    def _own_user(self, target: DatabaseURL, what: str) -> str:
        if target.user not in self.options.users:
            users = ", ".join(self.options.users)
            raise RotatorError(
                f"{self._name}: {what} uses role {target.user or '(none)'}, not one of users "
                f"({users}): safeship only changes the roles it alternates"
            )
        return target.user

    def _error(self, action: str, exc: BaseException, *urls: DatabaseURL) -> RotatorError:
        from safeship.registry.errors import first_line

        cause = first_line(exc)
        for url in urls:
            cause = url.redact(cause)
        from safeship.httpapi import one_line

        return RotatorError(one_line(f"{self._name}: {action}: {cause}", 400))

    @contextmanager
    def _admin(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit connection as the admin role; every failure a one-line RotatorError."""
        name = self.options.admin_url_env
        admin_url = os.environ.get(name, "").strip()
        if not admin_url:
            raise RotatorError(
                f"{self._name}: {action}: the environment variable {name} (admin_url_env) is "
                "not set: it holds the admin connection URL"
            )
        admin = self._parse(admin_url, name)
        register_secret(admin.password)
        import psycopg

        try:
            conn = psycopg.connect(
                admin.url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="safeship-rotation",
            )
        except psycopg.Error as exc:
            raise self._error(f"{action}: admin login as {admin.user}", exc, admin) from None
        try:
            with conn:
                _quiet(conn)
                yield conn
        except psycopg.Error as exc:
            raise self._error(action, exc, admin) from None

    @staticmethod
    def _role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
        found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        return found is not None

    @staticmethod
    def _is_member(conn: psycopg.Connection[Any], user: str, group: str) -> bool:
        found = conn.execute(
            "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = %s AND u.rolname = %s",
            (group, user),
        ).fetchone()
        return found is not None

    def _disable(self, user: str, action: str) -> None:
        """``user`` refused from now on: NOLOGIN, no password, its sessions ended (option)."""
        with self._admin(action) as conn:
            from psycopg import sql

            if not self._role_exists(conn, user):
                return  # never made: nothing can log in as it
            conn.execute(
                sql.SQL("ALTER ROLE {} WITH NOLOGIN PASSWORD NULL").format(sql.Identifier(user))
            )
            if self.options.terminate_sessions:
                conn.execute(
                    "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity "
                    "WHERE usename = %s AND pid <> pg_backend_pid()",
                    (TERMINATE_WAIT_MS, user),
                )


def _quiet(conn: psycopg.Connection[Any]) -> None:
    """Turn statement logging off for this session where permitted (superusers). Others'
    statements are logged per the server's settings: the password is a verifier by then."""
    import psycopg

    for setting in QUIET_SETTINGS:
        try:
            conn.execute(f"SET {setting}")
        except psycopg.errors.InsufficientPrivilege:
            log.debug("admin role may not SET %s; statement logging stays", setting)
            return
