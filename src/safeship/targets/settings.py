"""Settings of the targets (safeship.toml ``[environments.X.target]``): local, railway,
command, ssh.

Kept here, beside their adapters; safeship.config.models takes them into its target union.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from safeship.railway.settings import RailwayConnection
from safeship.settings_model import SettingsModel
from safeship.validation import check_argv, check_text, check_url_text, check_variables

# A file's path as the user wrote it (resolved later, relative to safeship.toml).
FilePath = Annotated[str, AfterValidator(lambda path: check_text("path", path, 4096))]


class RailwayTargetSettings(RailwayConnection):
    """Deploy through Railway's GraphQL API."""

    type: Literal["railway"] = "railway"
    routes_itself: ClassVar[bool] = True  # Railway routes to the serving deployment
    # Where health checks reach the service (e.g. its custom domain). Default: the deployment's
    # Railway domain (staticUrl) over https; a service without a public domain needs this.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/")

    def service_url(self) -> str | None:
        """Where the service answers without asking Railway (``safeship health`` reads it
        with no token)."""
        return self.public_url


class LocalTargetSettings(SettingsModel):
    """Run each release as OS processes on this machine."""

    type: Literal["local"] = "local"
    routes_itself: ClassVar[bool] = False  # a router in front splits traffic between releases
    # Argument list, no shell. "{port}" becomes the release's port, "{version}" its version.
    command: Annotated[
        list[str], AfterValidator(lambda argv: check_argv(argv, ("port", "version")))
    ]
    env: Annotated[dict[str, str], AfterValidator(check_variables)] = Field(default_factory=dict)
    cwd: FilePath | None = None
    start_timeout: Annotated[float, Field(gt=0, le=300)] = 15.0
    stop_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0

    def service_url(self) -> str | None:
        return None  # each release has its own port; the environment's is the router's


# A script's argument list: "{version}" is its only placeholder.
Script = Annotated[list[str], AfterValidator(lambda argv: check_argv(argv, ("version",)))]


