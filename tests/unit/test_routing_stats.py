"""BackendStats arithmetic, the proxy's counters and the smooth weighted round-robin."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections import Counter

import pytest

from safeship.routing.base import (
    LATENCY_BUCKETS_MS,
    Backend,
    BackendStats,
    latency_bucket_bounds,
    sparse_latency_buckets,
)
from safeship.routing.proxy import (
    Counters,
    HashSplit,
    Sticky,
    WeightedRoundRobin,
    hash_bucket,
    parse_backends,
)

N_BUCKETS = len(LATENCY_BUCKETS_MS) + 1


def buckets(**at: int) -> tuple[int, ...]:
    """A histogram with counts at bucket indexes given as b0=..., b11=..."""
    counts = [0] * N_BUCKETS
    for key, n in at.items():
        counts[int(key[1:])] = n
    return tuple(counts)


def backend(name: str, weight: int) -> Backend:
    return Backend(name=name, url="http://127.0.0.1:9000", weight=weight)


# -- BackendStats ---------------------------------------------------------------------------


def test_minus_gives_the_window_between_two_snapshots() -> None:
    earlier = BackendStats(
        requests=10,
        responses_5xx=1,
        connect_errors=2,
        status_classes={"2xx": 7, "5xx": 1},
        latency_buckets=buckets(b0=5, b3=3),
        latency_sum_ms=40.0,
    )
    later = BackendStats(
        requests=25,
        responses_5xx=4,
        connect_errors=2,
        status_classes={"2xx": 15, "5xx": 4, "4xx": 2},
        latency_buckets=buckets(b0=9, b3=8, b11=4),
        latency_sum_ms=100.5,
    )
    window = later.minus(earlier)
    assert window.requests == 15
    assert window.responses_5xx == 3
    assert window.connect_errors == 0
    assert dict(window.status_classes) == {"2xx": 8, "5xx": 3, "4xx": 2}
    assert window.latency_buckets == buckets(b0=4, b3=5, b11=4)
    assert window.latency_sum_ms == pytest.approx(60.5)
    assert window.error_rate == pytest.approx(3 / 15)


def test_minus_of_a_snapshot_and_itself_is_empty() -> None:
    s = BackendStats(requests=3, responses_5xx=1, latency_buckets=buckets(b2=3))
    window = s.minus(s)
    assert window.requests == 0
    assert sum(window.latency_buckets) == 0
    assert window.error_rate == 0.0
    assert window.latency_quantile_ms(0.5) is None


def test_error_rate_counts_5xx_and_connect_errors() -> None:
    assert BackendStats().error_rate == 0.0
    s = BackendStats(requests=20, responses_5xx=3, connect_errors=2)
    assert s.errors == 5
    assert s.error_rate == pytest.approx(0.25)


def at(ms: float) -> int:
    """The index of the bucket a router counts a response of ``ms`` in."""
    return bisect_left(LATENCY_BUCKETS_MS, ms)


def test_latency_quantile_is_linear_within_the_bucket_holding_it() -> None:
    assert BackendStats().latency_quantile_ms(0.5) is None
    # 90 samples in the bucket holding 5 ms, 9 in the one holding 100 ms, 1 in the open one.
    counts = [0] * N_BUCKETS
    counts[at(5)], counts[at(100)], counts[-1] = 90, 9, 1
    s = BackendStats(requests=100, latency_buckets=tuple(counts))
    lo5, hi5 = latency_bucket_bounds(at(5))
    lo100, hi100 = latency_bucket_bounds(at(100))
    assert s.latency_quantile_ms(0.45) == pytest.approx(lo5 + (hi5 - lo5) * 0.5)
    assert s.latency_quantile_ms(0.9) == pytest.approx(hi5)
    assert s.latency_quantile_ms(0.95) == pytest.approx(lo100 + (hi100 - lo100) * 5 / 9)
    assert s.latency_quantile_ms(1.0) == math.inf


def test_latency_buckets_are_at_most_5_percent_wide_from_0_1_ms_to_120_s() -> None:
    bounds = LATENCY_BUCKETS_MS
    assert bounds[0] <= 0.101 and bounds[-1] >= 120_000
    assert all(b > a for a, b in itertools.pairwise(bounds))
    assert max(b / a for a, b in itertools.pairwise(bounds)) <= 1.05
    # Cheap to carry: a few hundred counters per release.
    assert len(bounds) + 1 <= 400


@pytest.mark.parametrize("ms", [0.37, 1.0, 3.3, 8.6, 13.9, 47.0, 999.0, 65_432.0])
def test_a_latency_read_back_from_its_bucket_is_within_5_percent(ms: float) -> None:
    counts = [0] * N_BUCKETS
    counts[at(ms)] = 1
    s = BackendStats(requests=1, latency_buckets=tuple(counts))
    for q in (0.0, 0.5, 1.0):
        value = s.latency_quantile_ms(q)
        assert value is not None and abs(value - ms) <= 0.05 * ms


def test_stats_json_reads_the_full_list_and_the_sparse_form() -> None:
    counts = [0] * N_BUCKETS
    counts[at(9.0)], counts[at(14.0)], counts[-1] = 3, 2, 1
    full = {
        "requests": 6,
        "responses_5xx": 0,
        "connect_errors": 0,
        "status_classes": {"2xx": 6},
        "latency_buckets": counts,
        "latency_sum_ms": 1.0,
    }
    sparse = {**full, "latency_buckets": sparse_latency_buckets(counts)}
    assert len(sparse["latency_buckets"]) == 3
    assert BackendStats.from_json(full) == BackendStats.from_json(sparse)
    assert BackendStats.from_json(sparse).latency_buckets == tuple(counts)
    with pytest.raises(ValueError, match="counters"):
        BackendStats.from_json({**full, "latency_buckets": [1, 2, 3]})


# -- the proxy's counters -------------------------------------------------------------------


def test_counters_bucket_latencies_by_inclusive_upper_bound() -> None:
    c = Counters()
    exact = LATENCY_BUCKETS_MS[100]  # a bound itself belongs to the bucket it ends
    for ms in (0.05, exact, exact * 1.001, 10000.0, 200000.0):
        c.record_response(200, ms)
    c.record_response(503, 30.0)
    c.record_response(404, 1.0)
    c.record_connect_error()
    stats = BackendStats.from_json(c.to_json())
    expected = [0] * N_BUCKETS
    for index in (0, 100, 101, at(10000.0), N_BUCKETS - 1, at(30.0), at(1.0)):
        expected[index] += 1
    assert stats.latency_buckets == tuple(expected)
    assert stats.latency_sum_ms == pytest.approx(
        0.05 + exact + exact * 1.001 + 10000.0 + 200000.0 + 30.0 + 1.0
    )
    assert stats.requests == 8
    assert stats.responses_5xx == 1
    assert stats.connect_errors == 1
    assert dict(stats.status_classes) == {"2xx": 5, "5xx": 1, "4xx": 1}
    assert stats.error_rate == pytest.approx(2 / 8)


# -- smooth weighted round-robin ------------------------------------------------------------


def picks(rr: WeightedRoundRobin, n: int) -> list[str]:
    names = []
    for _ in range(n):
        b = rr.next()
        assert b is not None
        names.append(b.name)
    return names


def test_swrr_matches_nginx_sequence() -> None:
    rr = WeightedRoundRobin([backend("a", 5), backend("b", 1), backend("c", 1)])
    assert "".join(picks(rr, 14)) == "aabacaa" * 2


def test_swrr_splits_exactly_and_spreads_the_small_share() -> None:
    rr = WeightedRoundRobin([backend("stable", 90), backend("canary", 10)])
    seq = picks(rr, 300)
    for start in range(0, 300, 100):
        assert Counter(seq[start : start + 100]) == {"stable": 90, "canary": 10}
    # Interleaved, not bunched: one canary in every 10 requests.
    for start in range(0, 100, 10):
        assert seq[start : start + 10].count("canary") == 1


def test_swrr_skips_zero_weights_and_handles_empty() -> None:
    rr = WeightedRoundRobin([backend("old", 0), backend("new", 100)])
    assert set(picks(rr, 20)) == {"new"}
    assert WeightedRoundRobin([]).next() is None
    assert WeightedRoundRobin([backend("off", 0)]).next() is None


def test_swrr_exclude_picks_another_backend() -> None:
    rr = WeightedRoundRobin([backend("a", 50), backend("b", 30), backend("c", 20)])
    for _ in range(10):
        b = rr.next(exclude={"a"})
        assert b is not None
        assert b.name in {"b", "c"}
    assert rr.next(exclude={"a", "b", "c"}) is None


# -- sticky sessions -------------------------------------------------------------------------

USERS = [f"user-{i}" for i in range(2000)]


def split(backends: list[Backend]) -> dict[str, str]:
    table = HashSplit(backends)
    found = {}
    for user in USERS:
        picked = table.pick(user)
        assert picked is not None
        found[user] = picked.name
    return found


def test_hash_bucket_is_stable_and_spread() -> None:
    # Fixed values: a user must land in the same bucket in every router process and version
    # (Python's own hash() differs between processes).
    assert [hash_bucket(k) for k in ("user-1", "user-2", "")] == [68, 64, 76]
    counts = Counter(hash_bucket(u) for u in USERS)
    assert set(counts) <= set(range(100))
    assert len(counts) == 100  # every bucket is used
    assert max(counts.values()) < 60  # about 20 each
    assert hash_bucket("\udcff") in range(100)  # a header's undecodable byte does not raise


@pytest.mark.parametrize("canary_first", [True, False])
def test_hash_split_keeps_canary_users_as_the_canary_grows(canary_first: bool) -> None:
    def weights(canary: int) -> list[Backend]:
        pair = [backend("canary", canary), backend("stable", 100 - canary)]
        return pair if canary_first else pair[::-1]

    previous: set[str] = set()
    for step in (1, 10, 25, 50, 90, 99):
        on_canary = {u for u, name in split(weights(step)).items() if name == "canary"}
        assert previous <= on_canary, step
        assert abs(len(on_canary) / len(USERS) - step / 100) < 0.04, step
        previous = on_canary


def test_hash_split_skips_zero_weights_and_handles_empty() -> None:
    assert set(split([backend("old", 0), backend("new", 100)]).values()) == {"new"}
    assert HashSplit([]).pick("user-1") is None
    three = Counter(split([backend("a", 20), backend("b", 30), backend("c", 50)]).values())
    assert set(three) == {"a", "b", "c"}
    assert abs(three["c"] / len(USERS) - 0.5) < 0.04


def test_sticky_validation() -> None:
    assert Sticky.from_json({"sticky": "header", "sticky_name": "X-User-Id"}) == Sticky(
        "header", "X-User-Id"
    )
    assert Sticky().to_json() == {"sticky": "off", "sticky_name": "safeship_release"}
    with pytest.raises(ValueError, match="sticky must be one of off, cookie, header"):
        Sticky.from_json({"sticky": "ip", "sticky_name": "x"})
    with pytest.raises(ValueError, match=r"^sticky_name must be 1-128"):
        Sticky.from_json({"sticky": "cookie", "sticky_name": "a;b"})
    with pytest.raises(ValueError, match="strings"):
        Sticky.from_json({"sticky": "cookie"})
    with pytest.raises(ValueError, match="object"):
        Sticky.from_json(["cookie"])


# -- validation of PUT /admin/backends ------------------------------------------------------


def entry(name: str, weight: object, url: str = "http://127.0.0.1:9001") -> dict[str, object]:
    return {"name": name, "url": url, "weight": weight}


def test_parse_backends_accepts_valid_and_empty() -> None:
    data = {
        "backends": [entry("v1", 90), entry("v2", 10, "http://localhost:9002/")],
    }
    assert parse_backends(data) == [
        Backend("v1", "http://127.0.0.1:9001", 90),
        Backend("v2", "http://localhost:9002/", 10),
    ]
    assert parse_backends({"backends": []}) == []


@pytest.mark.parametrize(
    ("backends", "message"),
    [
        ([entry("a", 90)], "sum to 100"),
        ([entry("a", 50), entry("a", 50)], "unique"),
        ([entry("a", 101), entry("b", -1)], "0 to 100"),
        ([entry("a", 100.0)], "integer"),
        ([entry("a", True)], "integer"),
        ([entry("a", 100, "http://10.0.0.1:80")], "127.0.0.1"),
        ([entry("a", 100, "https://127.0.0.1:443")], "127.0.0.1"),
        ([entry("a", 100, "http://127.0.0.1")], "PORT"),
        ([entry("a b", 100)], "name"),
        ([entry("", 100)], "name"),
        (["a"], "object"),
    ],
)
def test_parse_backends_rejects(backends: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_backends({"backends": backends})


def test_parse_backends_rejects_wrong_envelope() -> None:
    wrong: list[object] = [[], {"backend": []}, {"backends": {}}, None]
    for data in wrong:
        with pytest.raises(ValueError, match="backends"):
            parse_backends(data)
