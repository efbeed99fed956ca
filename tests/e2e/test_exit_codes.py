"""Bad input on the command line and in safeship.toml: one line, exit 2, nothing written.

Each case was once a traceback, an ``unexpected ...`` line, exit 1, or a value stored and
printed raw (issue 11 §4). Real subprocesses: the exit code and stderr are what a user sees.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SAFESHIP = [sys.executable, "-m", "safeship"]

LOCAL = """\
[environments.staging]
port = {port}
target = {{ command = ["{python}", "-m", "http.server", "{{port}}"] }}
"""


def safeship(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAFESHIP, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    output = result.stderr + result.stdout
    assert "Traceback" not in output and "unexpected" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("safeship: error: ") and lines[0].isprintable()
    return lines[0].removeprefix("safeship: error: ")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "safeship.toml").write_text(LOCAL.format(port=18991, python=sys.executable))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "v1\x1b[31m"], "invalid version 'v1\\x1b[31m'"),
        (["--version", ""], "version must not be empty"),
        (["--version", "a" * 10_000], "version is 10000 characters long (at most 128)"),
        (["--version", "v1", "--commit", "abc\n123"], "invalid commit 'abc\\n123'"),
        (
            ["--version", "v1", "--triggered-by", "ci\x1b]0;owned\x07"],
            "--triggered-by 'ci\\x1b]0;owned\\x07' contains the control character",
        ),
    ],
)
def test_bad_identifiers_are_usage_errors_and_nothing_is_written(
    project: Path, args: list[str], message: str
) -> None:
    line = one_line_error(safeship(project, "deploy", "staging", *args))
    assert line.startswith(message)
    assert not (project / ".safeship").exists()


def test_bad_environment_names_are_refused_by_every_command(project: Path) -> None:
    for args in (
        ["deploy", "../../etc", "--version", "v1"],
        ["history", "\x1b[2J"],
        ["status", ""],
        ["rollback", "a\tb"],
    ):
        line = one_line_error(safeship(project, *args))
        assert "environment name" in line, args
    assert not (project / ".safeship").exists()


def test_command_target_version_cannot_send_the_health_check_elsewhere(tmp_path: Path) -> None:
    marker = tmp_path / "deployed"
    (tmp_path / "safeship.toml").write_text(
        f"""\
[environments.web.target]
type = "command"
deploy = ["{sys.executable}", "-c", "open('{marker}', 'w').write('{{version}}')"]
url = "https://{{version}}.example.com"
"""
    )
    line = one_line_error(
        safeship(tmp_path, "deploy", "web", "--version", "127.0.0.1:18081/api/health?")
    )
    assert line.startswith("invalid version '127.0.0.1:18081/api/health?'")
    assert not marker.exists() and not (tmp_path / ".safeship").exists()


def test_config_values_once_accepted_silently(tmp_path: Path) -> None:
    config = tmp_path / "safeship.toml"
    config.write_text(LOCAL.format(port="true", python=sys.executable))
    assert one_line_error(safeship(tmp_path, "config", "check")) == (
        "safeship.toml:2: environments.staging.port: must be an integer, not the boolean true"
    )
    config.write_text(
        LOCAL.format(port=8080, python=sys.executable)
        + '[environments.staging.health]\npath = "/../../etc/passwd"\n'
    )
    assert one_line_error(safeship(tmp_path, "config", "check")) == (
        "safeship.toml:5: environments.staging.health.path: "
        "must not contain . or .. segments: '/../../etc/passwd'"
    )


def test_deeply_nested_toml_and_invalid_utf8(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("[project]\n" + "x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert one_line_error(safeship(tmp_path, "config", "check", "-c", str(deep))) == (
        "deep.toml:2: syntax: arrays or tables nested deeper than 32"
    )
    latin1 = tmp_path / "safeship.toml"
    latin1.write_bytes(b'[project]\nname = "caf\xe9"\n')
    assert one_line_error(safeship(tmp_path, "config", "check")) == (
        "safeship.toml:2: syntax: not valid UTF-8 (byte 0xe9 at column 12); save the file as UTF-8"
    )


def test_health_url_and_path_are_checked_before_any_request(tmp_path: Path) -> None:
    long_url = "http://127.0.0.1:9/" + "a" * 70_000
    line = one_line_error(safeship(tmp_path, "health", long_url))
    assert line.startswith("URL is 70019 characters long (at most 2048)")
    line = one_line_error(
        safeship(tmp_path, "health", "http://127.0.0.1:9", "--path", "/x\r\nX: y")
    )
    assert line == "--path: contains the control character '\\r': '/x\\r\\nX: y'"


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """``directory`` refuses new entries, for root too (chattr +i) where chmod would not."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(directory)]).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a directory read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_read_only_run_directory_names_the_path(project: Path) -> None:
    run_dir = project / ".safeship" / "run" / "staging"
    run_dir.mkdir(parents=True)
    with read_only(run_dir):
        line = one_line_error(safeship(project, "deploy", "staging", "--version", "v1"))
    assert line.startswith(f"{run_dir.resolve()}/")
    assert "(check its owner and permissions)" in line
