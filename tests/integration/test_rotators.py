"""The postgresql, redis and command rotators against a real PostgreSQL (password
authentication), real redis-server processes and real scripts.

The shared PostgreSQL of testing/postgres.py trusts every login, which would accept any
password: these tests start a server of their own (once per worker) whose pg_hba.conf asks
every role but postgres for a SCRAM password, and which logs every statement, so the tests can
also look for passwords in the server's log.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from psycopg import sql
from pydantic import ValidationError

from safeship.rotation.base import RotatorError
from safeship.rotation.command import CommandRotator
from safeship.rotation.postgresql import PostgresOptions, PostgresRoleRotator
from safeship.rotation.redis import RedisAclRotator, RedisOptions
from testing.postgres import PostgresServer, running_postgres
from testing.redis import RedisServer

RedisFactory = Callable[..., RedisServer]

ADMIN_ENV = "SAFESHIP_TEST_ROTATION_ADMIN_URL"


def password_of(url: str) -> str:
    return urlsplit(url).password or ""


def user_of(url: str) -> str:
    return urlsplit(url).username or ""


def assert_one_line_without(message: str, *values: str) -> None:
    assert "\n" not in message
    for value in values:
        assert value not in message
        if password := password_of(value):
            assert password not in message


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[PostgresServer]:
    hba_dir = Path(tempfile.mkdtemp(prefix="safeship-hba-"))
    hba = hba_dir / "pg_hba.conf"
    hba.write_text(
        "local all postgres trust\n"
        "host all postgres 127.0.0.1/32 trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    hba_dir.chmod(0o755)  # the server runs as postgres
    hba.chmod(0o644)
    try:
        with running_postgres(f"hba_file={hba}", "log_statement=all") as server:
            yield server
    finally:
        shutil.rmtree(hba_dir, ignore_errors=True)


@dataclass
class PostgresSetup:
    server: PostgresServer
    dbname: str
    users: list[str]
    group: str
    admin_url: str
    connections: list[psycopg.Connection[Any]] = field(default_factory=list)

    def rotator(self, **overrides: Any) -> PostgresRoleRotator:
        options = {
            "users": self.users,
            "group": self.group,
            "url": f"postgresql://{{user}}:{{password}}@127.0.0.1:{self.server.port}/{self.dbname}",
            "admin_url_env": ADMIN_ENV,
            "password_length": 24,
            **overrides,
        }
        return PostgresRoleRotator("DATABASE_URL", "staging", options, Path("."))

    def pool(self, url: str, size: int = 2) -> list[psycopg.Connection[Any]]:
        """A few persistent connections, as a release's pool keeps them."""
        opened = [psycopg.connect(url, autocommit=True) for _ in range(size)]
        self.connections += opened
        return opened


def rows(pool: list[psycopg.Connection[Any]]) -> list[int]:
    counts = []
    for conn in pool:
        row = conn.execute("SELECT count(*) FROM items").fetchone()
        assert row is not None
        counts.append(row[0])
    return counts


def refused(url: str) -> str:
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(url, connect_timeout=5).close()
    return str(caught.value)


