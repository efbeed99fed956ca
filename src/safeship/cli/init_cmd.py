"""safeship init [DIR]: write a commented safeship.toml (and env.schema.toml); never overwrite."""

from __future__ import annotations

import sys
from pathlib import Path

from safeship.cli.common import console
from safeship.redaction import redact
from safeship.scaffold import InitError, init_project


def run(directory: Path) -> int:
    try:
        result = init_project(directory)
    except InitError as exc:
        print(f"safeship: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    for path in result.written:
        console.print(f"wrote {path}", soft_wrap=True)
    found = result.detected
    console.print(f"start command: {found.command_source or 'not found (edit the TODO)'}",
                  soft_wrap=True)  # fmt: skip
    for note in found.notes:
        console.print(f"note: {note}", soft_wrap=True)
    console.print("next: safeship config check && safeship doctor", soft_wrap=True)
    return 0
