"""A notifier that appends each event to a file, one JSON object a line.

[notify.example]
file = "/var/log/safeship-events.log"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from safeship.events import Event


class ExampleNotifier:
    @classmethod
    def configured(
        cls, settings: dict[str, Any], errors: TextIO | None = None
    ) -> ExampleNotifier | None:
        file = settings.get("file")
        if not isinstance(file, str) or not file:
            print(
                "safeship: warning: [notify.example] has no file; no notes",
                file=errors or sys.stderr,
            )
            return None
        return cls(Path(file))

    def __init__(self, file: Path) -> None:
        self.file = file

    def handle(self, event: Event) -> None:  # fast enough to do here; a slow call would queue
        with self.file.open("a", encoding="utf-8") as out:
            out.write(event.model_dump_json(include={"event", "version", "attributes"}) + "\n")

    def close(self, timeout: float = 10.0) -> None:
        pass
