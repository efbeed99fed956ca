"""How the builtin router picks a release: weighted round-robin, and sticky sessions."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from safeship.routing.base import STICKY_MODES, Backend, check_token


class WeightedRoundRobin:
    """Smooth weighted round-robin, as nginx does it.

    Each pick adds every backend's weight to its running score, takes the highest score
    (first in list order on a tie) and subtracts the total weight from it. Picks are
    deterministic, interleaved (5/1/1 gives a a b a c a a), and every run of sum(weights)
    picks from a fresh state matches the weights exactly. Weight-0 backends are never picked.
    """

    def __init__(self, backends: Sequence[Backend]) -> None:
        self._backends = [b for b in backends if b.weight > 0]
        self._scores = [0] * len(self._backends)

    def next(self, exclude: Collection[str] = ()) -> Backend | None:
        """The next backend, skipping names in ``exclude``; None if none is eligible."""
        if len(self._backends) == 1 and not exclude:
            return self._backends[0]  # the common case between deploys: one release at 100
        best: int | None = None
        total = 0
        for i, backend in enumerate(self._backends):
            if backend.name in exclude:
                continue
            self._scores[i] += backend.weight
            total += backend.weight
            if best is None or self._scores[i] > self._scores[best]:
                best = i
        if best is None:
            return None
        self._scores[best] -= total
        return self._backends[best]


def hash_bucket(key: str) -> int:
    """``key``'s bucket in [0, 100): the same in every process and run (unlike ``hash``)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    # 2**64 is not a multiple of 100, but the skew is below 1e-17.
    return int.from_bytes(digest, "big") % 100


class HashSplit:
    """Maps a key (a user) to a backend by its bucket against the cumulative weights.

    With weights 90/10 in list order, buckets 0-89 go to the first backend and 90-99 to the
    second; at 50/50 the second has 50-99, so every key it had at 10 is still its own.
    """

    def __init__(self, backends: Sequence[Backend]) -> None:
        self._backends = [b for b in backends if b.weight > 0]
        self._uppers: list[int] = []
        upper = 0
        for backend in self._backends:
            upper += backend.weight
            self._uppers.append(upper)

    def pick(self, key: str) -> Backend | None:
        if not self._backends:
            return None
        # Weights sum to 100, so every bucket is below the last upper bound.
        return self._backends[bisect_right(self._uppers, hash_bucket(key))]


@dataclass(frozen=True)
class Sticky:
    """How requests of one user stay on one release; the JSON keys are the settings' names."""

    mode: str = "off"
    name: str = "safeship_release"

    def __post_init__(self) -> None:
        if self.mode not in STICKY_MODES:
            raise ValueError(f"sticky must be one of {', '.join(STICKY_MODES)}")
        check_token(self.name)

    @classmethod
    def from_json(cls, data: object) -> Sticky:
        """Validate ``{"sticky": MODE, "sticky_name": NAME}``; ValueError with one line."""
        if not isinstance(data, dict):
            raise ValueError('expected an object {"sticky": ..., "sticky_name": ...}')
        mode, name = data.get("sticky"), data.get("sticky_name")
        if not isinstance(mode, str) or not isinstance(name, str):
            raise ValueError("sticky and sticky_name must be strings")
        try:
            return cls(mode, name)
        except ValueError as exc:
            raise ValueError(f"sticky_name {exc}" if mode in STICKY_MODES else str(exc)) from None

    def to_json(self) -> dict[str, str]:
        return {"sticky": self.mode, "sticky_name": self.name}
