"""The stakeholders' news: a ``deployment.released`` event (version, environment, the tag, the
artifacts archived, where the report is), through the same event bus as a deploy's own events:
the JSON-lines log, the registry (the deployment's timeline) and the alerts core, which makes
it an info alert of its own condition, ``deployment.released``, for ``[alerts]`` routes to send
to the stakeholders' channel (docs/gates/after-deploy.md).

Sent once: the step runs once per deployment, right after it, and the outbox gives the alert
one id that every retry and every receiver sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from safeship.gates.base import GateVerdict, passed
from safeship.postdeploy.base import StepContext

if TYPE_CHECKING:
    from safeship.gates.settings import PostDeploySettings


@dataclass(frozen=True)
class NotifyStep:
    name: str = "notify"

    def run(self, context: StepContext) -> GateVerdict:
        from safeship.events.model import Event
        from safeship.pipeline.operations import open_session

        record = context.record
        attributes = released_attributes(context)
        event = Event(
            event="deployment.released",
            deployment_id=record.id,
            environment=record.environment,
            version=record.version,
            commit=record.commit_sha,
            triggered_by=record.triggered_by,
            attributes=attributes,
        )
        with open_session(context.loaded, record.environment, context.event_log) as session:
            session.bus.publish(event)
            failures = session.bus.failures
        if failures:
            # The sink printed why; the news may not have reached every channel.
            return GateVerdict("failed", "the release was not announced to every sink")
        tag = attributes.get("tag")
        return passed(
            f"announced the release of {record.version}" + (f" ({tag})" if tag else ""),
            **attributes,
        )


def released_attributes(context: StepContext) -> dict[str, Any]:
    """What the news says beside the version and environment: the tag and the artifacts the
    earlier steps left (when they ran), and the archived report's address."""
    facts = context.facts
    attributes: dict[str, Any] = {"environment": context.environment}
    if facts.get("tag"):
        attributes["tag"] = facts["tag"]
    stored = facts.get("artifacts") or []
    if stored:
        attributes["artifacts"] = [item["name"] for item in stored]
    if facts.get("report_url"):
        attributes["report"] = facts["report_url"]
    return attributes


def step(settings: PostDeploySettings) -> NotifyStep | None:
    return NotifyStep() if settings.notify else None
