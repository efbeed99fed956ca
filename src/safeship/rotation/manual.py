"""The manual rotator: secrets only a person can make (external API keys, OAuth clients).

safeship cannot create the value: ``generate`` returns None, the rotation waits (the event
``secret.rotation_waiting`` carries the ``checklist``), and ``safeship secrets set NAME
--environment ENV`` supplies the value (stdin or a prompt without echo); the protocol then goes
on as for any other kind. apply, test, revoke and discard have nothing to do here: the person
did the provider's part. A ``revoke_checklist`` (what to do at the provider once the old value
is no longer needed) is said by the finish step::

    [secrets.rotate.STRIPE_KEY]
    kind = "manual"
    category = "api"
    checklist = ["Create a restricted key in the Stripe dashboard", "Copy it"]
    revoke_checklist = ["Roll the old key in the Stripe dashboard"]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from safeship.settings_model import SettingsModel

_ITEM = Annotated[str, Field(min_length=1, max_length=500)]


class ManualOptions(SettingsModel):
    # What the person does to make the new value (shown while the rotation waits).
    checklist: Annotated[list[_ITEM], Field(max_length=50)] = Field(default_factory=list)
    # What the person does at the provider when the old value is retired (the finish step).
    revoke_checklist: Annotated[list[_ITEM], Field(max_length=50)] = Field(default_factory=list)
    # Whether releases also get the old value in NAME_PREVIOUS during the grace period.
    previous_slot: bool = False


class ManualRotator:
    Options: ClassVar[type[SettingsModel]] = ManualOptions

    def __init__(
        self, secret: str, environment: str, options: Mapping[str, Any], base_dir: Path
    ) -> None:
        self.secret = secret
        self.environment = environment
        self.options = ManualOptions.model_validate(dict(options))
        self.previous_slot = self.options.previous_slot
        self.revoke_checklist = list(self.options.revoke_checklist)

    def generate(self, current: str | None) -> None:
        return None  # the value comes from `safeship secrets set`

    def apply(self, pending: str, current: str | None) -> None:
        return None  # the person made it valid at the provider before setting it

    def test(self, value: str) -> None:
        return None  # nothing to test it against: the deploy's health checks are the test

    def revoke(self, previous: str, current: str) -> None:
        return None  # the revoke_checklist is the person's to do (the finish step says it)

    def discard(self, pending: str, current: str | None) -> None:
        return None

    def checklist(self) -> list[str]:
        default = [
            f"Create a new value for {self.secret} ({self.environment}) at its provider",
            f"safeship secrets set {self.secret} --environment {self.environment}",
        ]
        return [*self.options.checklist, default[1]] if self.options.checklist else default
