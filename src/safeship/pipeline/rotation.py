"""Secret rotation: the four-step protocol (create, set, test, finish, in the manner of AWS
Secrets Manager) through a secret's environments in order, resumable (docs/secrets.md).

For each environment ENV of ``[secrets.rotate.NAME]`` (staging first):

1. create: the pending version in the versioned store (``[secrets] store``). A resume reuses a
   pending version already there. The first rotation imports the value releases use now (the
   platform variable) as the current version, so the previous value is kept. The rotator
   generates the new value; a manual one generates none: the rotation waits for
   `safeship secrets set` (:func:`set_value`).
2. apply + test: the rotator makes the pending value valid beside the current one, and tests it.
3. deploy: the platform variable gets the pending value (and ``<variable>_PREVIOUS`` the
   current one when the rotator has a previous slot), then an ordinary deploy of the serving
   version as ``<version>+rot.<rotation id>``, blue-green with the old release kept warm
   ``[secrets] keep_warm`` seconds (a target that routes itself: the platform's strategy).
   Nothing serving: the step is skipped; the value takes effect at the next deploy.
4. a failure (a rotator's error, a deploy that failed or rolled back) puts the variables back,
   discards the pending version and ends the rotation failed: the current value stays current
   and working. Environments before it that deployed keep the new value; they are finished
   normally (the rotation goes on to its grace period, its reason naming the failure).

After the last environment the rotation is in its grace period until ``grace_until`` (``[secrets]
grace``; 0: it finishes at once). The finish step (:func:`finish`), per environment that
deployed: the labels move (current = pending, previous = the old current), the rotator revokes
the old value, ``<variable>_PREVIOUS`` is dropped from the releases' variables.

The old release is stopped by the blue-green deploy itself after keep_warm, earlier than the
architecture's 24 hours: `safeship recover` (and every deploy's recovery) stops the releases that
do not serve, so a release kept for a day would not survive the next recovery anyway. What makes
a rollback in the grace period work is the old *credential*: it stays valid until the finish
step revokes it, so the previous release, started again by a rollback, still connects.

Every step's audit row (``registry.rotation_steps``) is written before the step acts and
carries the actor, the store's version number and fingerprints of the values
(safeship.envschema.fingerprint), never a value. Every value is registered with
safeship.redaction as soon as it is held; events carry fingerprints only. One process runs a
rotation at a time (its holder, ``user@host pid N``); `--resume` takes over one whose holder
died.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TextIO

from safeship.config import LoadedConfig
from safeship.events import Event
from safeship.pipeline.lease import holder_is_dead, this_holder
from safeship.redaction import redact, register_secret
from safeship.registry.errors import first_line
from safeship.registry.records import TERMINAL_STATUSES
from safeship.registry.rotations import RotationBusy

if TYPE_CHECKING:
    from safeship.envschema.fingerprint import FingerprintKey
    from safeship.events.model import EventName
    from safeship.pipeline.operations import Session
    from safeship.registry import Registry
    from safeship.registry.gate_rows import RotationRecord, RotationStepRecord
    from safeship.rotation.base import Rotator
    from safeship.secrets.base import SecretStore, SecretVersion, VersionedSecretStore
    from safeship.secrets.settings import RotatedSecretSettings

# Statuses of a rotation (registry.rotations).
RUNNING: Final = "running"
WAITING: Final = "waiting"
GRACE: Final = "grace"
FINISHED: Final = "finished"
FAILED: Final = "failed"
# A step's outcome (registry.rotation_steps).
DONE: Final = "done"
SKIPPED: Final = "skipped"
STEP_FAILED: Final = "failed"
PREVIOUS_SUFFIX: Final = "_PREVIOUS"
_ROT_SUFFIX = re.compile(r"\+rot\.\d+$")


class RotationRefused(Exception):
    """Nothing to rotate, resume, set or finish as asked (nothing changed). One line."""


class RotationFailed(Exception):
    """A finish step failed at the store or the provider (the rotation stays in its grace
    period, to finish again). One line."""


@dataclass(frozen=True)
class RotationNotice:
    """What a rotation tells its face as it goes: ``step`` (create, set, apply, test, deploy,
    discard, finish) in ``environment`` ended ``what`` (done, skipped, failed, waiting)."""

    rotation_id: int
    environment: str
    step: str
    what: str
    detail: str | None = None


OnNotice = Callable[[RotationNotice], None]


class _StepFailed(Exception):
    """A step of one environment failed: the rotation undoes that environment. One line."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


