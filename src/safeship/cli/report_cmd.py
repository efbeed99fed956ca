"""safeship report DEPLOYMENT [--format md|html|json] [--output FILE]: a deployment's report
(summary, timeline, checks, canary analysis, env changes, commits, rollback plan)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from safeship import core
from safeship.cli.common import load


def run(
    config: Path | None,
    deployment: str,
    fmt: str,
    output: Path | None = None,
    *,
    out: TextIO | None = None,
) -> int:
    loaded = load(config, reuse=True)  # read-only: the last validation of the file serves
    try:
        text = core.deployment_report(loaded, deployment, fmt)
    except core.UsageError as exc:
        print(f"safeship: error: {exc}", file=sys.stderr)
        return 2
    if output is None:
        stream = out or sys.stdout
        stream.write(text)
        stream.flush()
        return 0
    from safeship._files import open_private_text

    with open_private_text(output, append=False) as file:
        file.write(text)
    print(f"report of {deployment} written to {output}", file=sys.stderr)
    return 0
