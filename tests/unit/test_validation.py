"""safeship.validation: the rules for versions, names and paths, and cli/errors' one lines."""

from __future__ import annotations

import errno
import importlib
import string
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeship.cli.errors import exit_code_for
from safeship.core._errors import FAILURES, PROBLEM_LISTS, USAGE_ERRORS
from safeship.validation import (
    InvalidIdentifier,
    check_commit,
    check_environment_name,
    check_triggered_by,
    check_url_path,
    check_version,
)


@pytest.mark.parametrize("version", ["v1", "1.4.0", "v2.0.0-rc.1", "1.0+build.5", "a" * 128])
def test_versions_in_use_are_valid(version: str) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("", "version must not be empty"),
        ("a" * 10_000, "version is 10000 characters long (at most 128)"),
        ("v1\x1b[31m", r"invalid version 'v1\x1b[31m'"),
        ("v1\nv2", r"invalid version 'v1\nv2'"),
        ("127.0.0.1:18081/api/health?", "invalid version '127.0.0.1:18081/api/health?'"),
        ("-v1", "invalid version '-v1'"),
        ("..", "invalid version '..'"),
        ("v1 ", "invalid version 'v1 '"),
    ],
)
def test_bad_versions_are_refused_in_one_printable_line(version: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        check_version(version)
    text = str(info.value)
    assert text.startswith(message)
    assert text.isprintable() and len(text) < 200


@given(st.text(alphabet=string.ascii_letters + string.digits + "._+-:/?#@", min_size=1))
@settings(max_examples=200, deadline=None)
def test_a_valid_version_never_moves_a_url_to_another_host(version: str) -> None:
    try:
        check_version(version)
    except InvalidIdentifier:
        return
    for template in ("https://app-{version}.example.com/", "https://example.com/{version}"):
        parts = urlsplit(template.replace("{version}", version))
        assert parts.hostname is not None and parts.hostname.endswith("example.com")
        assert parts.port is None and not parts.query and not parts.fragment


def test_commit_and_triggered_by() -> None:
    assert check_commit("c0ffee1") == "c0ffee1"
    assert check_triggered_by("GitHub Actions (run 42) for alice@example.com")
    for bad in ("", "a" * 65, "abc\x00", "abc;rm"):
        with pytest.raises(InvalidIdentifier):
            check_commit(bad)
    for bad in ("", " ", "a\x1b]0;owned\x07", "a\u202eb", "x" * 256, "a\r\nb"):
        with pytest.raises(InvalidIdentifier):
            check_triggered_by(bad)


def test_environment_names() -> None:
    assert check_environment_name("eu-west_1") == "eu-west_1"
    for bad in ("", "../../etc", "a\x00b", "Prod", "-x", "x" * 64, "a/b", "a.b"):
        with pytest.raises(InvalidIdentifier):
            check_environment_name(bad)


@pytest.mark.parametrize(
    "path", ["/api/health", "/api/health?full=1", "/cart/{id}", "/a..b/c.d", "/"]
)
def test_url_paths_accepted(path: str) -> None:
    assert check_url_path(path) == path


@pytest.mark.parametrize(
    "path",
    ["api", "//evil/x", "/../etc", "/a/./b", "/a/%2E%2e/b", "/a\rb", "/a\nb", "/a b", "/a\\b"],
)
def test_url_paths_refused(path: str) -> None:
    with pytest.raises(InvalidIdentifier):
        check_url_path(path)


# -- cli/errors: what Python and libraries raise on bad input, in one line ---------------------


def test_permission_errors_name_the_path_and_exit_2() -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", "/srv/app/.safeship/run/prod")
    assert exit_code_for(exc) == (
        2,
        "/srv/app/.safeship/run/prod: Permission denied (check its owner and permissions)",
    )
    read_only = OSError(errno.EROFS, "Read-only file system", "/srv/app/.safeship")
    assert exit_code_for(read_only)[0] == 2


def test_other_os_errors_are_one_line_failures() -> None:
    code, message = exit_code_for(OSError(errno.ENOSPC, "No space left on device", "/x/y"))
    assert (code, message) == (1, "/x/y: No space left on device")


def test_recursion_invalid_url_and_identifiers_are_usage_errors() -> None:
    assert exit_code_for(RecursionError("maximum recursion depth exceeded"))[0] == 2
    code, message = exit_code_for(httpx.InvalidURL("URL too long"))
    assert (code, message) == (2, "invalid URL: URL too long")
    assert exit_code_for(InvalidIdentifier("version must not be empty")) == (
        2,
        "version must not be empty",
    )


def test_error_lines_never_carry_control_characters() -> None:
    code, message = exit_code_for(ValueError("bad \x1b[2J value\r"))
    assert code == 1 and "unexpected ValueError" in message
    assert message.isprintable() and "\\x1b[2J" in message


def test_every_mapped_exception_name_exists() -> None:
    # cli/errors names the classes instead of importing them (a usage error exits at once).
    for names, code in ((USAGE_ERRORS, 2), (PROBLEM_LISTS, 2), (FAILURES, 1)):
        for name in names:
            module, _, attribute = name.partition(":")
            cls = getattr(importlib.import_module(module), attribute)
            exc = cls.__new__(cls)
            exc.args = ("boom",)
            assert exit_code_for(exc) == (code, "boom"), name
