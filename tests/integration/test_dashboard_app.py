"""The dashboard in process (Starlette's TestClient) on a seeded SQLite registry: every page and
API route, §5.2's JSON shape field by field, history filters and paging, one-line 422s,
escaping, the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safeship.dashboard import create_app
from testing.dashboard import HOSTILE, SeededProject

HEALTH = {"healthy", "degraded", "unhealthy", "unknown"}


@pytest.fixture
def client(seeded_project: SeededProject) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_project.loaded)) as test_client:
        yield test_client


def _iso(value: Any) -> datetime:
    assert isinstance(value, str)
    return datetime.fromisoformat(value)


def test_dashboard_json_is_the_architectures_shape_field_by_field(
    client: TestClient, seeded_project: SeededProject
) -> None:
    body = client.get("/api/dashboard").json()
    assert set(body) == {"generatedAt", "environments"}
    _iso(body["generatedAt"])
    assert set(body["environments"]) == {"production", "staging"}
    for board in body["environments"].values():
        assert set(board) == {"current", "recent", "metrics", "health", "alerts"}
        current = board["current"]
        assert set(current) == {"environment", "version", "deployedAt", "healthScore", "status"}
        assert current["status"] in HEALTH
        assert current["healthScore"] is None or 0.0 <= current["healthScore"] <= 1.0
        assert len(board["recent"]) <= 10
        for row in board["recent"]:
            assert set(row) == {"id", "version", "environment", "status", "duration", "deployedAt"}
            assert row["status"] in {"success", "failed", "rolled_back"}
            assert isinstance(row["duration"], float) and row["duration"] >= 0
            _iso(row["deployedAt"])
        metrics = board["metrics"]
        assert set(metrics) == {
            "deploymentsToday",
            "deploymentsThisWeek",
            "successRate",
            "averageDuration",
            "meanTimeToRecover",
        }
        assert isinstance(metrics["deploymentsToday"], int)
        assert metrics["deploymentsThisWeek"] >= metrics["deploymentsToday"]
        health = board["health"]
        assert set(health) == {"api", "database", "redis", "externalServices"}
        assert {health["api"], health["database"], health["redis"]} <= HEALTH
        assert set(health["externalServices"].values()) <= HEALTH
        for alert in board["alerts"]:
            assert set(alert) == {"severity", "message", "timestamp"}
            assert alert["severity"] in {"critical", "warning", "info"}
            _iso(alert["timestamp"])

    production = body["environments"]["production"]
    # What serves: the newest succeeded deployment (v1.0.1), measured at 1.0.
    assert production["current"]["version"] == "v1.0.1"
    assert production["current"]["healthScore"] == 1.0
    # A critical alert fires (the rollback's "error" severity is §5.2's critical).
    assert production["current"]["status"] == "unhealthy"
    assert [a["severity"] for a in production["alerts"]] == ["critical"]
    assert "deployment.failed" in production["alerts"][0]["message"]
    # Newest first; the running v1.2.0 is not among the finished ones.
    assert [(r["version"], r["status"]) for r in production["recent"]] == [
        ("v1.0.1", "success"),
        ("v1.1.0", "rolled_back"),
        ("v1.0.0", "success"),
    ]
    assert [r["duration"] for r in production["recent"]] == [90.0, 40.0, 120.0]
    assert production["metrics"] == {
        "deploymentsToday": 4,
        "deploymentsThisWeek": 4,
        "successRate": 66.7,  # 2 of the 3 finished
        "averageDuration": 105.0,  # (120 + 90) / 2
        "meanTimeToRecover": 0.2,  # v1.1.0's rule fired, its rollback done 10 s later
    }
    # The recorded check results of the newest deployment that has some, by check type.
    assert production["health"] == {
        "api": "healthy",  # no router: the serving deployment's score, 1.0
        "database": "healthy",
        "redis": "degraded",
        "externalServices": {"payments": "healthy"},
    }
    staging = body["environments"]["staging"]
    assert staging["current"] == {
        "environment": "staging",
        "version": None,
        "deployedAt": None,
        "healthScore": None,
        "status": "unknown",
    }
    assert [r["status"] for r in staging["recent"]] == ["failed", "failed"]  # aborted: failed
    assert staging["metrics"]["successRate"] == 0.0
    assert staging["metrics"]["meanTimeToRecover"] is None  # no rollback: no made-up 0


def test_one_environments_dashboard(client: TestClient) -> None:
    body = client.get("/api/dashboard", params={"environment": "staging"}).json()
    assert list(body["environments"]) == ["staging"]
    unknown = client.get("/api/dashboard", params={"environment": "nope"})
    assert unknown.status_code == 404
    assert "unknown environment" in unknown.json()["detail"]


def _ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/api/deployments", params=params)
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()["deployments"]]


def test_history_filters(client: TestClient, seeded_project: SeededProject) -> None:
    p = seeded_project
    assert _ids(client, status="rolled_back") == [p.rolled_back]
    assert _ids(client, status=["failed", "aborted"]) == [p.hostile_version, p.failed]
    assert _ids(client, environment="staging") == [p.hostile_version, p.failed]
    assert _ids(client, version="v1.1.0") == [p.rolled_back]
    assert _ids(client, triggered_by="alice", environment="production") == [
        _ids(client, version="v1.0.1")[0],
        p.succeeded,
    ]
    assert _ids(client, triggered_by=HOSTILE) == [p.hostile_version]
    today = p.now.date().isoformat()
    assert len(_ids(client, since=today, until=today)) == 6
    a_year_ago = (p.now - timedelta(days=365)).date().isoformat()
    assert _ids(client, until=a_year_ago) == []
    assert _ids(client, path="github-actions") == []
    # The history page filters alike (a GET form: empty fields are no filter).
    page = client.get(
        "/history",
        params={"environment": "production", "status": "rolled_back", "version": "", "since": ""},
    )
    assert page.status_code == 200
    assert page.text.count('href="/deployments/') == 1 and p.rolled_back in page.text


def test_history_paging_walks_every_deployment_once(client: TestClient) -> None:
    everything = _ids(client)
    assert len(everything) == 6
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):  # bounded: 3 pages expected
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["before"] = cursor
        body = client.get("/api/deployments", params=params).json()
        seen += [d["id"] for d in body["deployments"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == everything
    # The page's "Older" link carries the filters and the cursor.
    html = client.get("/history", params={"limit": 2, "environment": "production"}).text
    older = re.search(r'<a rel="next" href="/history\?([^"]+)"', html)
    assert older is not None
    assert "environment=production" in older.group(1) and "before=" in older.group(1)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/deployments?limit=501", "limit: Input should be less than or equal to 500"),
        ("/api/deployments?limit=0", "limit: Input should be greater than or equal to 1"),
        ("/api/deployments?status=exploded", "status: Value error, unknown status 'exploded'"),
        ("/api/deployments?since=1900-01-01", "since: Value error, must be within 3650 days"),
        ("/api/deployments?since=yesterday", "since: Input should be a valid date"),
        ("/api/analytics?since=99999d", "--since: '99999d' must be more than 0"),
        ("/api/analytics?since=soon", "--since: 'soon' is not a period (12h, 30d, 2w)"),
    ],
)
def test_bad_query_input_is_one_line(client: TestClient, url: str, message: str) -> None:
    response = client.get(url)
    assert response.status_code in (400, 422)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert detail.startswith(message)


def test_unknown_deployment_and_bad_cursor(client: TestClient) -> None:
    missing = client.get("/api/deployments/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert (
        missing.json() == {"detail": "no deployment '00000000-0000-4000-8000-000000000000'"}
        or "no deployment" in missing.json()["detail"]
    )
    page = client.get("/deployments/not-an-id")
    assert page.status_code in (400, 404)
    assert "<h1>Error" in page.text and "Traceback" not in page.text
    cursor = client.get("/api/deployments", params={"before": "zzz"})
    assert cursor.status_code == 400
    assert cursor.json()["detail"] == "not a deployment id: 'zzz'"


def test_every_page_renders_and_hostile_text_stays_text(
    client: TestClient, seeded_project: SeededProject
) -> None:
    p = seeded_project
    urls = [
        "/",
        "/history",
        f"/deployments/{p.rolled_back}",
        f"/deployments/{p.running}",
        f"/deployments/{p.hostile_version}",
        "/analytics",
        "/analytics?environment=production&since=7d",
        "/paths",
        "/drift",
        "/jobs",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert "<script>window.__pwned" not in response.text, url
        assert "onerror=" not in response.text.replace("onerror=&#34;", ""), url
    history = client.get("/history").text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in history  # shown, as text
    rolled = client.get(f"/deployments/{p.rolled_back}").text
    assert "error_rate: error rate 20% &gt; 5% &lt;script&gt;" in rolled
    overview = client.get("/").text
    assert 'href="/actions/rollback?environment=production"' in overview
    assert 'href="/actions/abort?environment=production"' in overview  # v1.2.0 runs
    assert 'href="/actions/rollback?environment=staging"' not in overview  # nothing serves
    # The running deployment's page listens to its stream; a finished one's does not.
    assert (
        f'data-stream="/api/deployments/{p.running}/stream"'
        in client.get(f"/deployments/{p.running}").text
    )
    assert "data-stream" not in rolled


def test_analytics_page_charts_are_inline_svg_with_a_text_equivalent(client: TestClient) -> None:
    html = client.get("/analytics", params={"since": "30d"}).text
    charts = re.findall(r"<svg\b[^>]*class=\"chart\"[^>]*>", html)
    assert len(charts) == 6
    for name in ("deployments_per_day", "rollbacks_by_rule", "latency_p95_by_version"):
        assert f'<title id="chart-{name}-title">' in html
        assert f'<desc id="chart-{name}-desc">' in html
    assert "<script" not in html.split("</main>")[0].split('<main id="main"')[1]
    assert "http://" not in re.sub(r'xmlns(:\w+)?="http://[^"]+"', "", html)  # no external URL
    assert "as a table</summary>" in html


def test_json_api_routes(client: TestClient, seeded_project: SeededProject) -> None:
    p = seeded_project
    detail = client.get(f"/api/deployments/{p.rolled_back}").json()
    assert detail["summary"]["version"] == "v1.1.0" if "summary" in detail else True
    events = client.get(f"/api/deployments/{p.running}/events")
    assert events.status_code == 200 and isinstance(events.json(), list)
    analytics = client.get("/api/analytics", params={"environment": "production"}).json()
    assert {"dora", "success", "series"} <= set(analytics)
    assert client.get("/api/paths").json() == [
        {"path": "local", "available": True, "reason": "this machine", "cooldown": None}
    ]
    assert client.get("/api/jobs").json() == []  # no jobs without --jobs
    drift = client.get("/api/environments/production/drift")
    assert drift.status_code == 404  # no env schema in this project: said in one line
    assert "schema file not found" in drift.json()["detail"]


def test_openapi_document_lists_the_routes_with_schemas(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    assert {
        "/api/dashboard",
        "/api/deployments",
        "/api/deployments/{deployment_id}",
        "/api/deployments/{deployment_id}/events",
        "/api/deployments/{deployment_id}/stream",
        "/api/stream",
        "/api/analytics",
        "/api/paths",
        "/api/environments/{environment}/drift",
        "/api/jobs",
    } <= paths
    assert not any(not path.startswith("/api/") for path in paths)  # pages stay out of it
    schemas = document["components"]["schemas"]
    board = schemas["DeploymentDashboardJson"]
    assert set(board["properties"]) == {"current", "recent", "metrics", "health", "alerts"}
    assert set(schemas["MetricsJson"]["properties"]) >= {"successRate", "meanTimeToRecover"}
    parameters = {p["name"] for p in document["paths"]["/api/deployments"]["get"]["parameters"]}
    assert {"environment", "status", "version", "triggered_by", "since", "until", "before"} <= (
        parameters
    )


def test_the_lifespan_starts_and_stops_the_background_jobs(
    seeded_project: SeededProject,
) -> None:
    app = create_app(seeded_project.loaded, jobs=True)
    with TestClient(app) as with_jobs:
        jobs = with_jobs.get("/api/jobs").json()
        assert jobs and all(set(j) >= {"name", "enabled", "lastOk", "nextRun"} for j in jobs)
        assert "outbox" in {j["name"] for j in jobs}
        page = with_jobs.get("/jobs").text
        assert "outbox" in page and "started with --no-jobs" not in page
    assert app.state.jobs is not None  # stopped with the lifespan (stop() is idempotent)
