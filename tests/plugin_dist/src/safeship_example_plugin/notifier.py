"""An alert channel that appends each alert to a file, one JSON object a line.

[notify.example]
file = "/var/log/safeship-alerts.log"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar, TextIO

from safeship.notify.base import EVERYTHING, DeliveryError, Notification, RouteDefaults


class ExampleNotifier:
    min_interval: ClassVar[float] = 0.0  # a file takes any rate
    default_route: ClassVar[RouteDefaults] = EVERYTHING  # every alert, unless routed

    @classmethod
    def configured(
        cls, settings: dict[str, Any], errors: TextIO | None = None
    ) -> ExampleNotifier | None:
        file = settings.get("file")
        if not isinstance(file, str) or not file:
            print(
                "safeship: warning: [notify.example] has no file; no alerts",
                file=errors or sys.stderr,
            )
            return None
        return cls(Path(file))

    def __init__(self, file: Path) -> None:
        self.file = file

    def send(self, notification: Notification) -> None:  # one attempt; the core retries
        lines = [
            json.dumps({"id": a.id, "condition": a.condition, "version": a.version,
                        "state": a.state, "summary": a.summary})
            for a in notification.alerts
        ]  # fmt: skip
        try:
            with self.file.open("a", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in lines))
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.file}: {exc.strerror}") from None

    def close(self) -> None:
        pass
