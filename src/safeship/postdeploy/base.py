"""What a post-deploy step is given, and what it is: a name and a verdict (the gates' own
:class:`~safeship.gates.base.GateVerdict`, recorded the same way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.gates.base import GateVerdict
    from safeship.gates.settings import PostDeploySettings
    from safeship.registry import DeploymentRecord, Registry

# The steps in the order they run: the tag first (the notification names it), the
# notification last (it names the tag and links the archived report).
STEP_ORDER: tuple[str, ...] = ("tag", "artifacts", "notify")


@dataclass
class StepContext:
    """One finished deployment's post-deploy run. An earlier step leaves what a later one
    announces in ``facts``: ``tag`` (the tag's name), ``artifacts`` (the files stored, each a
    dict of name, url, sha256, size), ``report_url`` (where the report was archived)."""

    loaded: LoadedConfig
    settings: PostDeploySettings
    record: DeploymentRecord  # the deployment, ended succeeded
    registry: Registry
    event_log: TextIO | None = None  # where the notification's event goes (None: events.jsonl)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def environment(self) -> str:
        return self.record.environment


class Step(Protocol):
    name: str

    def run(self, context: StepContext) -> GateVerdict:
        """The step's verdict; raising is a failure too (its first line the reason)."""
        ...


def first_line(exc: BaseException) -> str:
    """What a step's failure says: its message's first line (its type when it has none)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
