"""Shared fixtures live in the repository's testing/ package (like pre-commit's), outside the
installed package: safeship itself never imports pytest."""

pytest_plugins = [
    "testing.postgres",
    "testing.prometheus",
    "testing.fixtures",
    "testing.redis",
    "testing.services",
]