class CommandTargetSettings(SettingsModel):
    """The user's own scripts. Argument lists, no shell; "{version}" becomes the version."""

    type: Literal["command"] = "command"
    routes_itself: ClassVar[bool] = True  # the user's platform serves what the scripts deploy
    deploy: Script
    # Exit 0: the version is up. Without it, a release counts as alive once deployed.
    status: Script | None = None
    rollback: Script | None = None
    stop: Script | None = None
    # Prints KEY=VALUE lines (or a JSON object) of the environment's variables.
    variables: Annotated[list[str], AfterValidator(lambda argv: check_argv(argv, ()))] | None = None
    env: Annotated[dict[str, str], AfterValidator(check_variables)] = Field(default_factory=dict)
    # The service's URL, where `safeship deploy` runs the health checks; "{version}" becomes
    # the version. Needed to deploy (every deploy verifies health).
    url: str | None = None
    timeout: Annotated[float, Field(gt=0, le=7200)] = 600.0
    status_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0

    def service_url(self) -> str | None:
        """The URL when it needs no version filled in."""
        return self.url if self.url and "{version}" not in self.url else None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        # "{version}" is substituted as it is: a version cannot change the host (its rule,
        # safeship.validation.check_version, has no : / ? # @).
        if url is None:
            return None
        check_url_text(url)
        parts = urlsplit(url.replace("{version}", "v"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        template = urlsplit(url)
        in_host = (template.hostname or "").split("{version}")
        if template.netloc.count("{version}") != len(in_host) - 1 or any(
            not after.startswith(".") for after in in_host[1:]
        ):
            raise ValueError(
                "{version} in the URL's host must be followed by its domain "
                "(e.g. https://app-{version}.example.com): a version never names the host"
            )
        return url


# A host's name in the config: what events, reasons and the router's server names carry.
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# An address: an IPv4/IPv6 literal or a DNS name (no user, port or path in it).
_ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")
# A share of the hosts: a count ("2") or a percentage of them ("25%").
_SHARE = re.compile(r"(\d{1,4})(%?)")


def _host_name(name: str) -> str:
    if not _HOST_NAME.fullmatch(name):
        raise ValueError("a host's name is 1-63 letters, digits and . _ - (starting alphanumeric)")
    return name


def _address(address: str) -> str:
    if not _ADDRESS.fullmatch(address):
        raise ValueError("must be an IP address or a DNS name")
    return address


def _share(value: int | str) -> int | str:
    """A count of hosts (0 or more) or a percentage of them ("25%", 0-100)."""
    if isinstance(value, int):
        if not 0 <= value <= 1000:
            raise ValueError('must be 0-1000 hosts or a percentage such as "25%"')
        return value
    match = _SHARE.fullmatch(value.strip())
    if not match or (match.group(2) and int(match.group(1)) > 100):
        raise ValueError('must be a number of hosts or a percentage such as "25%"')
    return value.strip() if match.group(2) else int(match.group(1))


HostShare = Annotated[int | str, AfterValidator(_share)]


def hosts_of(share: int | str, total: int, *, at_least_one: bool) -> int:
    """How many of ``total`` hosts a share names: a count as it is, a percentage rounded
    down (Ansible's ``serial``), at least 1 when ``at_least_one``; never more than total."""
    count = total * int(share.rstrip("%")) // 100 if isinstance(share, str) else share
    if at_least_one:
        count = max(count, 1)
    return min(count, total)


class HostSettings(SettingsModel):
    """One host of an ssh target's fleet."""

    # The host's name in events, reasons and the router's server names.
    name: Annotated[str, AfterValidator(_host_name)]
    # Where SSH and the router reach it: an IP address or a DNS name.
    address: Annotated[str, AfterValidator(_address)]
    # Its SSH port.
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    # Default: the target's user.
    user: Annotated[str, AfterValidator(lambda u: check_text("user", u, 64))] | None = None
    # Labels to pick hosts by (the target's ``role``), e.g. ["web"].
    roles: Annotated[list[Annotated[str, AfterValidator(_host_name)]], Field(max_length=20)] = (
        Field(default_factory=list)
    )


class ArtifactSettings(SettingsModel):
    """How a release's code reaches the hosts: a built file ("{version}" in its path), sent
    over SSH and checked against its SHA-256 on the host, or a git repository the host
    fetches the deployed commit from. None of them: the command runs what the host has."""

    # A .tar.gz/.tgz/.tar (unpacked) or .whl (installed into the release's own virtualenv),
    # relative to safeship.toml.
    path: FilePath | None = None
    git: Annotated[str, AfterValidator(lambda url: check_text("git", url, 2048))] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ArtifactSettings:
        if (self.path is None) == (self.git is None):
            raise ValueError("give one of path (a built file) or git (a repository URL)")
        return self


class SshTargetSettings(SettingsModel):
    """Run each release on a fleet of hosts over SSH (docs/fleet.md), behind a fleet router
    (haproxy or nginx)."""

    type: Literal["ssh"] = "ssh"
    routes_itself: ClassVar[bool] = False
    hosts: Annotated[list[HostSettings], Field(min_length=1, max_length=200)]
    # Deploy only to the hosts with this role (None: every host).
    role: Annotated[str, AfterValidator(_host_name)] | None = None
    # The SSH user for hosts that name none. Default: this machine's user, as ssh does.
    user: Annotated[str, AfterValidator(lambda u: check_text("user", u, 64))] | None = None
    # Private key files (relative to safeship.toml); with use_agent, an SSH agent's keys too.
    identity_files: Annotated[list[FilePath], Field(max_length=10)] = Field(default_factory=list)
    # Also offer the keys of the SSH agent at $SSH_AUTH_SOCK, when there is one. Neither
    # identity_files nor the agent: the user's ~/.ssh/id_* keys.
    use_agent: bool = True
    # The host keys safeship accepts (OpenSSH format); `safeship hosts trust ENV` adds to it.
    # An unknown or changed key is refused.
    known_hosts: FilePath = ".safeship/known_hosts"
    # Seconds to reach one host (TCP, key exchange, login). Also the keepalive interval of an
    # open connection: a host that misses two is taken for unreachable.
    connect_timeout: Annotated[float, Field(gt=0, le=300)] = 5.0
    # Seconds one command on a host may take (starting a release waits start_timeout more).
    command_timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # Where releases live on each host; relative paths are under the user's home. "{host}"
    # becomes the host's name, "{environment}" the environment's.
    remote_dir: Annotated[str, AfterValidator(lambda p: check_text("remote_dir", p, 1024))] = (
        "safeship/{environment}"
    )
    # The host's Python (3.8+): it runs safeship's host agent and a command starting with
    # "python".
    python: Annotated[str, AfterValidator(lambda p: check_text("python", p, 1024))] = "python3"
    # Argument list run on the host in the release's directory, no shell. "{port}" becomes
    # the release's port, "{version}" its version.
    command: Annotated[
        list[str], AfterValidator(lambda argv: check_argv(argv, ("port", "version")))
    ]
    env: Annotated[dict[str, str], AfterValidator(check_variables)] = Field(default_factory=dict)
    artifact: ArtifactSettings | None = None
    start_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    stop_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0
    # The hosts a new release starts on first and takes the canary steps on: names, or how
    # many (the first N). None: every host, in batches.
    canary_hosts: list[Annotated[str, AfterValidator(_host_name)]] | HostShare | None = None
    # Hosts started at once after the canary hosts (a count or a percentage, as Ansible's
    # `serial`); each batch is verified before the next starts.
    batch_size: HostShare = "100%"
    # Hosts that may become unreachable mid-rollout (taken out of traffic) before the deploy
    # rolls back.
    max_unavailable: HostShare = 0

    def service_url(self) -> str | None:
        return None  # the environment's address is the router's

    @model_validator(mode="after")
    def _hosts_are_distinct(self) -> SshTargetSettings:
        names = [h.name for h in self.hosts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"host names must be unique: {', '.join(twice)} named twice")
        places = [(h.address, h.port) for h in self.hosts]
        if len(set(places)) != len(places):
            raise ValueError("two hosts have the same address and port")
        if self.role is not None and not any(self.role in h.roles for h in self.hosts):
            raise ValueError(f"no host has the role {self.role!r}")
        if isinstance(self.canary_hosts, list):
            unknown = sorted(set(self.canary_hosts) - set(names))
            if unknown:
                raise ValueError(f"canary_hosts names unknown hosts: {', '.join(unknown)}")
        if isinstance(self.batch_size, int) and self.batch_size < 1:
            raise ValueError("batch_size must be at least 1 host")
        return self

    def selected_hosts(self) -> list[HostSettings]:
        """The hosts this environment deploys to (its role's, or all)."""
        if self.role is None:
            return list(self.hosts)
        return [h for h in self.hosts if self.role in h.roles]
