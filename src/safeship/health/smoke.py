"""Level 3, smoke tests of critical paths: flows of requests; steps in order, flows at once.

A step's strings may use ``{name}`` for a value an earlier step of the same flow captured from
its JSON answer (create a record, then delete it). Environment variables (``${NAME}``) are
resolved before a flow is built (safeship.health.resolve), so a flow holds only captures.
A flow stops at its first failed step; the steps after it are not sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from safeship.config.health import Assertion
from safeship.config.placeholders import PLACEHOLDER
from safeship.health.base import CheckResult
from safeship.health.jsonbody import found, lookup
from safeship.health.request import Expectation, send

if TYPE_CHECKING:
    import httpx

LEVEL = 3


def substitute(
    value: Any, captures: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Any:
    """``value`` (a string or JSON-like data) with placeholders replaced.

    ``{name}`` takes a capture, ``${NAME}`` an environment variable; a kind whose mapping is
    None is left as it is. A string that is exactly one ``{name}`` becomes the captured value
    itself, so a captured number stays a number in a JSON body.
    """
    if isinstance(value, dict):
        return {k: substitute(v, captures, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, captures, env) for v in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value)
    if captures is not None and whole and whole.group(2) in captures:
        return captures[whole.group(2)]

    def replace_one(match: Any) -> str:
        variable, capture = match.group(1), match.group(2)
        if variable is not None and env is not None and variable in env:
            return env[variable]
        if capture is not None and captures is not None and capture in captures:
            found_value = captures[capture]
            return found_value if isinstance(found_value, str) else json.dumps(found_value)
        text: str = match.group(0)
        return text

    return PLACEHOLDER.sub(replace_one, value)


@dataclass(frozen=True)
class Step:
    label: str
    method: str
    path: str
    timeout: float
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    expect_status: tuple[int, ...] = (200,)
    latency_budget_ms: float | None = None
    assertions: tuple[Assertion, ...] = ()
    capture: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Flow:
    """One smoke test against ``base_url``."""

    flow_name: str
    base_url: str
    steps: tuple[Step, ...]
    critical: bool = True
    level: int = LEVEL

    @property
    def name(self) -> str:
        return f"smoke:{self.flow_name}"

    @property
    def timeout(self) -> float:
        # Each step has its own timeout; this only bounds the flow as a whole.
        return sum(step.timeout for step in self.steps) + 1.0

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]:
        captures: dict[str, Any] = {}
        results: list[CheckResult] = []
        for number, step in enumerate(self.steps, start=1):
            name = f"{self.name}/{step.label}"
            result = await self._step(http, name, step, captures)
            results.append(result)
            if result.status == "failed":
                remaining = len(self.steps) - number
                if remaining:
                    more = f"; {remaining} later step{'s' if remaining > 1 else ''} not run"
                    results[-1] = replace(result, detail=result.detail + more)
                break
        return results

    async def _step(
        self, http: httpx.AsyncClient, name: str, step: Step, captures: dict[str, Any]
    ) -> CheckResult:
        expect = Expectation(
            step.expect_status, bool(step.capture), step.assertions, step.latency_budget_ms
        )
        import asyncio  # here: `config check` imports this module and runs no event loop

        url = self.base_url.rstrip("/") + str(substitute(step.path, captures))
        headers = {k: str(substitute(v, captures)) for k, v in step.headers.items()}
        try:
            async with asyncio.timeout(step.timeout):
                answer = await send(
                    http,
                    name,
                    step.method,
                    url,
                    timeout=step.timeout,
                    expect=expect,
                    headers=headers,
                    body=substitute(step.body, captures),
                )
        except TimeoutError:
            return CheckResult(
                name, "failed", step.timeout * 1000, f"timeout after {step.timeout:g}s"
            )
        if answer.result.status == "failed":
            return answer.result
        for capture, path in step.capture.items():
            value = lookup(answer.body, path)
            if not found(value):
                return replace(
                    answer.result, status="failed", detail=f"capture {capture}: {path} is missing"
                )
            captures[capture] = value
        return answer.result
