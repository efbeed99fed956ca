"""The random rotator: application secrets (JWT signing keys, session keys) that safeship makes
itself. Nothing exists at a provider, so apply, revoke and discard have nothing to do; with
``previous_slot`` (the default) releases get the old value in NAME_PREVIOUS during the overlap,
so a token signed with the old key still verifies until the finish step."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from safeship.rotation.base import RotatorError
from safeship.settings_model import SettingsModel

ALPHABETS = {
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "printable": string.ascii_letters + string.digits + "!#%*+,-./:;=?@^_~",
}


class RandomOptions(SettingsModel):
    # Characters of the new value (at least 16: the shortest that is still a key).
    length: Annotated[int, Field(ge=16, le=4096)] = 64
    alphabet: Literal["alphanumeric", "hex", "urlsafe", "printable"] = "urlsafe"
    previous_slot: bool = True


class RandomRotator:
    Options: ClassVar[type[SettingsModel]] = RandomOptions

    def __init__(
        self, secret: str, environment: str, options: Mapping[str, Any], base_dir: Path
    ) -> None:
        self.secret = secret
        self.environment = environment
        self.options = RandomOptions.model_validate(dict(options))
        self.previous_slot = self.options.previous_slot

    def generate(self, current: str | None) -> str:
        alphabet = ALPHABETS[self.options.alphabet]
        while True:
            value = "".join(secrets.choice(alphabet) for _ in range(self.options.length))
            if value != current:
                return value

    def apply(self, pending: str, current: str | None) -> None:
        return None  # nothing exists anywhere but in the store and the releases

    def test(self, value: str) -> None:
        alphabet = set(ALPHABETS[self.options.alphabet])
        if len(value) < self.options.length or not set(value) <= alphabet:
            raise RotatorError(
                f"{self.secret} ({self.environment}): the value is not {self.options.length} "
                f"characters of the {self.options.alphabet} alphabet"
            )

    def revoke(self, previous: str, current: str) -> None:
        return None  # the finish step drops NAME_PREVIOUS from the releases' variables

    def discard(self, pending: str, current: str | None) -> None:
        return None

    def checklist(self) -> list[str]:
        return []
