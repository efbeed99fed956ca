"""Approving on the dashboard, in process (Starlette's TestClient over HTTPS on a real SQLite
registry): the confirm page of a deployment awaiting approval shows what its gates found, an
approver's confirmed form records the approval once, a deployer may not approve."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2 (not installed)
    warnings.filterwarnings("ignore", "Using `httpx` with")
    from starlette.testclient import TestClient

from safeship import core
from safeship.auth import passwords
from safeship.dashboard import security
from safeship.dashboard.app import create_app
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace, make_workspace

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with")

PASSWORD = "correct horse battery staple"
APPROVAL = """
[environments.local.gates.approval]
required = 1
"""


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    light = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", lambda: light)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path, tables=APPROVAL)


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    app = create_app(ws.loaded)
    security.install(app)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as made:
        yield made


def awaiting_deployment(ws: Workspace) -> str:
    """A deployment of ENV in awaiting_approval, its chain gate passed, as a deploy records it
    (the deploy process itself is not needed to answer)."""
    with Registry(ws.loaded.registry_url()) as registry:
        deployment_id = registry.create_deployment(ENV, "v2", None, "dashboard:alice")
        for status in ("validating", "awaiting_approval"):
            registry.update_deployment(deployment_id, status=status)
        gate = registry.start_gate(deployment_id, "chain")
        registry.finish_gate(gate, "passed", "succeeded in staging (1a2b3c4d)")
        registry.start_gate(deployment_id, "approval")
    return deployment_id


def sign_in(client: TestClient, name: str) -> None:
    answer = client.post("/signin", data={"username": name, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303, answer.text


def form_of(html: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    return dict(fields)


def test_an_approver_approves_from_the_confirm_page_once(ws: Workspace, client: TestClient) -> None:
    core.user_add(ws.loaded, "bob", "approver", PASSWORD)
    deployment_id = awaiting_deployment(ws)
    sign_in(client, "bob")

    assert "/actions/approve?environment=local" in client.get(f"/deployments/{deployment_id}").text
    page = client.get("/actions/approve", params={"environment": ENV})
    assert page.status_code == 200, page.text
    assert "Gate chain" in page.text and "passed: succeeded in staging (1a2b3c4d)" in page.text
    assert "0 of 1" in page.text
    form = form_of(page.text)
    assert form["deployment"] == deployment_id

    answer = client.post("/actions/approve", data={**form, "reason": "checked the plan"})
    assert answer.status_code == 303, answer.text
    again = client.post("/actions/approve", data={**form, "reason": "checked the plan"})
    assert "It was not done a second time" in again.text
    [approval] = core.pending_approval(ws.loaded, deployment_id).answers
    assert (approval.user, approval.decision, approval.reason, approval.via) == (
        "bob", "approve", "checked the plan", "dashboard",
    )  # fmt: skip
    entry = core.audit_log(ws.loaded, 5)
    assert any((e.actor, e.action, e.outcome) == ("bob", "approve", "ok") for e in entry)


def test_a_deployer_may_not_approve(ws: Workspace, client: TestClient) -> None:
    core.user_add(ws.loaded, "dave", "deployer", PASSWORD)
    awaiting_deployment(ws)
    sign_in(client, "dave")
    page = client.get("/actions/approve", params={"environment": ENV})
    assert page.status_code == 403
    assert "dave is a deployer: this needs approver" in page.text
