"""The Target port: where a version runs as a release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TargetError(Exception):
    """A release could not be started or managed. The message is one line for the user."""


@dataclass(frozen=True)
class Release:
    """One running version of the service, reachable at ``url``."""

    environment: str
    version: str
    port: int
    pid: int | None
    started_at: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class HostedRelease(Release):
    """A release a platform runs (no local port or pid), reached at its public URL."""

    public_url: str | None = None

    @property
    def url(self) -> str:
        return self.public_url or ""


class Target(Protocol):
    """Deploys versions as releases and manages their lifetime."""

    def deploy(self, version: str, commit: str | None = None) -> Release:
        """Start ``version`` as a new release, not yet serving; return once it listens.

        ``commit`` is the commit the deploy was asked for: a platform that builds from the
        repository (Railway) builds that one; a target that runs what it is given ignores it.

        Raises TargetError when it cannot start (command missing, exits early, never listens).
        """
        ...

    def is_alive(self, release: Release) -> bool:
        """Whether the release's process still runs."""
        ...

    def stop(self, release: Release) -> None:
        """Stop one release (graceful, then forced)."""
        ...

    def releases(self) -> list[Release]:
        """Releases of this environment that are running now."""
        ...

    def down(self) -> None:
        """Stop every release of this environment."""
        ...

    def variables(self) -> dict[str, str]:
        """The environment variables the target gives a release (for env checks and drift)."""
        ...
