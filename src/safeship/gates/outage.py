"""The outage gate, first of the checks: a deploy to an environment that outage mode paused
(its availability probe failed ``[environments.X.outage] failures`` times in a row; see
:mod:`safeship.pipeline.outage`) is refused with since when and why, unless it is an emergency
deploy (`safeship deploy --emergency`, recorded on the deployment's row as its path), which goes
through with the pause noted in its verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from safeship.gates.base import GateContext, GateVerdict, failed, passed

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings


@dataclass(frozen=True)
class OutageGate:
    name: str = "outage"

    def check(self, context: GateContext) -> GateVerdict:
        from safeship.paths.local import EMERGENCY_PATH

        pause = context.registry.environment_pause(context.environment)
        if pause is None or pause.since is None:
            return passed("not paused")
        since = f"{pause.since:%Y-%m-%d %H:%M:%S} UTC"
        figures = {"paused_since": pause.since.isoformat(), "failures": pause.failures}
        record = context.registry.get(context.deployment_id)
        if record is not None and record.path == EMERGENCY_PATH:
            return passed(
                f"paused since {since} ({pause.reason}); an emergency deploy goes through",
                emergency=True,
                **figures,
            )
        return failed(
            f"{context.environment} is paused since {since}: {pause.reason} "
            "(outage mode; `safeship deploy --emergency` goes through)",
            **figures,
        )


def probed(settings: EnvironmentSettings) -> bool:
    """Whether outage mode watches the environment: a status page, or a platform API (a
    railway target's); a local or command target without a status page has no probe."""
    outage = settings.outage
    return outage.enabled and (bool(outage.status_url) or settings.target.type == "railway")


def gate(settings: EnvironmentSettings) -> OutageGate | None:
    # Only where a probe can pause the environment: elsewhere there is nothing to look up.
    return OutageGate() if probed(settings) else None
