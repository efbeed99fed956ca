"""The rollback plan's one line, for each thing a rollback may have to do."""

from __future__ import annotations

from safeship.gates.rollback_plan import plan_text


def test_the_plan_says_what_a_rollback_puts_back_and_restores() -> None:
    assert plan_text("production", "v1", True, "b1") == (
        "`safeship rollback production` puts v1 back; the schema change is backward compatible"
    )
    assert plan_text("production", "v1", False, "b1") == (
        "`safeship rollback production` puts v1 back; the schema change is not backward "
        "compatible: restore backup b1 first (safeship backup restore b1 --to URL)"
    )
    assert plan_text("production", "v1", None, None) == (
        "`safeship rollback production` puts v1 back; the schema change is not checked "
        "(no dry run) and no backup is taken: restore by hand"
    )
    assert plan_text("production", None, True, "b1", has_migration=False) == (
        "nothing to put back (the first release of production); no migration runs with this "
        "deploy (backup b1 taken)"
    )
