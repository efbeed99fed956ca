"""Shared fixtures live in the safeship.testing package (like pre-commit's testing/)."""

pytest_plugins = [
    "safeship.testing.postgres",
    "safeship.testing.fixtures",
    "safeship.testing.redis",
    "safeship.testing.services",
]
