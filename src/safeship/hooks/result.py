"""The outcome of one check of the gate."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "skipped", "info"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    # Passed/skipped: why, in one line. Failed: each reason. Info: the summary lines.
    lines: tuple[str, ...] = field(default=())

    @property
    def blocks(self) -> bool:
        return self.status == "failed"

    def as_json(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "lines": list(self.lines)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(str(data["check"]), data["status"], tuple(str(x) for x in data["lines"]))


def matches(path: str, patterns: list[str]) -> bool:
    """Whether a repository path matches a glob: ``**`` spans directories, ``*`` does not; a
    pattern without ``/`` matches the file name in any directory (``conftest.py``, ``*.lock``)."""
    name = path.rsplit("/", 1)[-1]
    return any(_glob(pattern).fullmatch(path if "/" in pattern else name) for pattern in patterns)


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
