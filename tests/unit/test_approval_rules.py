"""Who may approve, and what counts: the approval gate's rules (every face's refusal comes from
them), and how a GitHub review history is read."""

from __future__ import annotations

from datetime import UTC, datetime

from safeship.gates.approval import duration_text, person, refusal, tally
from safeship.gates.settings import ApprovalSettings
from safeship.registry.gate_rows import ApprovalRecord

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SETTINGS = ApprovalSettings(required=2)
ROLES = {"alice": "approver", "bob": "approver", "carol": "admin", "dave": "deployer"}


def answer(user: str, decision: str = "approve", via: str = "cli") -> ApprovalRecord:
    return ApprovalRecord(1, "d", user, decision, f"{user}'s reason", via, AT)


def test_a_person_is_named_the_same_by_every_face() -> None:
    assert person("dashboard:Alice") == person("alice") == person("cli:alice") == "alice"
    assert person("github:octocat") == "octocat"


def test_who_may_approve() -> None:
    assert refusal("bob", "approver", "alice", SETTINGS) is None
    assert refusal("carol", "admin", "alice", SETTINGS) is None
    assert refusal("dave", "deployer", "alice", SETTINGS) == (
        "dave is a deployer: approving needs the approver role"
    )
    assert refusal("zoe", None, "alice", SETTINGS) == "zoe is not a safeship user"
    assert refusal("alice", "approver", "dashboard:alice", SETTINGS) == (
        "alice asked for this deploy and cannot approve it (allow_self is off)"
    )
    allowed = ApprovalSettings(allow_self=True)
    assert refusal("alice", "approver", "dashboard:alice", allowed) is None


def test_only_answers_that_may_count_are_counted_once_each() -> None:
    answers = [
        answer("alice"),  # the requester
        answer("dave"),  # a deployer
        answer("bob"),
        answer("github:octocat", via="github"),  # GitHub checked the reviewer
        answer("zoe"),  # not (or no longer) a user
    ]
    counted = tally(answers, "alice", SETTINGS, ROLES.get)
    assert counted.approvers == ["bob", "github:octocat"]
    assert counted.reasons == {"bob": "bob's reason", "github:octocat": "github:octocat's reason"}
    assert counted.rejection is None

    rejected = tally([answer("dave", "reject"), answer("carol", "reject")], "alice", SETTINGS,
                     ROLES.get)  # fmt: skip
    assert rejected.rejection is not None and rejected.rejection.user == "carol"


def test_a_timeout_reads_as_people_say_it() -> None:
    assert [duration_text(s) for s in (14_400, 5400, 900, 1, 0.5)] == [
        "4 h", "1.5 h", "15 min", "1 s", "0.5 s",
    ]  # fmt: skip
