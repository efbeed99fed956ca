"""safeship doctor: what a deploy will need, one fix per problem; exit 1 when one is found."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rich.table import Table
from rich.text import Text

from safeship.cli.common import console
from safeship.doctor import diagnose
from safeship.redaction import redact


def run(config: Path | None, json_output: bool) -> int:
    findings = diagnose(config)
    problems = [f for f in findings if not f.ok]
    if json_output:
        print(redact(json.dumps([asdict(f) for f in findings], indent=2)))
        return 1 if problems else 0
    table = Table(title="safeship doctor", title_justify="left")
    for column in ("check", "subject", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for f in findings:
        style = "green" if f.ok else "bold red"
        table.add_row(
            f.check, redact(f.subject), Text(f.status, style=style), redact(f.detail), f.fix
        )
    console.print(table)
    if problems:
        console.print(f"{len(problems)} problem(s) found", soft_wrap=True)
        return 1
    console.print("ready to deploy", soft_wrap=True)
    return 0
