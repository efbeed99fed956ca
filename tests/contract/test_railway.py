"""The railway target against the loopback Railway GraphQL server (railway_api.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from railway_api import (
    ACCOUNT_TOKEN,
    ENVIRONMENT,
    PROJECT,
    PROJECT_TOKEN,
    SERVICE,
    RailwayServer,
    mutation,
)

from safeship.targets.base import TargetError
from safeship.targets.railway import RailwayDeployFailed, RailwayTarget
from safeship.targets.settings import RailwayTargetSettings


def settings(server: RailwayServer, **overrides: Any) -> RailwayTargetSettings:
    values: dict[str, Any] = {
        "endpoint": server.graphql_url,
        "project_id": PROJECT,
        "environment_id": ENVIRONMENT,
        "service_id": SERVICE,
        "poll_interval": 0.01,
        "request_timeout": 0.5,
        "retries": 2,
        "max_retry_wait": 2.0,
        "deploy_timeout": 5.0,
    }
    values.update(overrides)
    return RailwayTargetSettings(**values)


def target(server: RailwayServer, token: str = ACCOUNT_TOKEN, **overrides: Any) -> RailwayTarget:
    return RailwayTarget("production", settings(server, **overrides), token=token)


def assert_one_line(message: str, *secrets: str) -> None:
    assert "\n" not in message
    assert message.startswith("railway: ")
    for secret in secrets:
        assert secret not in message


def test_deploy_follows_the_triggered_deployment_to_success(railway_api: RailwayServer) -> None:
    previous = railway_api.previous_success_id
    release = target(railway_api).deploy("v1.4.0", commit="abc123")

    assert release.version == "v1.4.0"
    assert release.deployment_id == railway_api.deployments[0].id != previous
    assert railway_api.find(release.deployment_id).status == "SUCCESS"  # type: ignore[union-attr]
    assert railway_api.find(previous).status == "REMOVED"  # type: ignore[union-attr]
    deploy_call = railway_api.received[1]  # after the list of what existed before
    assert deploy_call.headers["Authorization"] == f"Bearer {ACCOUNT_TOKEN}"
    assert deploy_call.body["variables"] == {
        "serviceId": SERVICE,
        "environmentId": ENVIRONMENT,
        "commitSha": "abc123",
    }
    # Only the triggered id is followed, never "the latest".
    assert railway_api.operations == ["deployments", "serviceInstanceDeployV2"] + ["deployment"] * 3
    followed = {r.body["variables"]["id"] for r in railway_api.received[2:]}
    assert followed == {release.deployment_id}


def test_project_token_goes_in_project_access_token_header(railway_api: RailwayServer) -> None:
    railway = target(railway_api, token=PROJECT_TOKEN, token_kind="project")
    assert railway.variables() == {"DATABASE_URL": "postgres://db/app", "PORT": "8080"}
    headers = railway_api.received[0].headers
    assert headers["Project-Access-Token"] == PROJECT_TOKEN
    assert "Authorization" not in headers


def test_crashed_deploy_raises_with_log_lines_then_rolls_back(
    railway_api: RailwayServer,
) -> None:
    previous = railway_api.previous_success_id
    railway_api.crash_next = True
    railway = target(railway_api)

    with pytest.raises(RailwayDeployFailed) as failed:
        railway.deploy("v1.5.0")

    message = str(failed.value)
    assert_one_line(message, ACCOUNT_TOKEN)
    assert failed.value.status == "CRASHED"
    # Status and rollback first (GitHub keeps 140 characters), then the log tail.
    assert message.startswith(
        f"railway: deployment {failed.value.deployment_id} ended CRASHED; "
        f"rolled back to {previous}; logs: "
    )
    assert "Error: Cannot find module 'express'" in message
    assert "Build succeeded" in message

    # The target rolled back by itself, to the deployment that served before.
    assert railway_api.rollbacks == [previous]
    assert "deploymentRollback" in railway_api.operations
    assert railway_api.deployments[0].status == "SUCCESS"
    [serving] = railway.releases()
    assert serving.deployment_id == railway_api.deployments[0].id


def test_crashed_first_deploy_says_there_was_nothing_to_roll_back_to(
    railway_api: RailwayServer,
) -> None:
    railway_api.deployments.clear()
    railway_api.crash_next = True
    with pytest.raises(RailwayDeployFailed) as failed:
        target(railway_api).deploy("v1.0.0")
    assert "ended CRASHED; not rolled back (no earlier successful deployment" in str(failed.value)
    assert railway_api.rollbacks == []


def test_failed_build_quotes_the_build_log_and_rolls_nothing_back(
    railway_api: RailwayServer,
) -> None:
    """A FAILED build never replaced the serving deployment: no deploymentRollback (it would
    redeploy what already serves)."""
    railway_api.fail_build_next = True
    previous = railway_api.previous_success_id
    with pytest.raises(
        RailwayDeployFailed,
        match=rf"ended FAILED; not rolled back: it never replaced {previous}, which still "
        r"serves; logs: .*missing script: build",
    ):
        target(railway_api).deploy("v1.5.0")
    assert railway_api.rollbacks == []
    assert "deploymentRollback" not in railway_api.operations
    assert railway_api.previous_success_id == previous  # it serves, untouched


def test_failed_build_with_nothing_serving_before_rolls_nothing_back(
    railway_api: RailwayServer,
) -> None:
    railway_api.deployments[0].status = "REMOVED"  # nothing serves; REMOVED ones remain
    railway_api.fail_build_next = True
    with pytest.raises(RailwayDeployFailed, match="not rolled back: it never served, and nothing"):
        target(railway_api).deploy("v1.5.0")
    assert railway_api.rollbacks == []


def test_unknown_commit_is_one_line_and_nothing_is_rolled_back(railway_api: RailwayServer) -> None:
    railway_api.unknown_commits.add("deadbeef")
    with pytest.raises(TargetError) as failed:
        target(railway_api).deploy("v1.5.0", commit="deadbeef")
    assert str(failed.value) == "railway: serviceInstanceDeployV2 failed: Commit not found"
    assert railway_api.rollbacks == []


def test_release_url_is_public_url_else_the_railway_domain(railway_api: RailwayServer) -> None:
    release = target(railway_api).deploy("v1.4.0")
    assert release.url == f"https://{railway_api.static_domain}"
    custom = target(railway_api, public_url="https://shop.example/").deploy("v1.4.1")
    assert custom.url == "https://shop.example"


def test_429_with_retry_after_is_retried_then_succeeds(railway_api: RailwayServer) -> None:
    railway_api.fail("429", times=1)
    started = time.monotonic()
    assert target(railway_api).variables()["PORT"] == "8080"
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.0  # waited the Retry-After second, once
    assert len(railway_api.received) == 2


def test_429_on_a_mutation_is_retried_too(railway_api: RailwayServer) -> None:
    railway_api.fail("429", times=1)
    target(railway_api).upsert_variables({"FEATURE_X": "on"})
    assert railway_api.variables["FEATURE_X"] == "on"


def test_html_throttle_page_is_one_clear_error(railway_api: RailwayServer) -> None:
    railway_api.fail("html", times=None)
    with pytest.raises(TargetError) as failed:
        target(railway_api, max_retry_wait=0.05).deploy("v1.4.0")
    message = str(failed.value)
    assert_one_line(message, ACCOUNT_TOKEN)
    assert "HTML throttle or outage page (HTTP 503), not JSON" in message
    assert "<html" not in message.lower()
    # The deploy mutation is retried on a throttle page, within the bound.
    assert len(railway_api.received) == 3


def test_bad_token_is_one_line_without_the_token(
    railway_api: RailwayServer, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "rw-acct-Wrong7Token3Value9Xk2Lm5Pq8Rs1Tu4Vy"
    with pytest.raises(TargetError) as failed:
        target(railway_api, token=bad).deploy("v1.4.0")
    message = str(failed.value)
    assert_one_line(message, bad, ACCOUNT_TOKEN)
    assert "token in RAILWAY_TOKEN was rejected (Not Authorized)" in message
    printed = capsys.readouterr()
    assert bad not in printed.out + printed.err
    assert railway_api.operations == []  # nothing was carried out


def test_missing_token_variable_is_one_line(
    railway_api: RailwayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAILWAY_TOKEN_TEST", raising=False)
    with pytest.raises(TargetError, match="RAILWAY_TOKEN_TEST is not set"):
        RailwayTarget("production", settings(railway_api, token_env="RAILWAY_TOKEN_TEST"))


def test_unknown_service_id_is_one_line(railway_api: RailwayServer) -> None:
    with pytest.raises(TargetError) as failed:
        target(railway_api, service_id="svc-nope").deploy("v1.4.0")
    assert_one_line(str(failed.value), ACCOUNT_TOKEN)
    # The deployments are listed before the deploy mutation (what existed before it).
    assert str(failed.value) == "railway: deployments failed: Service not found"


def test_unknown_deployment_id_is_one_line(railway_api: RailwayServer) -> None:
    with pytest.raises(TargetError, match="deployment failed: Deployment not found"):
        target(railway_api).client.wait("dep-9999")


def test_timeout_on_a_query_is_retried_and_bounded(railway_api: RailwayServer) -> None:
    railway_api.fail("hang", times=1)
    started = time.monotonic()
    assert target(railway_api, request_timeout=0.3).variables()["PORT"] == "8080"
    assert time.monotonic() - started < 3.0


def test_timeout_on_the_deploy_mutation_is_not_resent(railway_api: RailwayServer) -> None:
    """No answer in time, and no deployment appeared: one line, nothing resent."""
    railway_api.fail("hang", times=1, match=mutation("serviceInstanceDeployV2"))
    started = time.monotonic()
    with pytest.raises(TargetError) as failed:
        target(railway_api, request_timeout=0.3).deploy("v1.4.0")
    assert str(failed.value) == (
        "railway: no answer came after serviceInstanceDeployV2 was sent, and no new deployment "
        "appeared within 0.3 s; not resent: check Railway before trying again"
    )
    assert time.monotonic() - started < 3.0
    assert railway_api.arrived("serviceInstanceDeployV2") == 1


def test_server_errors_retried_for_queries_not_for_mutations(railway_api: RailwayServer) -> None:
    railway_api.fail("502", times=1)
    assert target(railway_api).variables()["PORT"] == "8080"
    assert len(railway_api.received) == 2
    railway_api.fail("502", times=1, match=mutation("serviceInstanceDeployV2"))
    with pytest.raises(
        TargetError,
        match=r"^railway: the server answered HTTP 502 after serviceInstanceDeployV2 was sent, and "
        r"no new deployment appeared",
    ):
        target(railway_api).deploy("v1.4.0")
    assert railway_api.arrived("serviceInstanceDeployV2") == 1


def test_dropped_connection_after_the_deploy_mutation_adopts_its_deployment(
    railway_api: RailwayServer,
) -> None:
    """Railway received serviceInstanceDeployV2 and created the deployment, then the connection
    dropped before the answer: exactly one mutation arrives, and the deploy follows the
    deployment that appeared."""
    railway_api.drop_after(mutation("serviceInstanceDeployV2"))
    notes: list[str] = []
    railway = RailwayTarget(
        "production", settings(railway_api), token=ACCOUNT_TOKEN, notice=notes.append
    )

    release = railway.deploy("v1.4.0", commit="abc123")

    assert railway_api.arrived("serviceInstanceDeployV2") == 1
    assert len(railway_api.dropped) == 1
    created = railway_api.deployments[0]
    assert release.deployment_id == created.id and created.status == "SUCCESS"
    assert notes == [
        "railway: the connection dropped after serviceInstanceDeployV2 was sent; adopted "
        f"deployment {created.id} created at {created.created_at}"
    ]


def test_dropped_deploy_mutation_with_two_new_deployments_fails_clearly(
    railway_api: RailwayServer,
) -> None:
    """Another deploy started meanwhile: which deployment is ours cannot be told; nothing is
    adopted or resent."""
    railway = target(railway_api)
    before = railway.client.deployments()
    railway_api.deployments.insert(0, railway_api._new("BUILDING"))  # someone else's
    railway_api.drop_after(mutation("serviceInstanceDeployV2"))
    with pytest.raises(TargetError) as failed:
        railway.client.deploy(None, known=before)
    message = str(failed.value)
    assert message.startswith(
        "railway: the connection dropped after serviceInstanceDeployV2 was sent, and 2 "
        "deployments appeared since ("
    )
    assert message.endswith(
        "cannot tell which is this request's; not resent: check Railway before trying again"
    )
    assert railway_api.arrived("serviceInstanceDeployV2") == 1


def test_dropped_rollback_is_adopted_not_resent(railway_api: RailwayServer) -> None:
    railway = target(railway_api)
    railway.deploy("v1.4.0")
    previous = railway_api.deployments[1].id  # the one v1.4.0 replaced (REMOVED)
    railway_api.drop_after(mutation("deploymentRollback"))

    assert railway.rollback() == previous

    assert railway_api.arrived("deploymentRollback") == 1
    assert railway_api.rollbacks == [previous]
    assert railway.client.notes[-1].startswith(
        f"railway: the connection dropped after deploymentRollback to {previous} was sent; "
        "adopted deployment "
    )


def test_dropped_upsert_is_confirmed_by_reading_back(railway_api: RailwayServer) -> None:
    railway = target(railway_api)
    railway_api.drop_after(mutation("variableCollectionUpsert"))
    railway.upsert_variables({"FEATURE_X": "on"})
    assert railway_api.arrived("variableCollectionUpsert") == 1
    assert railway_api.variables["FEATURE_X"] == "on"
    assert railway.client.notes == [
        "railway: the connection dropped after variableCollectionUpsert was sent; the "
        "variables read back hold the new values: it was carried out"
    ]


def test_unanswered_upsert_is_resent_once_only_with_skip_deploys(
    railway_api: RailwayServer,
) -> None:
    upsert = mutation("variableCollectionUpsert")
    # Not carried out (the server never answered nor applied it): with skipDeploys, setting
    # the same values again cannot redeploy, so it is sent once more.
    railway_api.fail("hang", times=1, match=upsert)
    railway = target(railway_api, request_timeout=0.3)
    railway.upsert_variables({"FEATURE_X": "on"})
    assert railway_api.arrived("variableCollectionUpsert") == 2
    assert [u["variables"] for u in railway_api.upserts] == [{"FEATURE_X": "on"}]

    # Without skipDeploys a resend could start a second deployment: one line instead.
    railway_api.fail("hang", times=1, match=upsert)
    with pytest.raises(TargetError) as failed:
        railway.upsert_variables({"FEATURE_Y": "on"}, skip_deploys=False)
    assert str(failed.value) == (
        "railway: no answer came after variableCollectionUpsert was sent, and the variables do "
        "not hold the new values; not resent (without skipDeploys a resend could redeploy)"
    )
    assert railway_api.arrived("variableCollectionUpsert") == 3


def test_queries_are_retried_after_a_dropped_connection(railway_api: RailwayServer) -> None:
    railway_api.drop_after(lambda r: "query variables" in str(r.body))
    assert target(railway_api).variables()["PORT"] == "8080"
    assert len(railway_api.received) == 2


def test_mutation_retried_after_503_and_429_which_refuse_it(railway_api: RailwayServer) -> None:
    deploy = mutation("serviceInstanceDeployV2")
    railway_api.fail("503", times=1, match=deploy)
    railway_api.fail("429", times=1, match=deploy)  # Retry-After: 1
    release = target(railway_api).deploy("v1.4.0")
    assert railway_api.arrived("serviceInstanceDeployV2") == 3
    assert railway_api.operations.count("serviceInstanceDeployV2") == 1  # carried out once
    assert release.deployment_id == railway_api.deployments[0].id


def test_gives_up_after_bounded_retries(railway_api: RailwayServer) -> None:
    railway_api.fail("500", times=None)
    with pytest.raises(TargetError, match="gave up after 3 attempts: server error"):
        target(railway_api).variables()
    assert len(railway_api.received) == 3


def test_variables_upsert_skips_deploys(railway_api: RailwayServer) -> None:
    railway = target(railway_api)
    railway.upsert_variables({"NEXTAUTH_URL": "https://shop.example"})
    upsert = railway_api.upserts[0]
    assert upsert["skipDeploys"] is True
    assert upsert["variables"] == {"NEXTAUTH_URL": "https://shop.example"}
    assert (upsert["projectId"], upsert["environmentId"], upsert["serviceId"]) == (
        PROJECT,
        ENVIRONMENT,
        SERVICE,
    )
    assert railway.variables()["NEXTAUTH_URL"] == "https://shop.example"


def test_releases_is_alive_and_stop(railway_api: RailwayServer, tmp_path: Path) -> None:
    railway = RailwayTarget(
        "production", settings(railway_api), tmp_path, tmp_path, token=ACCOUNT_TOKEN
    )
    old = railway.deploy("v1")
    new = railway.deploy("v2")
    # The version each deployment runs is remembered; Railway only knows ids.
    assert [r.version for r in railway.releases()] == ["v2"]
    assert railway.is_alive(new)
    assert not railway.is_alive(old)  # replaced: REMOVED

    # Stopping a release that a newer one replaced changes nothing (promote does that).
    railway.stop(old)
    assert railway_api.rollbacks == []
    # Stopping the serving release rolls back to the one before it: never nothing serving.
    railway.stop(new)
    assert railway_api.rollbacks == [old.deployment_id]
    assert not railway.is_alive(new)
    [serving] = railway.releases()
    assert serving.version == "v1"
    assert serving.deployment_id not in (old.deployment_id, new.deployment_id)

    railway.down()
    assert railway.releases() == []
    assert "deploymentRemove" in railway_api.operations


def test_stop_without_an_earlier_deployment_removes_it(railway_api: RailwayServer) -> None:
    railway_api.deployments.clear()
    railway = target(railway_api)
    release = railway.deploy("v1")
    railway.stop(release)
    assert railway_api.rollbacks == []
    assert railway_api.operations[-1] == "deploymentRemove"
    assert railway.releases() == []


def test_is_alive_asks_railway_once_per_poll_interval(railway_api: RailwayServer) -> None:
    now = [100.0]
    railway = RailwayTarget(
        "production",
        settings(railway_api, poll_interval=3.0),
        token=ACCOUNT_TOKEN,
        clock=lambda: now[0],
    )
    [release] = railway.releases()
    asked = railway_api.operations.count("deployment")
    assert all(railway.is_alive(release) for _ in range(30))  # the bake loop's 0.1 s polls
    assert railway_api.operations.count("deployment") == asked + 1
    now[0] += 3.0
    assert railway.is_alive(release)
    assert railway_api.operations.count("deployment") == asked + 2


def test_server_rejects_malformed_requests(railway_api: RailwayServer) -> None:
    auth = {"Authorization": f"Bearer {ACCOUNT_TOKEN}"}
    url = railway_api.graphql_url
    no_query = httpx.post(url, json={"variables": {}}, headers=auth)
    unknown = httpx.post(url, json={"query": "query x { nope }", "variables": {}}, headers=auth)
    missing = httpx.post(
        url,
        json={
            "query": "query deployment($id: String!) { deployment(id: $id) { id } }",
            "variables": {},
        },
        headers=auth,
    )
    no_auth = httpx.post(
        url,
        json={
            "query": "query variables { variables }",
            "variables": {"projectId": PROJECT, "environmentId": ENVIRONMENT},
        },
    )
    assert [r.status_code for r in (no_query, unknown, missing, no_auth)] == [400, 400, 400, 401]


def test_a_rotation_sets_one_variable_without_a_deploy_of_its_own(
    railway_api: RailwayServer,
) -> None:
    # Where a release reads its secrets on Railway: the secret store of the platform's
    # variables writes through set_variable (a secret rotation's new value), and the value
    # is registered with the redaction before it leaves.
    from safeship.redaction import redact
    from safeship.secrets.env import EnvironmentVariables

    value = "rotated-jwt-key-0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e"
    store = EnvironmentVariables("production", target(railway_api))
    store.write("JWT_SECRET", value)
    assert railway_api.variables["JWT_SECRET"] == value
    assert [u["skipDeploys"] for u in railway_api.upserts] == [True]
    assert store.read("JWT_SECRET") == value
    assert value not in redact(f"the key is {value}")
