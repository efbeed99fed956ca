"""Fixtures for the contract tests: each provider's loopback server, started and stopped per
test (a fresh state and a free port each time). Server code lives beside this file
(loopback.py, railway_api.py, github_api.py, circleci_api.py, slack_api.py, webhook_api.py,
pagerduty_api.py, smtp_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from circleci_api import CircleCIServer
from github_api import GitHubServer
from loopback import ContractServer
from pagerduty_api import PagerDutyServer
from railway_api import RailwayServer
from slack_api import SlackServer
from smtp_server import SmtpServer, throwaway_cert
from webhook_api import WebhookServer

S = TypeVar("S", bound=ContractServer)


def _serve(server: S) -> Iterator[S]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def railway_api() -> Iterator[RailwayServer]:
    yield from _serve(RailwayServer())


@pytest.fixture
def github_api() -> Iterator[GitHubServer]:
    yield from _serve(GitHubServer())


@pytest.fixture
def circleci_api() -> Iterator[CircleCIServer]:
    yield from _serve(CircleCIServer())


@pytest.fixture
def slack_api() -> Iterator[SlackServer]:
    yield from _serve(SlackServer())


@pytest.fixture
def pagerduty_api() -> Iterator[PagerDutyServer]:
    server = PagerDutyServer()
    server.hang_seconds = 1.0  # a hang outlasts the channels' timeouts in these tests
    yield from _serve(server)


@pytest.fixture
def webhook_api() -> Iterator[WebhookServer]:
    yield from _serve(WebhookServer())


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (cert, key), made once per worker."""
    return throwaway_cert(tmp_path_factory.mktemp("smtp-cert"))


@pytest.fixture
def smtp_server(smtp_cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """A real SMTP server: STARTTLS required, AUTH LOGIN required."""
    server = SmtpServer(*smtp_cert)
    server.start()
    try:
        yield server
    finally:
        server.stop()