@pytest.fixture
def pg(
    password_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PostgresSetup]:
    suffix = uuid.uuid4().hex[:8]
    dbname = f"rot_{suffix}"
    server = password_postgres
    server.create_database(dbname)
    group, admin = f"app_{suffix}", f"rotadmin_{suffix}"
    users = [f"app_blue_{suffix}", f"app_green_{suffix}"]
    admin_password = uuid.uuid4().hex
    with psycopg.connect(server.url_for(dbname), autocommit=True) as conn:
        # The least the docs ask of the admin role: CREATEROLE, and pg_signal_backend to end
        # sessions (not a superuser: statement logging stays on, as on a managed server).
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {} IN ROLE pg_signal_backend").format(
                sql.Identifier(admin), sql.Literal(admin_password)
            )
        )
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(group)))
        conn.execute("CREATE TABLE items (id int PRIMARY KEY)")
        conn.execute("INSERT INTO items VALUES (1), (2), (3)")
        conn.execute(sql.SQL("ALTER TABLE items OWNER TO {}").format(sql.Identifier(group)))
    admin_url = f"postgresql://{admin}:{admin_password}@127.0.0.1:{server.port}/{dbname}"
    monkeypatch.setenv(ADMIN_ENV, admin_url)
    setup = PostgresSetup(server, dbname, users, group, admin_url)
    yield setup
    for conn in setup.connections:
        conn.close()
    server.drop_database(dbname)
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        for role in [*users, group, admin]:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_postgres_two_rotations_keep_the_serving_pool_working(pg: PostgresSetup) -> None:
    rotator = pg.rotator()
    blue_user, green_user = pg.users
    blue = rotator.generate(None)
    assert user_of(blue) == blue_user and len(password_of(blue)) == 24
    rotator.apply(blue, None)
    rotator.test(blue)
    blue_pool = pg.pool(blue)
    assert rows(blue_pool) == [3, 3]

    # Rotation 1: blue -> green. generate is pure: the green role does not exist yet.
    green = rotator.generate(blue)
    assert user_of(green) == green_user
    assert "password authentication failed" in refused(green)
    for _ in range(2):  # every step is idempotent: a resumed rotation repeats the step
        rotator.apply(green, blue)
        assert rows(blue_pool) == [3, 3]
        rotator.test(green)
    green_pool = pg.pool(green)
    # What the green release creates belongs to the group (set_role), so blue can alter it
    # after the next rotation.
    green_pool[0].execute("CREATE TABLE made_by_green (id int)")
    for _ in range(2):
        rotator.revoke(blue, green)
        assert rows(green_pool) == [3, 3]
    assert f'password authentication failed for user "{blue_user}"' in refused(blue)
    for conn in blue_pool:  # terminate_sessions: the old role's sessions were ended
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")

    # Rotation 2: green -> blue, with a new password for blue.
    blue_again = rotator.generate(green)
    assert user_of(blue_again) == blue_user and password_of(blue_again) != password_of(blue)
    rotator.apply(blue_again, green)
    assert rows(green_pool) == [3, 3]
    rotator.test(blue_again)
    assert "password authentication failed" in refused(blue)  # the old password stays refused
    blue_pool_again = pg.pool(blue_again)
    blue_pool_again[0].execute("ALTER TABLE made_by_green ADD COLUMN name text")
    rotator.revoke(green, blue_again)
    assert rows(blue_pool_again) == [3, 3]
    assert f'password authentication failed for user "{green_user}"' in refused(green)

    # The server logged every statement (log_statement=all, and the admin role may not turn
    # that off): it saw verifiers, never a password.
    log_text = (pg.server.base_dir / "server.log").read_text(errors="replace")
    assert "ALTER ROLE" in log_text
    for value in (blue, green, blue_again):
        assert password_of(value) not in log_text


def test_postgres_discard_and_refusals(pg: PostgresSetup) -> None:
    rotator = pg.rotator(terminate_sessions=False)
    current = rotator.generate(None)
    rotator.apply(current, None)
    pool = pg.pool(current)

    pending = rotator.generate(current)
    rotator.apply(pending, current)
    rotator.test(pending)
    for _ in range(2):
        rotator.discard(pending, current)
        assert rows(pool) == [3, 3]
    assert "password authentication failed" in refused(pending)
    rotator.test(current)

    # A value naming the current role: apply refuses, discard has nothing to undo.
    same_role = rotator.generate(pending)  # pending's role is green: back to blue, current's
    assert user_of(same_role) == user_of(current)
    with pytest.raises(RotatorError, match="cut off the serving release; refusing") as caught:
        rotator.apply(same_role, current)
    assert_one_line_without(str(caught.value), same_role, current)
    rotator.discard(same_role, current)
    rotator.test(current)
    with pytest.raises(RotatorError, match="lock out the serving release; refusing") as caught:
        rotator.revoke(same_role, current)
    assert_one_line_without(str(caught.value), same_role, current)

    # A role safeship does not alternate is never disabled.
    hand_made = current.replace(pg.users[0], "postgres", 1)
    with pytest.raises(RotatorError, match="not one of users"):
        rotator.revoke(hand_made, pending)
    rotator.test(current)
    assert rows(pool) == [3, 3]


