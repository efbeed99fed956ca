"""Shared fixtures live in the repository's testing/ package (like pre-commit's), outside the
installed package: safeship itself never imports pytest."""

pytest_plugins = [
    "testing.browser",
    "testing.dashboard",
    "testing.postgres",
    "testing.prometheus",
    "testing.fixtures",
    "testing.redis",
    "testing.services",
]


def pytest_configure(config: object) -> None:
    """The read-only commands' config cache (safeship.config.cache) of every command the tests
    run, in and out of process, goes to a directory of this run, not the user's ~/.cache."""
    import os
    import tempfile

    if not os.environ.get("SAFESHIP_TEST_CACHE"):  # once: xdist's workers inherit it
        os.environ["SAFESHIP_TEST_CACHE"] = "1"
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="safeship-test-cache-")
