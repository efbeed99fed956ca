"""The ``console`` channel: each notification as one JSON line, to a file or to stderr.

[notify.console]
file = ".safeship/alerts.jsonl"    # optional (relative: to the working directory); stderr without

Good for tests, demos and log shippers: the line is the whole message (its alerts, each with
its outbox id, which a reader dedups on). The file is private (0600): an alert names versions,
commits and reasons.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar, TextIO

from safeship._files import open_private_text
from safeship.notify.base import EVERYTHING, DeliveryError, Notification, RouteDefaults


class ConsoleNotifier:
    min_interval: ClassVar[float] = 0.0
    default_route: ClassVar[RouteDefaults] = EVERYTHING

    @classmethod
    def configured(cls, settings: Any, errors: TextIO | None = None) -> ConsoleNotifier | None:
        table = settings if isinstance(settings, dict) else {}
        file = table.get("file")
        if file is not None and (not isinstance(file, str) or not file):
            print(
                "safeship: warning: [notify.console] file must be a path; alerts go to stderr",
                file=errors or sys.stderr,
            )
            file = None
        return cls(Path(file) if file else None)

    def __init__(self, file: Path | None = None, stream: TextIO | None = None) -> None:
        self.file = file
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        from safeship.alerts.codec import notification_json

        line = json.dumps(notification_json(notification), sort_keys=False) + "\n"
        try:
            with self._lock:
                if self.file is None:
                    stream = self._stream or sys.stderr
                    stream.write(line)
                    stream.flush()
                else:
                    with open_private_text(self.file) as out:
                        out.write(line)
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.file or 'stderr'}: {exc.strerror}") from None

    def close(self) -> None:
        pass
