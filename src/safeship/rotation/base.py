"""The Rotator port: what a kind of secret needs done at its provider for a rotation.

A rotation is the protocol's four steps (``safeship.rotation.protocol``); the rotator supplies
the provider's part of each, and every method is idempotent, since a rotation resumed after a
crash repeats the step it was in:

- ``generate``: a new value (a password, a key). Pure where it can be (random, postgresql,
  redis): nothing changes at the provider until ``apply``, so a crash in between leaves nothing
  behind. The command rotator's provider creates the credential here (documented there); the
  manual one returns None: the value comes from `safeship secrets set`.
- ``apply``: make the pending value valid at the provider *alongside* the current one (a second
  login role, a second ACL password): the serving release's credential never stops working.
- ``test``: the pending value works (a login, a PING); RotatorError says why not.
- ``revoke``: the finish step: the previous value is refused from now on.
- ``discard``: a rotation abandoned (a failed test, a rolled-back deploy): the pending value is
  refused, the current one untouched.

Constructor contract (the ``safeship.rotators`` entry point): ``cls(secret: str, environment:
str, options: Mapping[str, Any], base_dir: Path)``: the secret's name, the environment, the
rotator's own keys of ``[secrets.rotate.NAME]`` with the environment's overrides (already
validated with the class's ``Options`` model), and safeship.toml's directory. Constructing one
does no I/O. No message of a RotatorError contains a value (the values are registered with
safeship.redaction by the protocol before any rotator sees them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from safeship.settings_model import SettingsModel


class RotatorError(Exception):
    """A rotator's step failed; the message is one line, never a value."""


class Rotator(Protocol):
    # The rotator's own keys in [secrets.rotate.NAME] (unknown keys are config errors).
    Options: ClassVar[type[SettingsModel]]
    # Whether releases also get the previous value in NAME_PREVIOUS while both are valid (a
    # signing key: tokens signed with the old key still verify during the overlap).
    previous_slot: bool

    def generate(self, current: str | None) -> str | None:
        """A new value; None: it comes from `safeship secrets set` (manual)."""
        ...

    def apply(self, pending: str, current: str | None) -> None:
        """Make ``pending`` valid at the provider beside ``current``."""
        ...

    def test(self, value: str) -> None:
        """Raise RotatorError unless ``value`` works at the provider now."""
        ...

    def revoke(self, previous: str, current: str) -> None:
        """Make ``previous`` refused; ``current`` keeps working."""
        ...

    def discard(self, pending: str, current: str | None) -> None:
        """Make ``pending`` refused; ``current`` keeps working."""
        ...

    def checklist(self) -> list[str]:
        """What a person must do for this rotation (manual kinds); [] for automatic ones."""
        ...


def rotator_class(kind: str) -> type[Rotator]:
    from safeship.plugins import ROTATORS, load_adapter

    cls: type[Rotator] = load_adapter(ROTATORS, kind)
    return cls


def validate_options(kind: str, options: Mapping[str, Any]) -> SettingsModel:
    """The rotator's ``Options`` model of ``options`` (pydantic's ValidationError if wrong)."""
    return rotator_class(kind).Options.model_validate(dict(options))


def open_rotator(
    kind: str, secret: str, environment: str, options: Mapping[str, Any], base_dir: Path
) -> Rotator:
    cls: Any = rotator_class(kind)  # the constructor is the entry point's contract, not Rotator's
    rotator: Rotator = cls(secret, environment, options, base_dir)
    return rotator
