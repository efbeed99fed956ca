"""History never replays terminal escapes stored by a release before versions were validated."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from safeship.cli.render import history_table
from safeship.registry import DeploymentRecord


def test_a_stored_escape_sequence_is_printed_escaped() -> None:
    now = datetime.now(UTC)
    record = DeploymentRecord(
        id="0123456789abcdef",
        environment="local",
        version="v1\x1b[2J",
        commit_sha=None,
        triggered_by="ci",
        status="rolled_back",
        started_at=now,
        completed_at=now,
        current_step=None,
        health_score=None,
        error_count=0,
        rollback_reason="boom\x1b]0;title\x07",
    )
    console = Console(width=200, record=True, force_terminal=False)
    console.print(history_table([record]))
    text = console.export_text()
    assert "\x1b" not in text and "\x07" not in text
    assert "v1\\x1b[2J" in text
    assert "boom\\x1b]0;title\\x07" in text
