"""``safeship doctor``: check what a deploy will need, before it needs it, and say how to fix it.

Each check gives findings: ok, or a problem with one fix. Nothing here changes anything: the
registry is probed read-only (not created, not migrated), ports are only bound for a moment,
tokens are reported present or missing (their values are never read into a finding).
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from safeship.config import ConfigError, LoadedConfig, find_config, load_config
from safeship.config.models import EnvironmentSettings, SafeshipConfig
from safeship.targets.settings import RailwayTargetSettings

Status = Literal["ok", "problem"]

# A shared registry's leases (and history order) compare this machine's clock with the
# database server's; beyond this they disagree about who holds an environment.
MAX_CLOCK_SKEW = timedelta(seconds=2)
# Loose state files named one per line before the rest are counted.
MAX_NAMED_FILES = 10


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # config, registry, router, port, token, permissions, clock
    subject: str  # what was checked: a file, an environment's port, a variable's name
    status: Status
    detail: str
    fix: str = ""  # one way to fix a problem; empty when ok

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _ok(check: str, subject: str, detail: str) -> Finding:
    return Finding(check, subject, "ok", detail)


def _problem(check: str, subject: str, detail: str, fix: str) -> Finding:
    return Finding(check, subject, "problem", detail, fix)


def diagnose(
    config: Path | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[Finding]:
    """Every finding, in the order of the checks; a config that does not load stops the checks
    that need it (the state directory's permissions are still checked)."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    findings: list[Finding] = []
    try:
        loaded = load_config(find_config(config, cwd))
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else str(exc)
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        fix = (
            "run `safeship init` to write one"
            if "not found" in first
            else "edit it, then `safeship config check`"
        )
        findings.append(_problem("config", "safeship.toml", first + more, fix))
        state = (config.parent if config else cwd) / ".safeship"
        findings += check_permissions(state, base=state.parent)
        return findings
    findings.append(_check_config(loaded))
    findings += check_registry(loaded, clock)
    findings += check_routers(loaded.config)
    findings += check_ports(loaded)
    findings += check_tokens(loaded.config, environ)
    findings += check_permissions(
        loaded.state_dir, registry=_registry_file(loaded), base=loaded.base_dir
    )
    return findings


def _check_config(loaded: LoadedConfig) -> Finding:
    from safeship.health.resolve import config_problems

    problems = config_problems(loaded)  # as `safeship config check`: ${VARIABLES} set, URLs valid
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return _problem(
            "config", loaded.path.name, problems[0] + more, "edit it, then `safeship config check`"
        )
    count = len(loaded.config.environments)
    return _ok("config", loaded.path.name, f"valid: {count} environment(s)")


# -- registry ------------------------------------------------------------------------------


def _registry_file(loaded: LoadedConfig) -> Path | None:
    from safeship.registry.store import RegistryError, registry_file

    try:
        return registry_file(loaded.registry_url())
    except RegistryError:
        return None


def check_registry(
    loaded: LoadedConfig, clock: Callable[[], datetime] | None = None
) -> list[Finding]:
    from safeship.registry.inspect import probe

    found = probe(loaded.registry_url(), clock)
    subject = _masked(loaded.config.registry.url)  # as written in safeship.toml
    if found.error is not None:
        fix = (
            "restore it from a backup, or delete it to start a new history"
            if "is empty" in found.error
            else "check [registry] url in safeship.toml and that the database is up"
        )
        return [_problem("registry", subject, found.error, fix)]
    if not found.exists:
        return [_ok("registry", subject, "not created yet: the first deploy creates it")]
    if found.revision is None:
        return [
            _problem(
                "registry",
                subject,
                "reachable, but not a safeship registry (no migration recorded)",
                "point [registry] url at a safeship registry, or at a new database",
            )
        ]
    if not found.migrated:
        from safeship.registry.migrations import alembic_config

        known = _known_revisions(alembic_config())
        if found.revision not in known:
            return [
                _problem(
                    "registry",
                    subject,
                    f"at revision {found.revision}, which this safeship does not know "
                    f"(a newer one migrated it)",
                    "upgrade safeship to the version the other runners use",
                )
            ]
        return [
            _problem(
                "registry",
                subject,
                f"at revision {found.revision}, not the current {found.head}",
                "run `safeship history` once with write access: opening migrates it",
            )
        ]
    findings = [_ok("registry", subject, f"reachable, migrated ({found.revision})")]
    if found.server_time is not None and found.local_time is not None:
        skew = found.local_time - found.server_time
        seconds = abs(skew.total_seconds())
        if abs(skew) > MAX_CLOCK_SKEW:
            ahead = "ahead of" if skew.total_seconds() > 0 else "behind"
            findings.append(
                _problem(
                    "clock",
                    subject,
                    f"this machine's clock is {seconds:.1f}s {ahead} the database's "
                    f"(more than {MAX_CLOCK_SKEW.total_seconds():.0f}s: leases misjudge expiry)",
                    "synchronise the clock (e.g. `timedatectl set-ntp true`, or chrony)",
                )
            )
        else:
            findings.append(_ok("clock", subject, f"within {seconds:.1f}s of the database"))
    return findings


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "[registry] url"


def _known_revisions(config: object) -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    assert isinstance(config, Config)
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


# -- routers and ports -----------------------------------------------------------------------


def check_routers(config: SafeshipConfig) -> list[Finding]:
    findings = []
    for name, env in sorted(config.environments.items()):
        binary = env.router.needs_binary
        if binary is None:
            continue
        path = shutil.which(binary)
        if path is None:
            findings.append(
                _problem(
                    "router",
                    f"{name}: {binary}",
                    f"the {env.router.type} router is configured but no {binary} binary is on PATH",
                    f"install {binary} (`apt-get install {binary}`, `brew install {binary}`), or "
                    'use router = { type = "builtin" }',
                )
            )
        else:
            findings.append(_ok("router", f"{name}: {binary}", f"found {path}"))
    return findings


def check_ports(loaded: LoadedConfig) -> list[Finding]:
    findings = []
    for name, env in sorted(loaded.config.environments.items()):
        if env.port is None:
            continue
        subject = f"{name}: port {env.port}"
        state = port_state(env.port)
        if state == "free":
            findings.append(_ok("port", subject, "free"))
        elif state == "denied":
            findings.append(
                _problem(
                    "port",
                    subject,
                    "this user may not listen on it (ports below 1024 need privileges)",
                    "choose a port of 1024 or more in safeship.toml",
                )
            )
        elif _held_by_our_router(loaded, name, env):
            findings.append(_ok("port", subject, "held by this environment's router"))
        else:
            findings.append(
                _problem(
                    "port",
                    subject,
                    "in use by another process",
                    f"stop it (`ss -ltnp 'sport = :{env.port}'` names it), or choose another port",
                )
            )
    return findings


def port_state(port: int) -> Literal["free", "in use", "denied"]:
    """Whether a router could listen on 127.0.0.1:``port`` now (SO_REUSEADDR, like it does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return "denied" if exc.errno in (errno.EACCES, errno.EPERM) else "in use"
    return "free"


def _held_by_our_router(loaded: LoadedConfig, name: str, env: EnvironmentSettings) -> bool:
    """Whether the environment's own router runs (asked only when its state directory exists:
    building a router must not create state)."""
    from safeship.plugins import ROUTERS, load_adapter

    state_dir = loaded.run_dir(name) / "router"
    if not state_dir.is_dir():
        return False
    try:
        router_cls = load_adapter(ROUTERS, env.router.type)
        return bool(router_cls(name, env.port, state_dir, env.router).is_running())
    except Exception:  # a router that cannot tell is not known to be ours
        return False


# -- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    variable: str  # the environment variable that holds it
    used_by: str  # what needs it, e.g. "environments.production.target (railway)"


def credentials(config: SafeshipConfig) -> list[Credential]:
    """Every credential the configuration reads from the environment, by what needs it."""
    needed: list[Credential] = []
    for name, env in sorted(config.environments.items()):
        target = env.target
        if isinstance(target, RailwayTargetSettings):
            needed.append(Credential(target.token_env, f"environments.{name}.target (railway)"))
    for path, token_env in config.paths.token_variables().items():
        needed.append(Credential(token_env, f"paths.{path}"))
    if config.github is not None:
        needed.append(Credential(config.github.token_env, "github (deployment statuses)"))
    if config.notify.slack is not None:
        needed.append(Credential(config.notify.slack.webhook_env, "notify.slack"))
    email, webhook = config.notify.email, config.notify.webhook
    if email is not None and email.username:
        needed.append(Credential(email.password_env, "notify.email"))
    if webhook is not None:
        needed.append(Credential(webhook.url_env, "notify.webhook"))
        if webhook.secret_env:
            needed.append(Credential(webhook.secret_env, "notify.webhook (signature)"))
    return needed


def check_tokens(config: SafeshipConfig, environ: Mapping[str, str]) -> list[Finding]:
    findings = []
    for credential in credentials(config):
        subject = f"${credential.variable}"
        if environ.get(credential.variable, "").strip():
            findings.append(_ok("token", subject, f"present (for {credential.used_by})"))
        else:
            findings.append(
                _problem(
                    "token",
                    subject,
                    f"missing: {credential.used_by} needs it",
                    f"export {credential.variable}=... (in CI: a secret of the same name)",
                )
            )
    return findings


# -- file permissions ----------------------------------------------------------------------


def check_permissions(
    state_dir: Path, *, registry: Path | None = None, base: Path | None = None
) -> list[Finding]:
    """Group- or world-accessible state: each such file named (up to MAX_NAMED_FILES), relative
    to ``base`` (the project) when inside it."""

    def shown(path: Path) -> str:
        if base is not None and path.is_relative_to(base):
            return str(path.relative_to(base))
        return str(path)

    if not state_dir.exists():
        found = [_ok("permissions", shown(state_dir), "not created yet (made private when it is)")]
    else:
        loose = list(_loose(state_dir))
        if not loose:
            found = [_ok("permissions", shown(state_dir), "private (owner only)")]
        else:
            named = loose[:MAX_NAMED_FILES]
            found = [_loose_finding(path, shown(path), mode) for path, mode in named]
            if len(loose) > MAX_NAMED_FILES:
                found.append(
                    _problem(
                        "permissions",
                        f"{shown(state_dir)} ({len(loose) - MAX_NAMED_FILES} more)",
                        "more group- or world-accessible state files",
                        f"chmod -R go-rwx {shown(state_dir)}",
                    )
                )
    if registry is not None and registry.exists() and not registry.is_relative_to(state_dir):
        mode = stat.S_IMODE(registry.stat().st_mode)
        if mode & 0o077:
            found.append(_loose_finding(registry, shown(registry), mode))
        else:
            found.append(_ok("permissions", shown(registry), "private (owner only)"))
    return found


def _loose(root: Path) -> Iterator[tuple[Path, int]]:
    for path in [root, *sorted(root.rglob("*"))]:
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            yield path, mode


def _loose_finding(path: Path, name: str, mode: int) -> Finding:
    who = "world" if mode & 0o007 else "group"
    private = "700" if path.is_dir() else "600"
    return _problem(
        "permissions",
        name,
        f"mode {mode:04o}: {who}-accessible (state may hold secrets the app printed)",
        f"chmod {private} {name}",
    )
