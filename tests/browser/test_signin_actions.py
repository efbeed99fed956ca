"""Signing in and acting, in the machine's Chromium (Playwright) against the real server: the
sign-in form, an action with its confirmation (once, however often the form is sent), a
forged CSRF token refused, and the session cookie kept over http://127.0.0.1 although it is
Secure (loopback is a secure context)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import expect

from safeship import core
from safeship.auth import passwords
from safeship.dashboard import create_app, security
from safeship.registry import Registry
from testing.browser import screenshot, serve_app
from testing.fixtures import ENV, Workspace, make_workspace

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "correct horse battery staple"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    light = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", lambda: light)
    ws = make_workspace(tmp_path)
    core.user_add(ws.loaded, "alice", "deployer", PASSWORD)
    return ws


@pytest.fixture
def paused(project: Workspace) -> str:
    """A deployment of ENV waiting at 10% for a promote, as a running deploy records it."""
    with Registry(project.loaded.registry_url()) as registry:
        deployment_id = registry.create_deployment(ENV, "v2", None, "ci")
        registry.update_deployment(
            deployment_id, status="progressing", current_step=10, paused_at=10
        )
    return deployment_id


@pytest.fixture
def base_url(project: Workspace) -> Iterator[str]:
    with serve_app(create_app(project.loaded)) as url:
        yield url


def requests_of(ws: Workspace, deployment_id: str) -> list[tuple[str, str]]:
    with Registry(ws.loaded.registry_url()) as registry:
        return [(r.kind, r.requested_by) for r in registry.requests(deployment_id)]


def sign_in_from_the_action(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/actions/promote?environment={ENV}")
    expect(page).to_have_url(f"{base_url}/signin?next=/actions/promote%3Fenvironment%3D{ENV}")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong user name or password")
    screenshot(page, "signin-refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/actions/promote?environment={ENV}")


def test_sign_in_then_promote_with_its_confirmation_once(
    project: Workspace, paused: str, base_url: str, page: Page
) -> None:
    sign_in_from_the_action(page, base_url)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == security.SESSION_COOKIE]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    expect(page.locator(".who")).to_contain_text("Signed in as alice")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Promote in {ENV}")
    expect(page.locator("main")).to_contain_text("Let v2, paused at 10%, go on")
    screenshot(page, "action-confirm")
    form: dict[str, str | float | bool] = {
        name: page.locator(f'form[action="/actions/promote"] input[name="{name}"]').input_value()
        for name in ("csrf_token", "environment", "nonce")
    }
    page.get_by_role("button", name="Promote v2").click()
    expect(page).to_have_url(f"{base_url}/deployments/{paused}")
    assert requests_of(project, paused) == [("promote", "dashboard:alice")]
    # The same confirmation sent again (with this browser's cookies): answered, not done twice.
    again = page.request.post(f"{base_url}/actions/promote", form=form,
                              headers={"Origin": base_url})  # fmt: skip
    assert again.status == 200 and "Already done: promote of v2" in again.text()
    assert requests_of(project, paused) == [("promote", "dashboard:alice")]
    # Signing out ends it: the action asks for a sign-in again.
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base_url}/actions/promote?environment={ENV}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_a_forged_csrf_token_is_refused_in_the_browser(
    project: Workspace, paused: str, base_url: str, page: Page
) -> None:
    sign_in_from_the_action(page, base_url)
    page.locator('input[name="csrf_token"]').last.evaluate("e => { e.value = 'forged'; }")
    page.get_by_role("button", name="Promote v2").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text("security token is missing or wrong")
    screenshot(page, "action-csrf-refused")
    assert requests_of(project, paused) == []
    entry = core.audit_log(project.loaded, 1)[0]
    assert (entry.actor, entry.action, entry.outcome) == ("alice", "csrf", "refused")
