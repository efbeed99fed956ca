"""A workspace where three real secrets can be rotated: the rotation acceptance test's and the
rotation benchmark's (benchmarks/rotation.py).

Two environments (staging, production) run testing/rotation_app.py as local-target releases
behind the builtin router, blue-green. Each has its own PostgreSQL database with a group role
and two login roles (``ENV_app``; ``ENV_blue`` logs in first, ``ENV_green`` is the other of the
alternating pair), and its own Redis ACL user (``ENV_app``). ``[secrets.rotate]`` names
DATABASE_URL (postgresql), REDIS_URL (redis) and JWT_SECRET (random) for both environments; the
values releases start with are written where releases read them, the platform's variables.

The PostgreSQL server must check passwords (``password_checking_postgres``): the tests' shared
server trusts every login, so no old password could ever be refused there.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psycopg
import redis
from psycopg import sql

from safeship._processes import free_port
from safeship.config import LoadedConfig, load_config
from safeship.pipeline.environment import open_environment
from testing.postgres import PostgresServer, running_postgres

REPO: Final = Path(__file__).resolve().parents[1]
ENVIRONMENTS: Final = ("staging", "production")
SECRETS: Final = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET")
# The environment variables (of safeship's own process) naming the admin connections.
PG_ADMIN_ENV: Final = "ROTATION_PG_ADMIN_URL"
REDIS_ADMIN_ENV: Final = "ROTATION_REDIS_ADMIN_URL"

# Passwords checked for every login but the admin's (postgres, over loopback).
PG_HBA: Final = """\
local all postgres trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""

ENVIRONMENT: Final = """
[environments.{name}]
port = {port}
strategy = "blue-green"
bake_time = {bake_time}
blue_green = {{ keep_warm = {keep_warm} }}

[environments.{name}.target]
command = ["python", "-m", "testing.rotation_app", "--port", "{{port}}"]
env = {{ PYTHONPATH = "{pythonpath}", ROTATION_APP_POOL = "3" }}

[environments.{name}.health]
path = "/health"
retries = 40
backoff = 0.1
interval = 0.25

[environments.{name}.rollback]
error_rate = 0.01
min_requests = 5
"""

SECRETS_TABLES: Final = """
[secrets]
grace = {grace}
keep_warm = {keep_warm}

[secrets.rotate.DATABASE_URL]
kind = "postgresql"
category = "database"
environments = ["staging", "production"]
admin_url_env = "{pg_admin_env}"
{postgres_overrides}
[secrets.rotate.REDIS_URL]
kind = "redis"
category = "redis"
environments = ["staging", "production"]
admin_url_env = "{redis_admin_env}"
rules = ["~rotation_app:*", "+@all"]
{redis_overrides}
[secrets.rotate.JWT_SECRET]
kind = "random"
category = "application"
environments = ["staging", "production"]
length = 48
"""

POSTGRES_OVERRIDE: Final = """[secrets.rotate.DATABASE_URL.environment.{env}]
users = ["{env}_blue", "{env}_green"]
group = "{env}_app"
url = "postgresql://{{user}}:{{password}}@127.0.0.1:{port}/{env}_db"
"""
REDIS_OVERRIDE: Final = """[secrets.rotate.REDIS_URL.environment.{env}]
user = "{env}_app"
url = "redis://{{user}}:{{password}}@127.0.0.1:{port}/0"
"""


@contextmanager
def password_checking_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server that checks the app roles' passwords (scram-sha-256)."""
    directory = Path(tempfile.mkdtemp(prefix="safeship-hba-"))
    directory.chmod(0o755)  # the server runs as postgres and reads the file
    hba = directory / "pg_hba.conf"
    hba.write_text(PG_HBA, encoding="utf-8")
    hba.chmod(0o644)
    try:
        with running_postgres(f"hba_file={hba}") as server:
            yield server
    finally:
        hba.unlink(missing_ok=True)
        directory.rmdir()


