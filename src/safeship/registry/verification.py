"""The typed records of a deployment beside its row: manual requests, step and check results,
and the environment's baselines. ``Registry`` inherits these methods (see ``store``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from safeship.registry import baselines, deployments, requests, results
from safeship.registry.errors import RegistryError, check_text, parse_id
from safeship.registry.records import (
    PERSON_LEN,
    REQUEST_KINDS,
    BaselineRecord,
    CheckResultRecord,
    RequestRecord,
    StepResult,
)
from safeship.registry.sql import Tx


class RecordsBase:
    """The registry's typed records, and the plumbing every facade method shares."""

    _reading: Callable[[str], AbstractContextManager[Tx]]
    _writing: Callable[[str], AbstractContextManager[Tx]]
    _clock: Callable[[], datetime]

    # -- manual requests ---------------------------------------------------------------------

    def add_request(
        self, deployment_id: str, kind: str, requested_by: str, reason: str | None = None
    ) -> None:
        """Leave a request (pause, abort, rollback, resume, promote) for a deployment."""
        if kind not in REQUEST_KINDS:
            raise RegistryError(
                f"unknown request {kind!r}; expected one of {sorted(REQUEST_KINDS)}"
            )
        check_text("requested_by", requested_by, PERSON_LEN)
        check_text("reason", reason, None, required=False)
        now = self._now()
        with self._writing("add request") as tx:
            key = self._require(tx, deployment_id)
            requests.insert(tx, key, kind, requested_by, reason, now)

    def pending_request(self, deployment_id: str) -> RequestRecord | None:
        """The oldest request to the deployment not handled yet, or None."""
        key = parse_id(deployment_id)
        if key is None:
            return None
        with self._reading("read requests") as tx:
            return requests.pending(tx, key)

    def requests(self, deployment_id: str) -> list[RequestRecord]:
        """Every request to the deployment, oldest first."""
        key = parse_id(deployment_id)
        if key is None:
            return []
        with self._reading("read requests") as tx:
            return requests.of_deployment(tx, key)

    def mark_request_handled(self, request_id: int) -> bool:
        """Record that the deployment acted on the request; False if it already was."""
        now = self._now()
        with self._writing("mark request handled") as tx:
            return requests.mark_handled(tx, request_id, now)

    # -- verification results ----------------------------------------------------------------

    def add_step_result(self, deployment_id: str, result: StepResult) -> None:
        results.check_step(result)
        now = self._now()
        with self._writing("add step result") as tx:
            results.insert_step(tx, self._require(tx, deployment_id), result, now)

    def step_results(self, deployment_id: str) -> list[StepResult]:
        key = parse_id(deployment_id)
        if key is None:
            return []
        with self._reading("read step results") as tx:
            return results.steps(tx, key)

    def add_check_results(self, deployment_id: str, checks: Sequence[CheckResultRecord]) -> None:
        results.check_checks(checks)
        now = self._now()
        with self._writing("add check results") as tx:
            results.insert_checks(tx, self._require(tx, deployment_id), checks, now)

    def check_results(self, deployment_id: str) -> list[CheckResultRecord]:
        key = parse_id(deployment_id)
        if key is None:
            return []
        with self._reading("read check results") as tx:
            return results.checks(tx, key)

    # -- baselines ---------------------------------------------------------------------------

    def save_baseline(self, baseline: BaselineRecord) -> None:
        baselines.check(baseline)
        now = self._now()
        with self._writing("save baseline") as tx:
            if baseline.deployment_id is not None:
                self._require(tx, baseline.deployment_id)
            baselines.insert(tx, baseline, now)

    def baseline_for(self, environment: str, version: str | None = None) -> BaselineRecord | None:
        """The newest baseline of ``environment`` (of ``version`` when given), or None."""
        with self._reading("read baseline") as tx:
            return baselines.latest(tx, environment, version)

    # -- plumbing ----------------------------------------------------------------------------

    def _require(self, tx: Tx, deployment_id: str) -> str:
        key = parse_id(deployment_id)
        if key is None or not deployments.exists(tx, key):
            raise RegistryError(f"no deployment {deployment_id!r}")
        return key

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise RegistryError("the registry clock returned a naive datetime")
        return now
