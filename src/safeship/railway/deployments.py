"""A Railway deployment and what its status means to safeship."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safeship.targets.base import TargetError

# Railway's deployment statuses, by what they mean for a deploy that follows one: still
# going, ended badly (the client quotes the logs), removed or never run, and serving.
IN_PROGRESS = frozenset(
    {"BUILDING", "DEPLOYING", "INITIALIZING", "QUEUED", "WAITING", "NEEDS_APPROVAL"}
)
FAILED = frozenset({"FAILED", "CRASHED"})
GONE = frozenset({"REMOVED", "REMOVING", "SKIPPED"})
UP = frozenset({"SUCCESS", "SLEEPING"})


@dataclass(frozen=True)
class Deployment:
    """One deployment of the service as Railway lists it; ``static_url`` is its Railway
    domain over https (None without one)."""

    id: str
    status: str
    created_at: str = ""
    static_url: str | None = None


def deployment_from_node(node: Any) -> Deployment:
    """A deployment from the API's JSON node; TargetError (one line) when it has no id."""
    if not isinstance(node, dict) or not isinstance(node.get("id"), str):
        raise TargetError("railway: malformed answer: a deployment without an id")
    url = node.get("staticUrl")
    return Deployment(
        id=node["id"],
        status=str(node.get("status", "")),
        created_at=str(node.get("createdAt") or ""),
        static_url=f"https://{url}" if isinstance(url, str) and url else None,
    )
