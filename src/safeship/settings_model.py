"""The one base of every safeship.toml model: unknown keys are errors, settings are values.

Each adapter package keeps its own models in its ``settings.py`` on this base; the config
package gathers them into ``SafeshipConfig``. Kept below every adapter package (and free of
``safeship.config``, which imports the adapters' settings) so any of them can build on it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SettingsModel(BaseModel):
    """A table of safeship.toml: a typo is an error (``extra="forbid"``), and a loaded config
    is never changed in place (``frozen``).

    ``defer_build``: a model's validator is built when it is first used, not at import. The
    config is validated from the top (``SafeshipConfig``), which builds its tables' schemas
    once, inside its own; building each table's validator at import as well cost every
    command (``safeship status`` included) some 0.1 s of start-up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