def new_password() -> str:
    return secrets.token_urlsafe(24)


def prepare_postgres(server: PostgresServer, environment: str) -> str:
    """The environment's database, group role and login roles; the first role's URL."""
    password = new_password()
    server.create_database(f"{environment}_db")
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(f"{environment}_app")))
        for user in ("blue", "green"):
            conn.execute(
                sql.SQL("CREATE ROLE {} NOLOGIN IN ROLE {}").format(
                    sql.Identifier(f"{environment}_{user}"), sql.Identifier(f"{environment}_app")
                )
            )
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(f"{environment}_blue"), sql.Literal(password)
            )
        )
    return f"postgresql://{environment}_blue:{password}@127.0.0.1:{server.port}/{environment}_db"


def prepare_redis(port: int, environment: str) -> str:
    """The environment's ACL user, with one password; its URL."""
    password = new_password()
    client = redis.Redis(port=port)
    try:
        client.acl_setuser(
            f"{environment}_app",
            enabled=True,
            passwords=[f"+{password}"],
            keys=["rotation_app:*"],
            categories=["+@all"],
        )
    finally:
        client.close()
    return f"redis://{environment}_app:{password}@127.0.0.1:{port}/0"


@dataclass
class RotationWorkspace:
    loaded: LoadedConfig
    # The values the releases start with, per environment and secret.
    initial: dict[str, dict[str, str]]
    # What safeship's process needs in its environment: the admin URLs.
    admin_env: dict[str, str]

    def variables(self, environment: str) -> dict[str, str]:
        """The platform variables a new release of ``environment`` gets now."""
        return open_environment(self.loaded, environment).target.variables()

    def router_url(self, environment: str) -> str:
        return f"http://127.0.0.1:{self.loaded.environment(environment).port}"


def make_rotation_workspace(
    root: Path,
    postgres: PostgresServer,
    redis_port: int,
    *,
    grace: float,
    keep_warm: float,
    bake_time: float = 0.2,
    tables: str = "",
) -> RotationWorkspace:
    """``root``/safeship.toml, the roles, users and first values; ``tables``: more TOML (e.g.
    ``[alerts]`` and a channel). Safeship's process needs ``admin_env`` in os.environ to rotate."""
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    text = '[project]\nname = "rotation"\n'
    text += "".join(
        ENVIRONMENT.format(
            name=name,
            port=free_port(),
            bake_time=bake_time,
            keep_warm=keep_warm,
            pythonpath=pythonpath,
        )
        for name in ENVIRONMENTS
    )
    text += SECRETS_TABLES.format(
        grace=grace,
        keep_warm=keep_warm,
        pg_admin_env=PG_ADMIN_ENV,
        redis_admin_env=REDIS_ADMIN_ENV,
        postgres_overrides="".join(
            POSTGRES_OVERRIDE.format(env=env, port=postgres.port) for env in ENVIRONMENTS
        ),
        redis_overrides="".join(
            REDIS_OVERRIDE.format(env=env, port=redis_port) for env in ENVIRONMENTS
        ),
    )
    (root / "safeship.toml").write_text(text + tables, encoding="utf-8")
    loaded = load_config(root / "safeship.toml")
    initial: dict[str, dict[str, str]] = {}
    for environment in ENVIRONMENTS:
        initial[environment] = {
            "DATABASE_URL": prepare_postgres(postgres, environment),
            "REDIS_URL": prepare_redis(redis_port, environment),
            "JWT_SECRET": secrets.token_urlsafe(36),
        }
        # Where releases read them: the platform's variables (the local target's file).
        target = open_environment(loaded, environment).target
        for name, value in initial[environment].items():
            target.set_variable(name, value)
    admin_env = {
        PG_ADMIN_ENV: postgres.admin_url,
        REDIS_ADMIN_ENV: f"redis://127.0.0.1:{redis_port}/0",
    }
    return RotationWorkspace(loaded, initial, admin_env)
