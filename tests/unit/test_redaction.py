"""The one redaction function."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safeship.redaction import MASK, Redactor


def test_registered_values_are_masked_inside_longer_text() -> None:
    r = Redactor(["correct-horse-battery"])
    assert r.redact("url?token=correct-horse-battery&x=1") == f"url?token={MASK}&x=1"


def test_longest_secret_wins_when_one_contains_another() -> None:
    r = Redactor(["abcd", "abcdefgh"])
    assert r.redact("abcdefgh abcd") == f"{MASK} {MASK}"


def test_short_values_are_not_registered() -> None:
    r = Redactor(["yes"])
    assert r.redact("yes") == "yes"


def test_credential_shapes_are_masked_without_registration() -> None:
    r = Redactor()
    samples = [
        "sk-proj-abcdefghijklmnop1234",
        "sk_live_abcdefghijklmnop1234",
        "ghp_" + "a1" * 18,
        "xoxb-123456789012-abcdef",
        "AKIAABCDEFGHIJKLMNOP",
    ]
    for sample in samples:
        assert r.redact(f"key={sample};") == f"key={MASK};", sample


def test_url_password_is_masked_but_user_and_host_kept() -> None:
    r = Redactor()
    assert (
        r.redact("postgresql://app:pa55@db.internal:5432/app")
        == f"postgresql://app:{MASK}@db.internal:5432/app"
    )


def test_redact_data_walks_structures() -> None:
    r = Redactor(["value-1234"])
    data = {"a": ["value-1234", 3], "value-1234": {"b": ("x value-1234",)}}
    assert r.redact_data(data) == {"a": [MASK, 3], MASK: {"b": (f"x {MASK}",)}}


# The mask's own character is excluded: a "secret" made of asterisks is its own mask.
_NO_STAR = st.characters(blacklist_characters="*")


@given(
    secret=st.text(_NO_STAR, min_size=4, max_size=40),
    prefix=st.text(_NO_STAR, max_size=20),
)
def test_a_registered_secret_never_survives(secret: str, prefix: str) -> None:
    r = Redactor([secret])
    assert secret not in r.redact(prefix + secret + prefix)
