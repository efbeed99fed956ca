"""The circleci path against the loopback CircleCI v2 server."""

from __future__ import annotations

import time
from typing import Any

import pytest
from circleci_api import SLUG, TOKEN, CircleCIServer
from loopback import Received

from safeship.paths.base import PathError
from safeship.paths.circleci import CircleCIPath
from safeship.paths.settings import CircleCIPathSettings


def path(server: CircleCIServer, token: str = TOKEN, **overrides: Any) -> CircleCIPath:
    values: dict[str, Any] = {
        "project_slug": SLUG,
        "api_url": server.url,
        "poll_interval": 0.01,
        "request_timeout": 0.3,
        "retries": 1,
        "max_retry_wait": 2.0,
        "run_timeout": 5.0,
    }
    values.update(overrides)
    return CircleCIPath(CircleCIPathSettings(**values), token=token)


def test_trigger_and_follow_to_success(circleci_api: CircleCIServer) -> None:
    circle = path(circleci_api)
    assert circle.is_available().ok
    pipeline_id = circle.trigger("v1.4.0", "abc123", "staging")
    outcome = circle.follow(pipeline_id)
    assert (outcome.ok, outcome.conclusion) == (True, "success")
    [pipeline] = circleci_api.pipelines.values()
    assert pipeline.body == {
        "branch": "main",
        "parameters": {"version": "v1.4.0", "environment": "staging", "commit": "abc123"},
    }
    trigger = circleci_api.calls(f"/project/{SLUG}/pipeline")[0]
    assert trigger.headers["Circle-Token"] == TOKEN


@pytest.mark.parametrize(
    ("status", "started"),
    [
        ("failed", True),
        ("error", True),
        ("canceled", True),
        ("not_run", False),
        ("unauthorized", False),
    ],
)
def test_terminal_workflow_statuses(
    circleci_api: CircleCIServer, status: str, started: bool
) -> None:
    circleci_api.next_outcome = status
    circle = path(circleci_api)
    outcome = circle.follow(circle.trigger("v1.4.0", None, "staging"))
    assert (outcome.ok, outcome.conclusion, outcome.started) == (False, status, started)


def test_bad_token_is_unavailable_one_line_without_the_token(
    circleci_api: CircleCIServer,
) -> None:
    bad = "circle-Wr0ngT0kenWr0ngT0kenWr0ngT0ken1"
    availability = path(circleci_api, token=bad).is_available()
    assert not availability.ok
    assert availability.reason == (
        "circleci: the credentials were rejected (HTTP 401: Invalid token provided.)"
    )
    assert bad not in availability.reason


def test_unknown_project_and_pipeline_are_one_line_errors(circleci_api: CircleCIServer) -> None:
    with pytest.raises(PathError, match=r"^circleci: HTTP 404: Project not found$"):
        path(circleci_api, project_slug="gh/acme/nope").trigger("v1", None, "staging")
    with pytest.raises(PathError, match=r"^circleci: HTTP 404: Pipeline not found$"):
        path(circleci_api).follow("5c1b8c1e-0000-4000-8000-00000000dead")


def test_429_retried_then_succeeds(circleci_api: CircleCIServer) -> None:
    circleci_api.fail("429", times=1)
    started = time.monotonic()
    pipeline_id = path(circleci_api).trigger("v1.4.0", None, "staging")
    assert pipeline_id in circleci_api.pipelines
    assert 0.9 <= time.monotonic() - started < 3.0


def is_trigger(received: Received) -> bool:
    return received.method == "POST" and received.path.endswith("/pipeline")


def test_hang_on_trigger_is_not_resent(circleci_api: CircleCIServer) -> None:
    circleci_api.fail("hang", times=1, match=is_trigger)
    with pytest.raises(PathError) as failed:
        path(circleci_api, reconcile_timeout=0.5).trigger("v1.4.0", None, "staging")
    assert str(failed.value) == (
        "circleci: no answer came after the pipeline trigger was sent, and no new pipeline "
        "appeared within 0.5 s; not resent: check circleci before trying again"
    )
    assert circleci_api.pipelines == {}
    assert len([r for r in circleci_api.received if is_trigger(r)]) == 1


def test_dropped_trigger_adopts_the_pipeline_it_created(circleci_api: CircleCIServer) -> None:
    """CircleCI created the pipeline, then the connection dropped before the answer: one
    trigger arrives, and the pipeline that appeared is followed."""
    circleci_api.drop_after(is_trigger)
    notes: list[str] = []
    circle = CircleCIPath(
        CircleCIPathSettings(
            project_slug=SLUG, api_url=circleci_api.url, poll_interval=0.01, request_timeout=0.5
        ),
        token=TOKEN,
        notice=notes.append,
    )

    pipeline_id = circle.trigger("v1.4.0", "abc123", "staging")

    [pipeline] = circleci_api.pipelines.values()
    assert pipeline_id == pipeline.id
    assert len([r for r in circleci_api.received if is_trigger(r)]) == 1
    assert notes == [
        "circleci: the connection dropped after the pipeline trigger was sent; adopted "
        f"pipeline {pipeline.id} created at {pipeline.created_at}"
    ]
    assert circle.follow(pipeline_id).ok


def test_5xx_while_following_is_retried(circleci_api: CircleCIServer) -> None:
    circle = path(circleci_api)
    pipeline_id = circle.trigger("v1.4.0", None, "staging")
    circleci_api.fail("503", times=1)
    assert circle.follow(pipeline_id).ok


def test_html_outage_page_is_one_clear_error(circleci_api: CircleCIServer) -> None:
    circleci_api.fail("html", times=None)
    availability = path(circleci_api, max_retry_wait=0.01).is_available()
    assert not availability.ok
    assert "HTML throttle or outage page (HTTP 503), not JSON" in availability.reason


def test_server_rejects_malformed_trigger(circleci_api: CircleCIServer) -> None:
    import httpx

    url = f"{circleci_api.url}/api/v2/project/{SLUG}/pipeline"
    headers = {"Circle-Token": TOKEN}
    both = httpx.post(url, json={"branch": "main", "tag": "v1"}, headers=headers)
    neither = httpx.post(url, json={"parameters": {}}, headers=headers)
    no_token = httpx.post(url, json={"branch": "main"})
    assert [both.status_code, neither.status_code, no_token.status_code] == [400, 400, 401]


def test_github_app_projects_trigger_through_their_pipeline_definition(
    circleci_api: CircleCIServer,
) -> None:
    circle = path(circleci_api, definition_id="6cb29b00-8e02-4357-8bc0-313983bf1f46")
    outcome = circle.follow(circle.trigger("v1.4.0", "abc123", "production"))
    assert outcome.ok
    [pipeline] = circleci_api.pipelines.values()
    assert pipeline.body == {
        "definition_id": "6cb29b00-8e02-4357-8bc0-313983bf1f46",
        "config": {"branch": "main"},
        "checkout": {"branch": "main"},
        "parameters": {"version": "v1.4.0", "environment": "production", "commit": "abc123"},
    }
    assert circleci_api.calls("/pipeline/run")
