"""The base of ``Registry``'s repository mixins: what each uses of the facade."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from safeship.registry.sql import Tx


class Repository:
    """A repository mixin's view of ``Registry``: its read and write transactions (named by
    the action, for the error message) and its clock."""

    _reading: Callable[[str], AbstractContextManager[Tx]]
    _writing: Callable[[str], AbstractContextManager[Tx]]

    def _now(self) -> datetime:  # RecordsBase's: the registry's clock
        raise NotImplementedError
