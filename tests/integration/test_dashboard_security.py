"""Who may do what on the dashboard, in process: the real app (Starlette's TestClient over
HTTPS, so the Secure cookies are kept) on a real SQLite registry; the sign-in, sessions, tokens,
the trusted proxy header, CSRF, the roles, the one-time confirmations and the audit trail.

argon2 runs with light parameters here (``fast_hashing``): the cost is the same code path, and
a stored hash made with other parameters is rehashed at the next sign-in (tested below)."""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2 (not installed)
    warnings.filterwarnings("ignore", "Using `httpx` with")
    from starlette.testclient import TestClient

from safeship import core
from safeship.auth import passwords
from safeship.auth.ratelimit import MAX_FAILURES
from safeship.dashboard import actions, security
from safeship.dashboard.app import create_app
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace, make_workspace

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with")

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PROXY_TABLES = """
[serve.auth]
trusted_header = "X-Forwarded-User"
trusted_proxies = ["10.0.0.0/8"]
proxy_role = "deployer"
"""


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    light = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", lambda: light)


@pytest.fixture(scope="module")
def migrated_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty registry at head, made once: each test starts from a copy (migrating a new
    file costs a fifth of a second)."""
    path = tmp_path_factory.mktemp("registry") / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        registry.audit_entries(1)
        registry.add_audit(T0, "-", "-", None, "-", None, "")  # the file is made on a write
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("DELETE FROM audit_log")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return path


@pytest.fixture
def ws(tmp_path: Path, migrated_registry: Path) -> Workspace:
    workspace = make_workspace(tmp_path)
    target = Path(workspace.loaded.registry_url().removeprefix("sqlite:///"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(migrated_registry, target)
    return workspace


def make_app(ws: Workspace) -> FastAPI:
    app = create_app(ws.loaded)
    security.install(app)
    return app


@pytest.fixture
def app(ws: Workspace) -> FastAPI:
    return make_app(ws)


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_for(app: FastAPI) -> Iterator[ClientFactory]:
    made: list[TestClient] = []

    def factory(**kwargs: object) -> TestClient:
        client = TestClient(
            app,
            base_url="https://testserver",
            follow_redirects=False,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


def add_user(ws: Workspace, name: str, role: str) -> None:
    core.user_add(ws.loaded, name, role, PASSWORD)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> None:
    answer = client.post("/signin", data={"username": name, "password": password, "next": "/"})
    assert answer.status_code == 303, answer.text
    assert security.SESSION_COOKIE in client.cookies


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


def nonce_of(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def last_audit(ws: Workspace) -> core.AuditEntry:
    return core.audit_log(ws.loaded, 1)[0]


def paused_deployment(ws: Workspace) -> str:
    """A deployment of ENV waiting at a pause, as a running deploy records it."""
    with Registry(ws.loaded.registry_url()) as registry:
        deployment_id = registry.create_deployment(ENV, "v2", None, "ci")
        registry.update_deployment(
            deployment_id, status="progressing", current_step=10, paused_at=10
        )
    return deployment_id


def requests_of(ws: Workspace, deployment_id: str) -> list[tuple[str, str]]:
    with Registry(ws.loaded.registry_url()) as registry:
        return [(r.kind, r.requested_by) for r in registry.requests(deployment_id)]


# -- signing in ------------------------------------------------------------------------------


def test_sign_in_sets_a_secure_host_only_cookie_and_goes_to_a_local_next(
    ws: Workspace, client_for: ClientFactory
) -> None:
    add_user(ws, "alice", "deployer")
    client = client_for()
    page = client.get("/signin?next=/history")
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.text and 'for="username"' in page.text
    answer = client.post(
        "/signin", data={"username": "alice", "password": PASSWORD, "next": "/history?x=1"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/history?x=1"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{security.SESSION_COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert "domain" not in cookie.lower()
    entry = last_audit(ws)
    assert (entry.actor, entry.action, entry.outcome) == ("alice", "signin", "ok")
    # next= never leads off the site.
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:1"):
        again = client_for()
        answer = again.post(
            "/signin", data={"username": "alice", "password": PASSWORD, "next": target}
        )
        assert answer.headers["location"] == "/", target


def test_a_failed_sign_in_says_one_thing_and_is_audited(
    ws: Workspace, client_for: ClientFactory
) -> None:
    add_user(ws, "alice", "deployer")
    client = client_for()
    wrong = client.post("/signin", data={"username": "alice", "password": "not the password"})
    unknown = client.post("/signin", data={"username": "mallory", "password": "whatever it is"})
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "wrong user name or password" in answer.text and 'role="alert"' in answer.text
        assert security.SESSION_COOKIE not in client.cookies
    details = [(e.actor, e.outcome, e.detail) for e in core.audit_log(ws.loaded, 2)]
    assert details == [
        ("mallory", "refused", "unknown user"),
        ("alice", "refused", "wrong password"),
    ]


def test_sign_in_is_rate_limited_per_user_and_per_client(ws: Workspace) -> None:
    add_user(ws, "alice", "deployer")
    add_user(ws, "bob", "deployer")
    for second in range(MAX_FAILURES):
        with pytest.raises(core.AuthError):
            core.authenticate_password(
                ws.loaded, "alice", "bad", "10.1.1.1", now=T0 + timedelta(seconds=second)
            )
    at = T0 + timedelta(seconds=60)
    # The right password too: the limit holds for the name, from any address.
    with pytest.raises(core.SigninThrottled) as throttled:
        core.authenticate_password(ws.loaded, "alice", PASSWORD, "10.2.2.2", now=at)
    assert throttled.value.retry_after == 240
    # And for the address that failed, whatever name it tries.
    with pytest.raises(core.SigninThrottled):
        core.authenticate_password(ws.loaded, "bob", PASSWORD, "10.1.1.1", now=at)
    assert core.authenticate_password(ws.loaded, "bob", PASSWORD, "10.3.3.3", now=at).name == "bob"
    # Five minutes after the first failure, one more try is allowed.
    later = T0 + timedelta(minutes=5, seconds=1)
    assert core.authenticate_password(ws.loaded, "alice", PASSWORD, "10.2.2.2", now=later)
    signins = [e for e in core.audit_log(ws.loaded, 20) if e.action == "signin"]
    outcomes = [e.outcome for e in signins[:4]]
    assert outcomes == ["ok", "ok", "throttled", "throttled"]


def test_the_sign_in_form_answers_429_with_retry_after(
    ws: Workspace, client_for: ClientFactory
) -> None:
    add_user(ws, "alice", "deployer")
    client = client_for()
    codes = [
        client.post("/signin", data={"username": "alice", "password": "nope"}).status_code
        for _ in range(MAX_FAILURES)
    ]
    assert codes == [401] * MAX_FAILURES
    answer = client.post("/signin", data={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 429
    assert 0 < int(answer.headers["retry-after"]) <= 300
    assert "too many failed sign-ins" in answer.text


def test_a_hash_made_with_other_parameters_is_replaced_at_sign_in(ws: Workspace) -> None:
    add_user(ws, "alice", "deployer")
    with Registry(ws.loaded.registry_url()) as registry:
        before = registry.user("alice")
        assert before is not None and "m=1024," in before.password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    passwords._hasher = lambda: stronger  # type: ignore[assignment]  # undone by monkeypatch
    core.authenticate_password(ws.loaded, "alice", PASSWORD, "10.0.0.1")
    with Registry(ws.loaded.registry_url()) as registry:
        after = registry.user("alice")
    assert after is not None and "m=2048," in after.password_hash
    assert after.password_changed_at == before.password_changed_at


# -- sessions --------------------------------------------------------------------------------


def test_sessions_end_when_idle_when_old_and_when_the_password_changes(ws: Workspace) -> None:
    add_user(ws, "alice", "deployer")
    alice = core.Principal("alice", "deployer", "session")
    settings = ws.loaded.config.serve.auth
    idle, lifetime = settings.session_idle, settings.session_lifetime
    session = core.session_start(ws.loaded, alice, now=T0)
    assert core.session_lookup(ws.loaded, session, now=T0 + timedelta(seconds=idle - 1)) == alice
    assert core.session_lookup(ws.loaded, session, now=T0 + timedelta(seconds=2 * idle - 2))
    assert core.session_lookup(ws.loaded, session, now=T0 + timedelta(seconds=3 * idle)) is None
    # Used all the time, a session still ends at its absolute lifetime.
    session = core.session_start(ws.loaded, alice, now=T0)
    step = timedelta(seconds=idle * 0.9)
    at = T0
    while at + step < T0 + timedelta(seconds=lifetime):
        at += step
        assert core.session_lookup(ws.loaded, session, now=at) == alice
    assert core.session_lookup(ws.loaded, session, now=T0 + timedelta(seconds=lifetime)) is None
    session = core.session_start(ws.loaded, alice)
    core.user_set_password(ws.loaded, "alice", "another long password")
    assert core.session_lookup(ws.loaded, session) is None
    session = core.session_start(ws.loaded, alice)
    core.user_remove(ws.loaded, "alice")
    assert core.session_lookup(ws.loaded, session) is None


def test_signing_out_ends_the_session(ws: Workspace, client_for: ClientFactory) -> None:
    add_user(ws, "alice", "deployer")
    client = client_for()
    sign_in(client, "alice")
    session = client.cookies[security.SESSION_COOKIE]
    page = client.get("/signin")
    assert "Signed in as" in page.text or "You are signed in as" in page.text
    answer = client.post("/signout", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    assert core.session_lookup(ws.loaded, session) is None
    assert last_audit(ws).action == "signout"
    # The old cookie, sent again, signs no one in.
    again = client_for(cookies={security.SESSION_COOKIE: session})
    assert again.get("/actions/rollback", params={"environment": ENV}).status_code == 303


# -- refusals --------------------------------------------------------------------------------


def test_an_action_without_a_session_is_refused_and_audited(
    ws: Workspace, client_for: ClientFactory
) -> None:
    client = client_for()
    answer = client.post("/actions/rollback", data={"environment": ENV, "nonce": "x"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=/actions/rollback")
    entry = last_audit(ws)
    assert (entry.actor, entry.action, entry.target, entry.outcome) == (
        "anonymous", "rollback", ENV, "refused",
    )  # fmt: skip
    api = client.post("/api/actions/rollback", json={"environment": ENV})
    assert api.status_code == 401 and api.json() == {"detail": "sign in as a deployer to do this"}


def test_a_forged_or_missing_csrf_token_is_refused_and_nothing_is_done(
    ws: Workspace, client_for: ClientFactory
) -> None:
    add_user(ws, "alice", "deployer")
    deployment_id = paused_deployment(ws)
    client = client_for()
    sign_in(client, "alice")
    page = client.get("/actions/promote", params={"environment": ENV})
    assert page.status_code == 200
    nonce = nonce_of(page.text)
    for forged in ({}, {"csrf_token": "0" * 64}, {"csrf_token": ""}):
        form = {"environment": ENV, "nonce": nonce, **forged}
        answer = client.post("/actions/promote", data=form)
        assert answer.status_code == 403 and "security token" in answer.text
        entry = last_audit(ws)
        assert (entry.actor, entry.action, entry.outcome) == ("alice", "csrf", "refused")
    # A token from another session is as good as a forged one.
    other = client_for()
    sign_in(other, "alice")
    stolen = csrf_of(other.get("/signin").text)
    answer = client.post(
        "/actions/promote", data={"environment": ENV, "nonce": nonce, "csrf_token": stolen}
    )
    assert answer.status_code == 403
    assert requests_of(ws, deployment_id) == []


def test_a_request_from_another_origin_is_refused(ws: Workspace, client_for: ClientFactory) -> None:
    add_user(ws, "alice", "deployer")
    deployment_id = paused_deployment(ws)
    client = client_for()
    sign_in(client, "alice")
    page = client.get("/actions/promote", params={"environment": ENV})
    form = {"environment": ENV, "nonce": nonce_of(page.text), "csrf_token": csrf_of(page.text)}
    for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"},
                   {"Origin": "null"}):  # fmt: skip
        answer = client.post("/actions/promote", data=form, headers=header)
        assert answer.status_code == 403 and "another site" in answer.text
        entry = last_audit(ws)
        assert (entry.action, entry.outcome) == ("csrf", "refused")
        assert entry.detail.startswith("cross-origin request from ")
    assert requests_of(ws, deployment_id) == []
    # Our own origin passes.
    answer = client.post("/actions/promote", data=form, headers={"Origin": "https://testserver"})
    assert answer.status_code == 303


def test_a_viewer_may_read_but_not_act(ws: Workspace, client_for: ClientFactory) -> None:
    add_user(ws, "victor", "viewer")
    deployment_id = paused_deployment(ws)
    client = client_for()
    sign_in(client, "victor")
    page = client.get("/actions/promote", params={"environment": ENV})
    assert page.status_code == 403 and "victor is a viewer: this needs deployer" in page.text
    csrf = csrf_of(client.get("/signin").text)
    answer = client.post(
        "/actions/promote", data={"environment": ENV, "nonce": "n", "csrf_token": csrf}
    )
    assert answer.status_code == 403
    entry = last_audit(ws)
    assert (entry.actor, entry.action, entry.target, entry.outcome, entry.detail) == (
        "victor", "promote", ENV, "refused", "role viewer; needs deployer",
    )  # fmt: skip
    assert requests_of(ws, deployment_id) == []


# -- the confirmations -----------------------------------------------------------------------


def test_a_confirmation_submitted_twice_acts_once(ws: Workspace, client_for: ClientFactory) -> None:
    add_user(ws, "alice", "deployer")
    deployment_id = paused_deployment(ws)
    client = client_for()
    sign_in(client, "alice")
    page = client.get("/actions/promote", params={"environment": ENV})
    assert "Let v2, paused at 10%, go on" in page.text
    form = {"environment": ENV, "nonce": nonce_of(page.text), "csrf_token": csrf_of(page.text)}
    first = client.post("/actions/promote", data=form)
    assert first.status_code == 303 and first.headers["location"] == f"/deployments/{deployment_id}"
    second = client.post("/actions/promote", data=form)
    assert second.status_code == 200 and "Already done: promote of v2" in second.text
    assert requests_of(ws, deployment_id) == [("promote", "dashboard:alice")]
    outcomes = [(e.action, e.outcome) for e in core.audit_log(ws.loaded, 2)]
    assert outcomes == [("promote", "repeated"), ("promote", "ok")]
    # A nonce made for someone else, or for another action, does nothing.
    add_user(ws, "bob", "deployer")
    bobs = core.nonce_issue(ws.loaded, "bob", "promote", ENV)
    form = {**form, "nonce": bobs}
    assert client.post("/actions/promote", data=form).status_code == 400
    assert client.post("/actions/abort", data=form).status_code == 400
    assert requests_of(ws, deployment_id) == [("promote", "dashboard:alice")]


def test_an_action_that_does_not_apply_shows_why(ws: Workspace, client_for: ClientFactory) -> None:
    add_user(ws, "alice", "deployer")
    client = client_for()
    sign_in(client, "alice")
    page = client.get("/actions/promote", params={"environment": ENV})
    assert page.status_code == 200 and f"no deployment of {ENV} is paused" in page.text
    assert 'name="nonce"' not in page.text
    missing = client.get("/actions/rollback", params={"environment": "nowhere"})
    assert missing.status_code == 404
    assert client.get("/actions/deploy", params={"environment": ENV}).status_code == 404


# -- tokens and the proxy --------------------------------------------------------------------


def test_an_api_token_acts_without_csrf_until_revoked(
    ws: Workspace, client_for: ClientFactory
) -> None:
    add_user(ws, "ci-bot", "deployer")
    deployment_id = paused_deployment(ws)
    record, token = core.token_create(ws.loaded, "ci-bot", label="ci")
    client = client_for(headers={"Authorization": f"Bearer {token}"})
    answer = client.post("/api/actions/promote", json={"environment": ENV})
    assert answer.status_code == 200, answer.text
    assert answer.json()["deploymentId"] == deployment_id
    assert requests_of(ws, deployment_id) == [("promote", "dashboard:ci-bot")]
    (listed,) = core.token_list(ws.loaded, "ci-bot")
    assert listed.last_used_at is not None and listed.state() == "active"
    core.token_revoke(ws.loaded, record.id)
    refused = client.post("/api/actions/promote", json={"environment": ENV})
    assert refused.status_code == 401
    assert last_audit(ws).detail == "the API token is unknown, expired or revoked"
    expired_record, expired = core.token_create(
        ws.loaded, "ci-bot", expires_in=timedelta(seconds=1), now=T0
    )
    assert core.authenticate_token(ws.loaded, expired) is None
    assert core.authenticate_token(ws.loaded, expired, now=T0) is not None
    assert expired_record.state() == "expired"
    assert core.authenticate_token(ws.loaded, token[:-1] + "A") is None


def test_an_api_retry_with_the_same_idempotency_key_acts_once(
    ws: Workspace, client_for: ClientFactory
) -> None:
    add_user(ws, "ci-bot", "deployer")
    deployment_id = paused_deployment(ws)
    _, token = core.token_create(ws.loaded, "ci-bot")
    client = client_for(headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "run-7"})
    first = client.post("/api/actions/promote", json={"environment": ENV})
    retry = client.post("/api/actions/promote", json={"environment": ENV})
    assert first.status_code == 200 and retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["outcome"] == f"already done: {first.json()['outcome']}"
    assert requests_of(ws, deployment_id) == [("promote", "dashboard:ci-bot")]
    other = client.post("/api/actions/abort", json={"environment": ENV})
    assert other.status_code == 409 and requests_of(ws, deployment_id) == [
        ("promote", "dashboard:ci-bot")
    ]


def test_the_trusted_header_counts_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, tables=PROXY_TABLES)
    app = make_app(ws)
    deployment_id = paused_deployment(ws)
    header = {"X-Forwarded-User": "pat@example.com"}
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("192.0.2.9", 4000), headers=header) as outsider:  # fmt: skip
        page = outsider.get("/actions/promote", params={"environment": ENV})
        assert page.status_code == 303  # not believed: to sign in
    entry = core.audit_log(ws.loaded, 2)[1]
    assert (entry.actor, entry.action, entry.outcome) == ("pat@example.com", "proxy-header",
                                                          "refused")  # fmt: skip
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("10.1.2.3", 4000), headers=header) as proxied:  # fmt: skip
        page = proxied.get("/actions/promote", params={"environment": ENV})
        assert page.status_code == 200 and "pat@example.com" in page.text
        assert security.CSRF_COOKIE in proxied.cookies
        form = {"environment": ENV, "nonce": nonce_of(page.text)}
        assert proxied.post("/actions/promote", data=form).status_code == 403
        answer = proxied.post("/actions/promote", data={**form, "csrf_token": csrf_of(page.text)})
        assert answer.status_code == 303
    assert requests_of(ws, deployment_id) == [("promote", "dashboard:pat@example.com")]


# -- binding and reading ---------------------------------------------------------------------


def test_binding_off_loopback_needs_authentication(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    ws = make_workspace(tmp_path / "a")
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert security.bind_problem(host, ws.loaded) is None
    problem = security.bind_problem("0.0.0.0", ws.loaded)
    assert problem is not None and "\n" not in problem
    assert problem.startswith("refusing to listen on 0.0.0.0: no one could sign in")
    core.user_add(ws.loaded, "admin", "admin", PASSWORD)
    assert security.bind_problem("0.0.0.0", ws.loaded) is None
    (tmp_path / "b").mkdir()
    proxied = make_workspace(tmp_path / "b", tables=PROXY_TABLES)
    assert security.bind_problem("192.0.2.1", proxied.loaded) is None


def test_off_loopback_reading_needs_a_viewer(ws: Workspace, client_for: ClientFactory) -> None:
    add_user(ws, "victor", "viewer")
    app = make_app(ws)
    app.state.host = "0.0.0.0"
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert client.get("/api/openapi.json").status_code == 401
        page = client.get("/static/site.css")
        assert page.status_code == 200
        assert client.get("/anything").headers["location"] == "/signin?next=/anything"
        sign_in(client, "victor")
        assert client.get("/api/openapi.json").status_code == 200


def test_on_loopback_only_loopback_host_names_are_answered(ws: Workspace) -> None:
    app = make_app(ws)
    app.state.host = "127.0.0.1"  # as `safeship serve` records it
    for base, status in (("http://127.0.0.1:8470", 200), ("http://localhost:8470", 200),
                         ("http://[::1]:8470", 200), ("http://rebound.example", 421)):  # fmt: skip
        with TestClient(app, base_url=base, follow_redirects=False) as client:
            answer = client.get("/signin")
        assert answer.status_code == status, base
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self';" in answer.headers["content-security-policy"]


def test_no_password_nor_hash_reaches_the_audit_the_listing_or_the_logs(
    ws: Workspace, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_user(ws, "alice", "admin")
    client = client_for()
    sign_in(client, "alice")
    session = client.cookies[security.SESSION_COOKIE]
    wrong = client_for().post("/signin", data={"username": "alice", "password": PASSWORD + "x"})
    assert wrong.status_code == 401 and PASSWORD not in wrong.text
    record, token = core.token_create(ws.loaded, "alice")
    bad = client_for(headers={"Authorization": f"Bearer {token}x"})
    assert bad.get("/api/openapi.json").status_code == 401
    core.token_revoke(ws.loaded, record.id)
    text = repr(core.audit_log(ws.loaded, 100)) + repr(core.user_list(ws.loaded))
    text += repr(core.token_list(ws.loaded, "alice")) + caplog.text
    for secret in (PASSWORD, "$argon2", token, token[len(record.prefix) :], session):
        assert secret not in text


def test_a_weak_password_or_bad_name_is_one_line(ws: Workspace) -> None:
    for name, role, password, message in (
        ("alice", "deployer", "", "the password is empty"),
        ("alice", "deployer", "short", "too short: at least 12"),
        ("alice", "root", PASSWORD, "unknown role 'root'"),
        ("-alice", "viewer", PASSWORD, "bad user name"),
        ("a" * 65, "viewer", PASSWORD, "bad user name"),
    ):
        with pytest.raises(core.AuthError, match=message) as refused:
            core.user_add(ws.loaded, name, role, password)
        assert "\n" not in str(refused.value)
    add_user(ws, "alice", "viewer")
    with pytest.raises(core.AuthError, match="user alice exists already"):
        add_user(ws, "alice", "admin")


# -- a real rollback through the action --------------------------------------------------------


def test_a_rollback_from_the_dashboard_puts_the_previous_version_back(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.3)
    # Two earlier deployments as the registry has them (deploying them for real would triple
    # the test's time); the rollback itself starts v1 and routes to it for real.
    with Registry(ws.loaded.registry_url()) as registry:
        for version in ("v1", "v2"):
            deployment_id = registry.create_deployment(ENV, version, None, "ci")
            registry.update_deployment(deployment_id, status="succeeded", completed=True)
    add_user(ws, "alice", "deployer")
    app = make_app(ws)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        sign_in(client, "alice")
        page = client.get("/actions/rollback", params={"environment": ENV})
        assert "Put v1 back in place of v2" in page.text
        form = {"environment": ENV, "nonce": nonce_of(page.text), "csrf_token": csrf_of(page.text)}
        answer = client.post("/actions/rollback", data=form)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        actions.wait_for_actions(app, timeout=60)
        again = client.post("/actions/rollback", data=form)
        assert "Already done: rollback of local by alice: ok, v1 succeeded" in again.text
    (status,) = core.status(ws.loaded, ENV)
    assert status.serving == ("v1",)
    history = core.history(ws.loaded, core.HistoryQuery(ENV, limit=3))
    assert [(d.version, d.status, d.triggered_by) for d in history] == [
        ("v1", "succeeded", "dashboard:alice"),
        ("v2", "rolled_back", "ci"),
        ("v1", "succeeded", "ci"),
    ]
    assert history[1].rollback_reason == "rolled back to v1 by dashboard:alice"
    entries = [(e.action, e.outcome) for e in core.audit_log(ws.loaded, 3)]
    assert entries == [("rollback", "repeated"), ("rollback", "ok"), ("rollback", "started")]