def test_postgres_errors_are_one_line_without_passwords(
    pg: PostgresSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotator = pg.rotator()
    value = rotator.generate(None)
    where = f"127.0.0.1:{pg.server.port}/{pg.dbname}"

    with pytest.raises(RotatorError, match=r"login as app_blue_.* password authentication") as e:
        rotator.test(value)  # never applied
    assert str(e.value).startswith(f"DATABASE_URL (staging, {where}): login as app_blue_")
    assert_one_line_without(str(e.value), value)

    with pytest.raises(RotatorError, match=f"group role {pg.group}x does not exist"):
        pg.rotator(group=pg.group + "x").apply(value, None)

    wrong_admin = pg.admin_url.replace(password_of(pg.admin_url), "not-the-password")
    monkeypatch.setenv(ADMIN_ENV, wrong_admin)
    with pytest.raises(RotatorError, match="apply: admin login as rotadmin_") as e:
        rotator.apply(value, None)
    assert where in str(e.value)
    assert_one_line_without(str(e.value), value, wrong_admin, pg.admin_url)

    monkeypatch.delenv(ADMIN_ENV)
    with pytest.raises(RotatorError, match=f"environment variable {ADMIN_ENV} .* not set"):
        rotator.revoke(value, value.replace(pg.users[0], pg.users[1]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"users": ["app_blue"]}, "at least 2 items"),
        ({"users": ["a", "a"]}, "two different roles"),
        ({"users": ["app", "b"]}, "group 'app' cannot also be one of users"),
        ({"users": ["App", "b"]}, "should match pattern"),
        ({"url": "postgresql://{user}@db:5432/app"}, "needs {password}"),
        ({"url": "mysql://{user}:{password}@db/app"}, "not a PostgreSQL URL"),
        ({"password_length": 12}, "greater than or equal to 24"),
    ],
)
def test_postgres_options_are_checked(options: dict[str, Any], message: str) -> None:
    base = {"url": "postgresql://{user}:{password}@db:5432/app", "admin_url_env": "PG_ADMIN"}
    with pytest.raises(ValidationError, match=message):
        PostgresOptions.model_validate({**base, **options})


# -- Redis -----------------------------------------------------------------------------------


def redis_rotator(server: RedisServer, **overrides: Any) -> RedisAclRotator:
    options = {
        "user": "app",
        "url": f"redis://{{user}}:{{password}}@127.0.0.1:{server.port}/0",
        "admin_url_env": ADMIN_ENV,
        "password_length": 24,
        "rules": ["~app:*", "+@all"],
        **overrides,
    }
    return RedisAclRotator("REDIS_URL", "staging", options, Path("."))


def redis_pool(url: str) -> list[redis.Redis]:
    """Clients with one open, authenticated connection each, as a release's pool keeps them."""
    clients = [redis.Redis.from_url(url, single_connection_client=True) for _ in range(2)]
    for n, client in enumerate(clients):
        client.set(f"app:{n}", n)
    return clients


def redis_refused(url: str) -> str:
    client = redis.Redis.from_url(url)
    with pytest.raises(redis.AuthenticationError) as caught:
        client.ping()
    client.close()
    return str(caught.value)


