"""Runs a succeeded deployment's post-deploy steps in order, each recorded in ``gate_results``
before it acts and finished with its verdict; a step that fails is one warning line, and the
next steps still run (a tag that could not be pushed does not keep the artifacts from being
archived, nor the stakeholders from hearing of the release)."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TextIO

from safeship.gates.base import GateVerdict
from safeship.postdeploy.base import STEP_ORDER, Step, StepContext, first_line
from safeship.redaction import redact, redact_data

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.gates.settings import PostDeploySettings

# Each step's module, by name (its ``step(settings)`` builds it, None: not configured).
STEP_MODULES: Final = {
    "tag": "safeship.postdeploy.tag",
    "artifacts": "safeship.postdeploy.artifacts",
    "notify": "safeship.postdeploy.notify",
}


@dataclass(frozen=True)
class StepOutcome:
    step: str
    outcome: str  # passed, failed, skipped
    reason: str


def configured_steps(settings: PostDeploySettings) -> list[Step]:
    steps = []
    for name in STEP_ORDER:
        built: Step | None = importlib.import_module(STEP_MODULES[name]).step(settings)
        if built is not None:
            steps.append(built)
    return steps


def run_post_deploy(
    loaded: LoadedConfig,
    environment: str,
    deployment_id: str,
    *,
    event_log: TextIO | None = None,
    errors: TextIO | None = None,
) -> list[StepOutcome]:
    """The post-deploy steps of ``environment`` for ``deployment_id``, which must have ended
    succeeded (else nothing runs); their outcomes. Never raises (but for Ctrl-C): what fails is
    one warning line on ``errors`` (stderr)."""
    stream = errors or sys.stderr
    settings = loaded.environment(environment).post_deploy
    if not settings.configured:
        return []
    try:
        from safeship.registry import Registry

        steps = configured_steps(settings)
        with Registry(loaded.registry_url()) as registry:
            record = registry.get(deployment_id)
            if record is None or record.status != "succeeded":
                return []
            context = StepContext(loaded, settings, record, registry, event_log)
            return [_run_step(step, context, stream) for step in steps]
    except Exception as exc:
        print(
            f"safeship: warning: the steps after the deploy of {environment} did not run: "
            f"{redact(first_line(exc))}",
            file=stream,
        )
        return []


def _run_step(step: Step, context: StepContext, stream: TextIO) -> StepOutcome:
    registry = context.registry
    row = registry.start_gate(context.record.id, step.name)
    try:
        verdict = step.run(context)
    except Exception as exc:  # a step that breaks is a failed step, with why
        verdict = GateVerdict("failed", first_line(exc))
    except BaseException:
        registry.finish_gate(row, "interrupted", "interrupted during this step after the deploy")
        raise
    reason = redact(" ".join(verdict.reason.split()))
    figures: dict[str, Any] = redact_data(dict(verdict.figures))
    registry.finish_gate(row, verdict.outcome, reason or None, figures)
    if verdict.outcome == "failed":
        print(f"safeship: warning: after the deploy: {step.name}: {reason}", file=stream)
    elif verdict.outcome == "skipped":
        print(f"safeship: after the deploy: {step.name} skipped: {reason}", file=stream)
    return StepOutcome(step.name, verdict.outcome, reason)