@dataclass
class _Values:
    """One environment's versions in this rotation (values registered with redaction)."""

    current: SecretVersion | None = None
    pending: SecretVersion | None = None


def rotated_version(serving_version: str, rotation_id: int) -> str:
    """The version a rotation deploys: the serving one (without an earlier ``+rot.N``) with
    ``+rot.<rotation id>``: the local target and the rollout refuse a version already running."""
    return f"{_ROT_SUFFIX.sub('', serving_version)}+rot.{rotation_id}"


def secret_settings(loaded: LoadedConfig, name: str) -> RotatedSecretSettings:
    """``[secrets.rotate.NAME]``; RotationRefused (a usage error) for an unknown secret."""
    rotate = loaded.config.secrets.rotate
    if name not in rotate:
        known = ", ".join(sorted(rotate)) or "none is configured"
        raise RotationRefused(
            f"no secret {name!r} to rotate: add a [secrets.rotate.{name}] table to "
            f"safeship.toml (rotated secrets: {known})"
        )
    return rotate[name]


def environments_of(loaded: LoadedConfig, name: str) -> list[str]:
    """The secret's environments in order: its table's, else every configured one."""
    return list(secret_settings(loaded, name).environments or loaded.config.environments)


@dataclass
class RotationRun:
    """Runs one rotation of one secret (the module's docstring), keeping its record."""

    loaded: LoadedConfig
    registry: Registry
    record: RotationRecord
    actor: str
    on_notice: OnNotice | None = None
    event_log: TextIO | None = None
    holder: str = field(default_factory=this_holder)
    _key: FingerprintKey | None = None

    # -- the rotation ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.record.secret

    @property
    def settings(self) -> RotatedSecretSettings:
        return secret_settings(self.loaded, self.name)

    @property
    def variable(self) -> str:
        return self.settings.variable or self.name

    def run(self) -> RotationRecord:
        """Each environment not done yet, in order, then the grace period (or the finish)."""
        failure: tuple[str, str, str] | None = None  # environment, step, reason
        for environment in self.record.environments:
            if failure is not None:
                break
            if self._done(environment, "discard"):
                failure = (environment, "deploy", self._failure_reason(environment))
                break
            if self._done(environment, "deploy"):
                continue
            self._progress(f"{environment}:create")
            try:
                if not self._environment(environment):
                    return self._wait(environment)
            except _StepFailed as failed:
                self._undo(environment, failed)
                failure = (environment, failed.step, failed.reason)
        deployed = [e for e in self.record.environments if self._deployed(e)]
        if failure is not None:
            environment, step, reason = failure
            reason = f"{environment} {step}: {reason}"
            self.publish("secret.rotation_failed", environment, step=step, reason=reason)
            if not deployed:
                self.registry.update_rotation(
                    self.record.id, status=FAILED, reason=reason, finished=True
                )
                return self._reread()
            # The environments before it run the new value: they finish normally.
            self._grace(reason)
        else:
            self._grace(None)
        record = self._reread()
        if record.grace_until is not None and record.grace_until <= self._now():
            return self.finish()
        self.registry.release_rotation(self.record.id, self.holder)
        return self._reread()

    def _grace(self, reason: str | None) -> None:
        grace_until = self._now() + timedelta(seconds=self.loaded.config.secrets.grace)
        self.registry.update_rotation(
            self.record.id, status=GRACE, step="grace", reason=reason, grace_until=grace_until
        )
        last = self.record.environments[-1]
        self.publish(
            "secret.rotation_deployed",
            last,
            grace_until=grace_until.isoformat(),
            deployed=[e for e in self.record.environments if self._deployed(e)],
        )

    def _environment(self, environment: str) -> bool:
        """Steps 1-3 in ``environment``; False when the rotation waits for a value."""
        store = self._store(environment)
        values = self._create(environment, store)
        if values.pending is None:
            return False
        rotator = self._rotator(environment)
        current = values.current.value if values.current else None
        pending = values.pending
        for step in ("apply", "test"):
            if self._done(environment, step):
                continue
            row = self._start(environment, step, pending, values.current)
            try:
                if step == "apply":
                    rotator.apply(pending.value, current)
                else:
                    rotator.test(pending.value)
            except Exception as exc:  # a RotatorError, or the provider's own
                reason = _one_line(exc)
                self._end(row, environment, step, STEP_FAILED, reason)
                raise _StepFailed(step, reason) from None
            self._end(row, environment, step, DONE)
        self._deploy(environment, rotator, values)
        return True

    def _create(self, environment: str, store: VersionedSecretStore) -> _Values:
        """The pending version: the one in the store (a resume), else a new one; its
        ``pending`` None when the rotator generates none (manual)."""
        from safeship.secrets.base import CURRENT, PENDING

        name = self.name
        try:
            pending = store.read(name, PENDING)
            current = store.read(name, CURRENT)
            if pending is None and current is None:
                current = self._import_current(environment, store)
        except Exception as exc:
            raise _StepFailed("create", _one_line(exc)) from None
        if pending is not None:
            return _Values(current, pending)
        row = self._start(environment, "create", None, current)
        try:
            value = self._rotator(environment).generate(current.value if current else None)
            if value is None:
                self._end(row, environment, "create", SKIPPED, "waiting for a value")
                return _Values(current, None)
            register_secret(value)
            version = store.put(name, value, cas=store.newest(name))
            store.set_labels(name, {PENDING: version})
            pending = store.read_version(name, version)
        except _StepFailed:
            raise
        except Exception as exc:
            reason = _one_line(exc)
            self._end(row, environment, "create", STEP_FAILED, reason)
            raise _StepFailed("create", reason) from None
        assert pending is not None, "a version just written is there"
        self._end(row, environment, "create", DONE, version=pending)
        return _Values(current, pending)

    def _import_current(
        self, environment: str, store: VersionedSecretStore
    ) -> SecretVersion | None:
        """The first rotation: the value releases use now becomes the current version."""
        from safeship.secrets.base import CURRENT

        value = self._variables(environment).read(self.variable)
        if not value:
            return None  # none yet: the first value is the rotation's
        version = store.put(self.name, value, cas=store.newest(self.name))
        store.set_labels(self.name, {CURRENT: version})
        return store.read_version(self.name, version)

    def _deploy(self, environment: str, rotator: Rotator, values: _Values) -> None:
        """Step 3: the variables, then the deploy (skipped when nothing serves)."""
        from safeship.pipeline.operations import deploy_in_session, open_session
        from safeship.registry.records import DeploymentNotes

        pending, current = values.pending, values.current
        assert pending is not None
        row = self._start(environment, "deploy", pending, current)
        try:
            variables = self._variables(environment)
            variables.write(self.variable, pending.value)
            if rotator.previous_slot and current is not None:
                variables.write(self.variable + PREVIOUS_SUFFIX, current.value)
        except Exception as exc:
            reason = _one_line(exc)
            self._end(row, environment, "deploy", STEP_FAILED, reason)
            raise _StepFailed("deploy", reason) from None
        serving = self.registry.last_succeeded(environment)
        if serving is None:
            detail = "nothing serves here: the new value takes effect at the next deploy"
            self._end(row, environment, "deploy", SKIPPED, detail)
            return
        version = rotated_version(serving.version, self.record.id)
        if serving.version == version:  # a resume: its deploy succeeded already
            self._end(row, environment, "deploy", DONE, deployment_id=serving.id)
            return
        earlier = self._deployment_of(environment, version)
        if earlier is not None and _failed_by_itself(earlier.status, earlier.rollback_rule):
            reason = redact(earlier.rollback_reason or earlier.status)
            self._end(row, environment, "deploy", STEP_FAILED, reason, deployment_id=earlier.id)
            raise _StepFailed("deploy", reason)
        try:
            with open_session(self.loaded, environment, self.event_log) as s:
                strategy = self._warm(s)
                # An open deployment of this version (its safeship died) is recovered inside
                # deploy_in_session's lease before the deploy starts again.
                outcome = deploy_in_session(
                    self.loaded,
                    s,
                    version,
                    commit=serving.commit_sha,
                    triggered_by=self.actor,
                    strategy=strategy,
                    notes=DeploymentNotes(notes=f"secret rotation #{self.record.id}: {self.name}"),
                )
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # refused before it started: busy, a gate, the target
            reason = _one_line(exc)
            self._end(row, environment, "deploy", STEP_FAILED, reason)
            raise _StepFailed("deploy", reason) from None
        if not outcome.ok:
            reason = redact(outcome.reason or outcome.status.value)
            self._end(
                row, environment, "deploy", STEP_FAILED, reason, deployment_id=outcome.deployment_id
            )
            raise _StepFailed("deploy", f"deployment {outcome.deployment_id[:8]} {reason}")
        self._end(row, environment, "deploy", DONE, deployment_id=outcome.deployment_id)

    def _warm(self, s: Session) -> str | None:
        """Blue-green with the old release kept warm ``[secrets] keep_warm`` seconds (this
        session's copy of the environment's settings); None (the environment's own strategy)
        for a target that routes itself."""
        settings = s.env.settings
        if not type(settings.router).splits_traffic:
            return None
        keep_warm = self.loaded.config.secrets.keep_warm
        blue_green = settings.blue_green.model_copy(update={"keep_warm": keep_warm})
        s.env.settings = settings.model_copy(update={"blue_green": blue_green})
        return "blue-green"

    def _deployment_of(self, environment: str, version: str) -> Any:
        from safeship.registry.deployments import HistoryFilter

        found = self.registry.history(environment, limit=1, filters=HistoryFilter(version=version))
        return found[0] if found else None

    def _undo(self, environment: str, failed: _StepFailed) -> None:
        """Step 4: the variables back to the current value, the pending version discarded.
        What cannot be undone (the store or the platform unreachable) is said in the step's
        row, which then ends failed."""
        from safeship.secrets.base import CURRENT, PENDING

        notes: list[str] = [f"{failed.step} failed: {failed.reason}"]
        store = self._store(environment)
        try:
            current = store.read(self.name, CURRENT)
            pending = store.read(self.name, PENDING)
        except Exception as exc:
            row = self._start(environment, "discard", None, None)
            notes.append(f"the store: {_one_line(exc)}")
            self._end(row, environment, "discard", STEP_FAILED, "; ".join(notes))
            return
        row = self._start(environment, "discard", pending, current)
        status = DONE
        try:
            if current is not None and self._started(environment, "deploy"):
                variables = self._variables(environment)
                variables.write(self.variable, current.value)
                if self._rotator(environment).previous_slot:
                    variables.write(self.variable + PREVIOUS_SUFFIX, current.value)
                notes.append("variables back to the current value")
            if pending is not None:
                try:
                    self._rotator(environment).discard(
                        pending.value, current.value if current else None
                    )
                except Exception as exc:  # the provider's: the pending value may stay valid
                    notes.append(f"discard: {_one_line(exc)}")
                store.set_labels(self.name, {PENDING: None})
        except Exception as exc:
            notes.append(_one_line(exc))
            status = STEP_FAILED
        self._end(row, environment, "discard", status, "; ".join(notes))

    def _wait(self, environment: str) -> RotationRecord:
        checklist = self._rotator(environment).checklist()
        self.registry.update_rotation(
            self.record.id, status=WAITING, step=f"{environment}:set", reason=None
        )
        self.registry.release_rotation(self.record.id, self.holder)
        self._notice(environment, "create", WAITING, "; ".join(checklist))
        self.publish("secret.rotation_waiting", environment, checklist=checklist)
        return self._reread()

    # -- set (manual) and finish ---------------------------------------------------------

    def set_value(self, environment: str, value: str) -> RotationRecord:
        """The manual value for ``environment``: stored as its pending version (audit step
        ``set``), then the rotation goes on."""
        from safeship.secrets.base import CURRENT, PENDING

        register_secret(value)
        store = self._store(environment)
        current = store.read(self.name, CURRENT)
        if current is None:
            current = self._import_current(environment, store)
        if current is not None and current.value == value:
            raise RotationRefused(f"{self.name} ({environment}): that is the current value")
        row = self._start(environment, "set", None, current)
        try:
            version = store.put(self.name, value, cas=store.newest(self.name))
            store.set_labels(self.name, {PENDING: version})
        except Exception as exc:
            self._end(row, environment, "set", STEP_FAILED, _one_line(exc))
            raise
        pending = store.read_version(self.name, version)
        self._end(row, environment, "set", DONE, version=pending)
        self.registry.update_rotation(self.record.id, status=RUNNING)
        return self.run()

    def finish(self) -> RotationRecord:
        """Step 5, per environment that deployed: the labels move, the old value is revoked,
        ``<variable>_PREVIOUS`` leaves the releases' variables."""
        from safeship.secrets.base import CURRENT, PENDING, PREVIOUS

        said: list[str] = []
        for environment in self.record.environments:
            if not self._deployed(environment) or self._done(environment, "finish"):
                continue
            self._progress(f"{environment}:finish")
            store = self._store(environment)
            rotator = self._rotator(environment)
            pending = store.read(self.name, PENDING)
            current = store.read(self.name, CURRENT)
            row = self._start(environment, "finish", pending or current, current)
            notes: list[str] = []
            try:
                if pending is not None:  # else a finish cut short moved them already
                    labels: dict[str, int | None] = {CURRENT: pending.version, PENDING: None}
                    labels[PREVIOUS] = current.version if current else None
                    store.set_labels(self.name, labels)
                new = store.read(self.name, CURRENT)
                old = store.read(self.name, PREVIOUS)
                if new is not None and old is not None:
                    rotator.revoke(old.value, new.value)
                if new is not None and rotator.previous_slot:
                    # The env store cannot delete a variable (a target has set_variable only):
                    # NAME_PREVIOUS gets the new value, so nothing still accepts the old one.
                    self._variables(environment).write(self.variable + PREVIOUS_SUFFIX, new.value)
                    notes.append(f"{self.variable}{PREVIOUS_SUFFIX} set to the new value")
                notes += getattr(rotator, "revoke_checklist", [])
            except Exception as exc:
                reason = _one_line(exc)
                self._end(row, environment, "finish", STEP_FAILED, reason)
                self.registry.release_rotation(self.record.id, self.holder)
                raise RotationFailed(f"{self.name} ({environment}) finish: {reason}") from None
            self._end(row, environment, "finish", DONE, "; ".join(notes) or None, version=new)
            said += notes
        self.registry.update_rotation(self.record.id, status=FINISHED, step=None, finished=True)
        record = self._reread()
        self.publish(
            "secret.rotated",
            self.record.environments[-1],
            finished=[e for e in record.environments if self._done(e, "finish", record)],
            todo=said,
        )
        return record

    # -- the record ----------------------------------------------------------------------

    def _steps(
        self, environment: str, step: str, record: RotationRecord | None = None
    ) -> list[RotationStepRecord]:
        found = record or self.record
        return [s for s in found.steps if s.environment == environment and s.step == step]

    def _done(self, environment: str, step: str, record: RotationRecord | None = None) -> bool:
        return any(s.status in (DONE, SKIPPED) for s in self._steps(environment, step, record))

    def _started(self, environment: str, step: str) -> bool:
        return bool(self._steps(environment, step))

    def _deployed(self, environment: str) -> bool:
        """The new value is ``environment``'s (deployed, or set for its next deploy)."""
        return self._done(environment, "deploy") and not self._done(environment, "discard")

    def _failure_reason(self, environment: str) -> str:
        failed = [s for s in self.record.steps if s.environment == environment and s.detail]
        return failed[-1].detail or "failed" if failed else "failed"

    def _start(
        self,
        environment: str,
        step: str,
        version: SecretVersion | None,
        previous: SecretVersion | None,
    ) -> int:
        self.registry.update_rotation(self.record.id, step=f"{environment}:{step}")
        return self.registry.start_rotation_step(
            self.record.id,
            environment,
            step,
            self.actor,
            version=version.version if version else None,
            fingerprint=self._fingerprint(version),
            previous_fingerprint=self._fingerprint(previous),
        )

    def _end(
        self,
        row: int,
        environment: str,
        step: str,
        status: str,
        detail: str | None = None,
        *,
        version: SecretVersion | None = None,
        deployment_id: str | None = None,
    ) -> None:
        text = redact(detail) if detail else None
        self.registry.finish_rotation_step(
            row,
            status,
            detail=text,
            deployment_id=deployment_id,
            version=version.version if version else None,
            fingerprint=self._fingerprint(version),
        )
        self.record = self._reread()
        self._notice(environment, step, status, text)

    def _progress(self, step: str) -> None:
        self.registry.update_rotation(self.record.id, step=step)

    def _reread(self) -> RotationRecord:
        record = self.registry.rotation(self.record.id)
        assert record is not None, "a rotation row is never deleted"
        return record

    def _fingerprint(self, version: SecretVersion | None) -> str | None:
        if version is None:
            return None
        if self._key is None:
            from safeship.envschema.fingerprint import load_key

            self._key = load_key(self.loaded.state_dir)
        return self._key.fingerprint(version.value)

    # -- adapters ------------------------------------------------------------------------

    def _store(self, environment: str) -> VersionedSecretStore:
        from safeship.secrets.base import open_versioned_store

        return open_versioned_store(environment, self.loaded.config.secrets, self.loaded.base_dir)

    def _variables(self, environment: str) -> SecretStore:
        from safeship.pipeline.environment import open_environment
        from safeship.secrets.base import open_secret_store

        return open_secret_store(
            "env", environment, open_environment(self.loaded, environment).target
        )

    def _rotator(self, environment: str) -> Rotator:
        from safeship.rotation.base import open_rotator

        secret = self.settings
        return open_rotator(
            secret.kind, self.name, environment, secret.options(environment), self.loaded.base_dir
        )

    # -- telling -------------------------------------------------------------------------

    def _notice(self, environment: str, step: str, what: str, detail: str | None = None) -> None:
        if self.on_notice is not None:
            self.on_notice(RotationNotice(self.record.id, environment, step, what, detail))

    def publish(self, name: EventName, environment: str, **attributes: Any) -> None:
        """An environment-level event: the rotation's facts, the fingerprints of its
        versions per environment (never a value)."""
        from safeship.pipeline.operations import open_session

        record = self._reread()
        fingerprints: dict[str, dict[str, str]] = {}
        for step in record.steps:
            if step.fingerprint:
                fingerprints.setdefault(step.environment, {})[step.step] = step.fingerprint
        summary = _summary(name, record, attributes)
        with open_session(self.loaded, environment, self.event_log) as s:
            s.bus.publish(
                Event(
                    event=name,
                    environment=environment,
                    triggered_by=self.actor,
                    attributes=redact_attributes(
                        {
                            "summary": summary,
                            "secret": record.secret,
                            "category": record.category,
                            "kind": record.kind,
                            "rotation": record.id,
                            "environments": list(record.environments),
                            "by": self.actor,
                            "fingerprints": fingerprints,
                            **attributes,
                        }
                    ),
                )
            )

    def _now(self) -> datetime:
        return datetime.now(UTC)


