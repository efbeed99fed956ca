"""The sign-in rate limit: after MAX_FAILURES failures in WINDOW for one user name, or from one
client address, sign-in is refused until the oldest of them is WINDOW old."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

MAX_FAILURES: Final = 5
WINDOW: Final = timedelta(minutes=5)


def retry_after(failures: Sequence[datetime], now: datetime) -> int | None:
    """Seconds until a sign-in may be tried again (None: it may now). ``failures``: the times
    within the window, oldest first."""
    recent = [at for at in failures if at > now - WINDOW]
    if len(recent) < MAX_FAILURES:
        return None
    # The failure whose leaving the window brings the count under the limit.
    frees_at = recent[len(recent) - MAX_FAILURES] + WINDOW
    return max(1, math.ceil((frees_at - now).total_seconds()))