def test_redis_two_rotations_keep_the_serving_connections_working(
    redis_factory: RedisFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acl = tmp_path / "users.acl"
    acl.write_text("user default on nopass ~* &* +@all\n")
    server = redis_factory("--aclfile", str(acl))
    monkeypatch.setenv(ADMIN_ENV, server.url)
    rotator = redis_rotator(server)

    first = rotator.generate(None)
    assert user_of(first) == "app" and len(password_of(first)) == 24
    rotator.apply(first, None)
    rotator.test(first)
    first_pool = redis_pool(first)
    with pytest.raises(redis.exceptions.NoPermissionError):  # rules: ~app:* only
        first_pool[0].set("other", 1)

    second = rotator.generate(first)
    for _ in range(2):
        rotator.apply(second, first)
        rotator.test(second)
        rotator.test(first)  # both passwords work during the overlap
    second_pool = redis_pool(second)
    for _ in range(2):
        rotator.revoke(first, second)
    assert "invalid username-password pair" in redis_refused(first)
    # Open connections stay authenticated (documented): the old release's, the new one's.
    assert [c.get("app:1") for c in (*first_pool, *second_pool)] == [b"1"] * 4
    saved = acl.read_text()  # ACL SAVE: the server has an ACL file
    digest = hashlib.sha256
    assert digest(password_of(second).encode()).hexdigest() in saved
    assert digest(password_of(first).encode()).hexdigest() not in saved
    assert password_of(second) not in saved

    third = rotator.generate(second)
    rotator.apply(third, second)
    assert second_pool[0].ping()
    rotator.revoke(second, third)
    rotator.test(third)
    assert "invalid username-password pair" in redis_refused(second)
    assert "invalid username-password pair" in redis_refused(first)
    for client in (*first_pool, *second_pool):
        client.close()


def test_redis_discard_refusals_and_rules(
    redis_factory: RedisFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = redis_factory()  # no ACL file: ACL SAVE is skipped
    monkeypatch.setenv(ADMIN_ENV, server.url)
    admin = redis.Redis.from_url(server.url)
    admin.execute_command("ACL", "SETUSER", "app", "on", ">hand-set-password", "~*", "+@all")
    hand_set = f"redis://app:hand-set-password@127.0.0.1:{server.port}/0"
    rotator = redis_rotator(server, rules=["~app:*", "+get", "+set", "+ping"])

    current = rotator.generate(hand_set)
    with caplog.at_level(logging.WARNING, logger="safeship.rotation.redis"):
        rotator.apply(current, hand_set)
    # The user had +@all ~*: narrowed to the rules, and said so.
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "permissions of Redis user app changed" in warning and "~app:*" in warning
    assert_one_line_without(warning, current, hand_set)
    rotator.revoke(hand_set, current)
    client = redis.Redis.from_url(current)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.delete("app:x")  # +get +set +ping only
    client.close()

    pending = rotator.generate(current)
    rotator.apply(pending, current)
    rotator.test(pending)
    for _ in range(2):
        rotator.discard(pending, current)
    assert "invalid username-password pair" in redis_refused(pending)
    rotator.test(current)

    with pytest.raises(RotatorError, match="lock out the serving release; refusing") as e:
        rotator.revoke(current, current)
    assert_one_line_without(str(e.value), current)
    # The "current" was never applied: removing the previous would leave no password.
    with pytest.raises(RotatorError, match="current password is not set on Redis user app") as e:
        rotator.revoke(current, pending)
    assert_one_line_without(str(e.value), current, pending)
    rotator.test(current)

    wrong = current.replace(password_of(current), "not-the-password")
    with pytest.raises(RotatorError, match="login as app: invalid username-password") as e:
        rotator.test(wrong)
    assert f"REDIS_URL (staging, 127.0.0.1:{server.port}/0): " in str(e.value)
    assert_one_line_without(str(e.value), wrong, current)
    admin.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rules": [">pw"]}, "passwords and on/off are the rotator's"),
        ({"rules": ["nopass"]}, "passwords and on/off are the rotator's"),
        ({"rules": ["~* +@all"]}, "without spaces"),
        ({"rules": []}, "at least 1 item"),
        ({"url": "redis://{user}@host:6379/0"}, "needs {password}"),
        ({"url": "http://{user}:{password}@host/"}, "not a Redis URL"),
    ],
)
def test_redis_options_are_checked(options: dict[str, Any], message: str) -> None:
    base = {
        "user": "app",
        "url": "redis://{user}:{password}@host:6379/0",
        "admin_url_env": "REDIS_ADMIN",
        "rules": ["~*", "+@all"],
    }
    with pytest.raises(ValidationError, match=message):
        RedisOptions.model_validate({**base, **options})


# -- command ---------------------------------------------------------------------------------