def redact_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    from safeship.redaction import redact_data

    result: dict[str, Any] = redact_data(attributes)
    return result


def _summary(name: str, record: RotationRecord, attributes: dict[str, Any]) -> str:
    where = ", ".join(record.environments)
    if name == "secret.rotation_started":
        return f"rotation #{record.id} of {record.secret} started ({where})"
    if name == "secret.rotation_waiting":
        return f"rotation #{record.id} of {record.secret} waits for a value: safeship secrets set"
    if name == "secret.rotation_deployed":
        return (
            f"rotation #{record.id} of {record.secret}: the new value runs in "
            f"{', '.join(attributes.get('deployed', [])) or 'no environment'}; grace until "
            f"{attributes.get('grace_until')}"
        )
    if name == "secret.rotated":
        return f"{record.secret} rotated (#{record.id}): the previous value is revoked"
    return f"rotation #{record.id} of {record.secret} failed: {attributes.get('reason')}"


def _failed_by_itself(status: str, rule: str | None) -> bool:
    """A deployment that ended by its own verdict (failed, or a rule rolled it back), not one
    closed because its safeship stopped (aborted, or rolled back by a recovery)."""
    if status not in TERMINAL_STATUSES or status == "succeeded":
        return False
    return status == "failed" or (
        status == "rolled_back" and rule not in (None, "interrupted", "error")
    )


