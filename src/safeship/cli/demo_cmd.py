"""safeship demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from safeship import core
from safeship.cli.common import console, err_console
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.render import history_table, outcome_line
from safeship.demo.runner import DemoResult, run_demo, serve_command

if TYPE_CHECKING:
    from safeship.core import DeploymentOutcome


def run(keep: bool) -> int:
    console.print(
        "[bold]safeship demo[/]: v1 all at once, v2 canary 10→50→100, "
        "v3 fails 20% of requests and is rolled back — under steady load."
    )
    display = LiveDisplay(console)

    def done(outcome: DeploymentOutcome) -> None:
        display.close()
        console.print(outcome_line(core.deploy_result(outcome)))

    with sigterm_as_interrupt():
        try:
            result = run_demo(on_progress=display, on_outcome=done, keep=keep)
        finally:
            display.close()
    console.print(history_table(result.history))
    console.print(load_table(result))
    if keep:
        console.print(f"demo files kept in {result.workdir}")
    for problem in result.problems:
        err_console.print(f"safeship demo: {problem}")
    # One line however long the path (soft_wrap): it is meant to be copied, and read by scripts.
    console.print(
        f"See it on the dashboard: {serve_command(result.workdir)}", markup=False, soft_wrap=True
    )
    return 0 if result.ok else 1


def load_table(result: DemoResult) -> Table:
    table = Table(title="load generator totals", title_justify="left")
    for column in ("answered by", "ok", "failed"):
        table.add_column(column, justify="right" if column != "answered by" else "left")
    for release in result.load.releases():
        table.add_row(release, str(result.load.ok[release]), str(result.load.failed[release]))
    return table