# A tiny provider keeping its keys in a file; the scripts run in safeship.toml's directory.
CREATE = """#!/bin/sh
set -e
echo run >> create.runs
key="key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \\n')"
echo "$key" >> keys
echo "$key"
"""
REVOKE = """#!/bin/sh
IFS= read -r key
echo "argv: $*" >> revoke.seen
env >> revoke.seen
grep -vxF "$key" keys > keys.new || true
mv keys.new keys
"""
TEST = """#!/bin/sh
IFS= read -r key
grep -qxF "$key" keys || { echo "checking the key"; echo "unknown key $key" >&2; exit 1; }
"""


def script(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)
    return f"./{name}"


def command_rotator(base: Path, **options: Any) -> CommandRotator:
    return CommandRotator("API_KEY", "staging", options, base)


def test_command_rotation_with_a_provider_script(tmp_path: Path) -> None:
    rotator = command_rotator(
        tmp_path,
        create=[script(tmp_path, "create.sh", CREATE)],
        revoke=[script(tmp_path, "revoke.sh", REVOKE), "--quiet"],
        test=[script(tmp_path, "test.sh", TEST)],
    )
    keys = tmp_path / "keys"
    first = rotator.generate(None)
    rotator.test(first)
    second = rotator.generate(first)
    assert first != second and second.startswith("key-") and "\n" not in second
    assert (tmp_path / "create.runs").read_text() == "run\n" * 2  # one run per generate
    rotator.apply(second, first)
    rotator.test(second)
    for _ in range(2):  # the revoke script is idempotent
        rotator.revoke(first, second)
    assert keys.read_text() == f"{second}\n"
    with pytest.raises(RotatorError, match=r"test script './test.sh' exited 1: unknown key") as e:
        rotator.test(first)
    assert_one_line_without(str(e.value), first)
    seen = (tmp_path / "revoke.seen").read_text()
    assert "argv: --quiet" in seen and first not in seen  # stdin only: not argv, not env

    same = command_rotator(tmp_path, create=["cat", "keys"], revoke=["true"])
    with pytest.raises(RotatorError, match="printed the current value, not a new one") as e:
        same.generate(second)
    assert_one_line_without(str(e.value), second)

    third = rotator.generate(second)
    rotator.discard(third, second)
    assert keys.read_text() == f"{second}\n"
    with pytest.raises(RotatorError, match="lock out the serving release; refusing"):
        rotator.revoke(second, second)
    rotator.test(second)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("printf 'line one\\nline two\\n\\n'", None),
        ("true", "printed no value"),
        ("head -c 70000 /dev/zero | tr '\\0' x", "printed 70000 bytes, more than 64 KiB"),
        (
            "echo 'sk-live-key-printed-too-early'; echo starting >&2; "
            "echo 'quota exceeded for sk-live-key-printed-too-early' >&2; exit 3",
            "create script './create.sh' exited 3: quota exceeded for \\*\\*\\*\\*$",
        ),
    ],
)
def test_command_create_output(tmp_path: Path, body: str, message: str | None) -> None:
    rotator = command_rotator(
        tmp_path,
        create=[script(tmp_path, "create.sh", f"#!/bin/sh\n{body}\n")],
        revoke=["true"],
    )
    if message is None:  # one trailing newline dropped, the rest is the value
        assert rotator.generate(None) == "line one\nline two\n"
        return
    with pytest.raises(RotatorError, match=message) as e:
        rotator.generate(None)
    assert_one_line_without(str(e.value), "sk-live-key-printed-too-early")


def test_command_timeout_and_missing_script(tmp_path: Path) -> None:
    slow = command_rotator(
        tmp_path,
        create=[script(tmp_path, "slow.sh", "#!/bin/sh\nsleep 30\n")],
        revoke=["true"],
        timeout=0.3,
    )
    started = time.monotonic()
    with pytest.raises(RotatorError, match=r"create script './slow\.sh' timed out after 0\.3 s"):
        slow.generate(None)
    assert time.monotonic() - started < 5
    missing = command_rotator(tmp_path, create=["./absent.sh"], revoke=["true"])
    with pytest.raises(RotatorError, match=r"create script './absent\.sh' cannot start"):
        missing.generate(None)