def _one_line(exc: BaseException) -> str:
    return redact(first_line(exc)) or type(exc).__name__


# -- entry points (the core calls these) ---------------------------------------------------


def start(
    loaded: LoadedConfig,
    registry: Registry,
    name: str,
    *,
    environments: Sequence[str] | None,
    resume: bool,
    actor: str,
    on_notice: OnNotice | None = None,
    event_log: TextIO | None = None,
) -> RotationRecord:
    """Rotate ``name`` (or, ``resume``, go on with its open rotation)."""
    secret = secret_settings(loaded, name)
    holder = this_holder()
    found = registry.open_rotation(name)
    if found is not None and not resume:
        if found.status == RUNNING and found.holder and not holder_is_dead(found.holder):
            raise RotationBusy(found)
        raise RotationRefused(_why_open(found))
    if found is None and resume:
        raise RotationRefused(f"{name} has no open rotation to resume")
    if found is not None:
        if found.status == GRACE:
            raise RotationRefused(_why_open(found))
        claimed = registry.claim_rotation(found.id, holder=holder, holder_is_dead=holder_is_dead)
        registry.update_rotation(claimed.id, status=RUNNING)
        return RotationRun(loaded, registry, claimed, actor, on_notice, event_log, holder).run()
    order = list(environments or environments_of(loaded, name))
    for environment in order:
        loaded.environment(environment)  # an unknown one: the config's error
    rotation_id = registry.start_rotation(name, secret.kind, secret.category, order, actor, holder)
    record = registry.rotation(rotation_id)
    assert record is not None
    protocol = RotationRun(loaded, registry, record, actor, on_notice, event_log, holder)
    protocol.publish("secret.rotation_started", order[0])
    return protocol.run()


