"""Running the safeship CLI as a user would: a whole process, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def safeship(
    cwd: Path, *args: str, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``safeship ARGS`` in ``cwd``; ``env`` adds variables (None removes one)."""
    environ = {**os.environ, "COLUMNS": "200"}
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [sys.executable, "-m", "safeship", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The message of a run that failed with ``code`` in exactly one line, no traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("safeship: error: ")
    return line.removeprefix("safeship: error: ")
