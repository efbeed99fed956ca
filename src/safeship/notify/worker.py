"""One background thread per notifier: the deploy only queues, the thread talks to the service.

A slow or failing service (GitHub, Slack) must never delay or fail a deploy or a rollback, so
every call runs here, in order. A job that raises is one warning line (``warn``) and the jobs
after it still run; ``close`` waits a bounded time for the queue to drain.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

Job = Callable[[], None]


class Worker:
    def __init__(self, name: str, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._queue: queue.Queue[tuple[str, Job] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, what: str, job: Job) -> None:
        """Queue ``job``; ``what`` names it in the warning if it fails."""
        self._queue.put((what, job))

    def close(self, timeout: float) -> bool:
        """Run what is queued, waiting at most ``timeout`` seconds; whether it all ran."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._warn(f"gave up waiting after {timeout:g} s; the last ones were not sent")
            return False
        return True

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            what, job = item
            try:
                job()
            except Exception as exc:  # one bad call must not stop the ones that follow
                self._warn(f"{what} not reported: {exc}")