def _why_open(found: RotationRecord) -> str:
    what = f"{found.secret} has an open rotation (#{found.id}, {found.status}"
    if found.status == WAITING:
        where = (found.step or ":").split(":")[0]
        return (
            f"{what}): it waits for a value: safeship secrets set {found.secret} "
            f"--environment {where}"
        )
    if found.status == GRACE:
        until = found.grace_until
        when = f" until {until:%Y-%m-%d %H:%M:%S} UTC" if until else ""
        return f"{what}, in its grace period{when}): safeship secrets finish {found.secret}"
    holder = f"{found.holder}" if found.holder else "no process"
    return f"{what}, run by {holder}): safeship secrets rotate {found.secret} --resume"


def set_value(
    loaded: LoadedConfig,
    registry: Registry,
    name: str,
    environment: str,
    value: str,
    *,
    actor: str,
    on_notice: OnNotice | None = None,
    event_log: TextIO | None = None,
) -> RotationRecord:
    """The manual value of ``name`` for ``environment`` (its rotation waits there)."""
    register_secret(value)
    secret_settings(loaded, name)
    found = registry.open_rotation(name)
    waiting_in = (found.step or ":").split(":")[0] if found else None
    if found is None or found.status != WAITING or waiting_in != environment:
        where = f" (it waits in {waiting_in})" if found and found.status == WAITING else ""
        raise RotationRefused(
            f"{name} has no rotation waiting for a value in {environment}{where}: "
            f"safeship secrets rotate {name} first"
        )
    record = registry.claim_rotation(found.id, holder=this_holder(), holder_is_dead=holder_is_dead)
    protocol = RotationRun(loaded, registry, record, actor, on_notice, event_log)
    try:
        return protocol.set_value(environment, value)
    except RotationRefused:
        registry.release_rotation(record.id, protocol.holder)
        raise


