"""The platform router: for targets whose platform routes to the release itself (Railway, the
command target's platforms).

There is no process and no port. The router only records the backend it is given in
``state_dir/platform.json``, so `safeship status` and the next deploy know which version
serves; the platform moved the traffic when the target deployed. Health checks run against
the release's own (public) URL.

Decisions:

- One release serves at a time: weights that split traffic are refused (RouterError), so a
  canary on such a platform fails loudly instead of pretending to shift 10%.
- ``stats()`` is empty: no request passes through safeship, so the traffic rules (error rate,
  the canary judge) have nothing to judge and do not fire; health checks and the target's
  ``is_alive`` watch the release instead.
- "Running" means the record exists: ``ensure_running`` writes an empty one, ``stop`` (for
  `safeship down`, which also takes the releases down) deletes it. No process is involved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from safeship._files import write_private_json
from safeship.routing.base import Backend, BackendStats, RouterError

if TYPE_CHECKING:
    from safeship.routing.settings import PlatformRouterSettings

STATE_FILE = "platform.json"


class PlatformRouter:
    """Router adapter that records which release the platform serves."""

    def __init__(
        self,
        environment: str,
        port: int | None,
        state_dir: Path,
        settings: PlatformRouterSettings | None = None,
    ) -> None:
        self.environment = environment
        self.port = port  # unused: the platform listens, not safeship
        self.settings = settings
        self.state_dir = Path(state_dir)

    @property
    def state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    def ensure_running(self) -> None:
        if not self.state_path.exists():
            write_private_json(self.state_path, {"backends": []})

    def is_running(self) -> bool:
        return self.state_path.exists()

    def set_backends(self, backends: Sequence[Backend]) -> None:
        serving = [b for b in backends if b.weight > 0]
        if len(serving) > 1 or any(b.weight not in (0, 100) for b in backends):
            weights = ", ".join(f"{b.name}={b.weight}" for b in backends)
            raise RouterError(
                f"the {self.environment} platform router cannot split traffic ({weights}): "
                'the platform serves one release; use strategy = "all-at-once"'
            )
        for backend in serving:
            _check_url(backend)
        write_private_json(self.state_path, {"backends": [asdict(b) for b in serving]})

    def backends(self) -> list[Backend]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise RouterError(f"invalid {self.state_path}: {exc}") from None
        try:
            return [
                Backend(name=str(b["name"]), url=str(b["url"]), weight=int(b["weight"]))
                for b in data["backends"]
            ]
        except (KeyError, TypeError, ValueError):
            raise RouterError(
                f'invalid {self.state_path}: expected {{"backends": [{{name, url, weight}}]}}'
            ) from None

    def stats(self) -> dict[str, BackendStats]:
        return {}

    def stop(self) -> None:
        """Forget what serves: `safeship down` stops the releases too. Nothing else runs."""
        self.state_path.unlink(missing_ok=True)


def _check_url(backend: Backend) -> None:
    parts = urlsplit(backend.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RouterError(
            f"backend {backend.name}: the platform router needs the release's http(s) URL, "
            f"not {backend.url!r}"
        )
