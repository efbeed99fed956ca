"""Running the user's commands (tests, build): no shell, a timeout, the output's tail on failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

from safeship.redaction import redact

TAIL_LINES = 20


def expand(command: list[str], files: list[str]) -> list[str]:
    """``{files}`` as an argument of its own becomes one argument per file."""
    result: list[str] = []
    for arg in command:
        if arg == "{files}":
            result += files
        else:
            result.append(arg.replace("{files}", " ".join(files)))
    return result


def run_command(command: list[str], cwd: Path, timeout: float) -> tuple[bool, list[str]]:
    """(passed, the last lines of its output, redacted) for ``command`` run in ``cwd``."""
    shown = " ".join(command[:6]) + (" …" if len(command) > 6 else "")
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return False, [f"{command[0]}: command not found"]
    except subprocess.TimeoutExpired:
        return False, [f"{shown}: took over {timeout:.0f} s"]
    if done.returncode == 0:
        return True, [f"{shown}: ok"]
    output = (done.stdout + done.stderr).decode("utf-8", "replace").splitlines()
    tail = [redact(line) for line in output[-TAIL_LINES:]]
    return False, [f"{shown}: exit {done.returncode}", *tail]