def finish(
    loaded: LoadedConfig,
    registry: Registry,
    name: str,
    *,
    force: bool,
    actor: str,
    on_notice: OnNotice | None = None,
    event_log: TextIO | None = None,
) -> RotationRecord:
    """The finish step of ``name``'s rotation in its grace period (before grace_until only
    with ``force``)."""
    secret_settings(loaded, name)
    found = registry.open_rotation(name)
    if found is None or found.status != GRACE:
        state = f" (#{found.id} is {found.status})" if found else ""
        raise RotationRefused(f"{name} has no rotation in its grace period to finish{state}")
    until = found.grace_until
    if until is not None and until > datetime.now(UTC) and not force:
        raise RotationRefused(
            f"{name}'s grace period runs until {until:%Y-%m-%d %H:%M:%S} UTC (rotation "
            f"#{found.id}): --force finishes it now"
        )
    record = registry.claim_rotation(found.id, holder=this_holder(), holder_is_dead=holder_is_dead)
    return RotationRun(loaded, registry, record, actor, on_notice, event_log).finish()


def due_for_finish(registry: Registry, now: datetime | None = None) -> list[RotationRecord]:
    """Rotations in their grace period whose grace_until has passed."""
    moment = now or datetime.now(UTC)
    return [
        r
        for r in registry.rotations(statuses=(GRACE,), limit=1000)
        if r.grace_until is not None and r.grace_until <= moment
    ]
