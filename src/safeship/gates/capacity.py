"""Resource capacity: before a new release starts beside the serving one, the target's host
must have the memory and disk it needs, plus a margin for the host itself.

The target measures (``target.capacity()``, see :class:`safeship.targets.base.HostCapacity`):
the local target measures this machine; a target on remote hosts measures the host it deploys
to. A target that cannot tell (a platform's) skips the gate, saying so.

What the release needs: ``memory_mb`` and ``disk_mb`` as configured; memory 0 takes the
serving release's resident memory as the estimate (a new version of the same service), or none
on a first deploy. The figures (free, needed, the estimate's basis) are recorded in every
verdict, passed or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from safeship.gates.base import GateContext, GateVerdict, failed, passed, skipped

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.gates.settings import CapacitySettings
    from safeship.targets.base import HostCapacity


@dataclass(frozen=True)
class CapacityGate:
    settings: CapacitySettings
    name: str = "capacity"

    def check(self, context: GateContext) -> GateVerdict:
        measure = getattr(context.target, "capacity", None)
        room: HostCapacity | None = measure() if callable(measure) else None
        if room is None:
            kind = type(context.target).__name__
            return skipped(f"the {kind} of {context.environment} cannot measure its host")
        memory, basis = self._memory_estimate(room, context.stable_version)
        memory_needed = memory + self.settings.min_free_memory_mb
        disk_needed = self.settings.disk_mb + self.settings.min_free_disk_mb
        figures: dict[str, Any] = {
            "host": room.host,
            "memory_available_mb": room.memory_available_mb,
            "memory_needed_mb": memory_needed,
            "memory_estimate": basis,
            "disk_path": room.disk_path,
            "disk_free_mb": room.disk_free_mb,
            "disk_needed_mb": disk_needed,
        }
        shortfalls = []
        if room.memory_available_mb < memory_needed:
            shortfalls.append(
                f"needs {memory_needed:.0f} MB of memory, {room.memory_available_mb:.0f} MB free"
            )
        if room.disk_free_mb < disk_needed:
            shortfalls.append(
                f"needs {disk_needed:.0f} MB of disk in {room.disk_path}, "
                f"{room.disk_free_mb:.0f} MB free"
            )
        where = f" on {room.host}"
        if shortfalls:
            return failed("; ".join(shortfalls) + where, **figures)
        return passed(
            f"{room.memory_available_mb:.0f} MB of memory free (needs {memory_needed:.0f}), "
            f"{room.disk_free_mb:.0f} MB of disk (needs {disk_needed:.0f}){where}",
            **figures,
        )

    def _memory_estimate(self, room: HostCapacity, serving: str | None) -> tuple[float, str]:
        """The new release's memory need and where the figure comes from."""
        if self.settings.memory_mb > 0:
            return self.settings.memory_mb, "configured"
        if serving is None:
            return 0.0, "none configured, no serving release to measure"
        if serving in room.resident_mb:
            return room.resident_mb[serving], f"resident memory of the serving {serving}"
        return 0.0, f"none configured, the serving {serving} could not be measured"


def gate(settings: EnvironmentSettings) -> CapacityGate | None:
    capacity = settings.gates.capacity
    return CapacityGate(capacity) if capacity.enabled else None
