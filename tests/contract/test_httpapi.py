"""safeship.httpapi against a loopback server: a request that may have been carried out is
never sent twice; one that provably was not (connection refused, 429, 503) is retried."""

from __future__ import annotations

import pytest
from railway_api import ACCOUNT_TOKEN, ENVIRONMENT, SERVICE, RailwayServer, mutation

from safeship.httpapi import ApiError, JsonApi, RetryPolicy

DEPLOY = {
    "query": "mutation serviceInstanceDeployV2($serviceId: String!, $environmentId: String!) "
    "{ serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId) }",
    "variables": {"serviceId": SERVICE, "environmentId": ENVIRONMENT},
}


def api(sleep: object = None, attempts: int = 4) -> JsonApi:
    return JsonApi(
        "railway",
        {"Authorization": f"Bearer {ACCOUNT_TOKEN}"},
        timeout=2.0,
        retry=RetryPolicy(attempts=attempts, backoff=0.01, max_wait=2.0),
        secrets=[ACCOUNT_TOKEN],
        sleep=sleep or (lambda _: None),  # type: ignore[arg-type]
    )


def test_mutation_is_retried_when_the_connection_was_refused() -> None:
    """Connection refused: nothing was sent, so trying again cannot deploy twice."""
    server = RailwayServer()  # its port is chosen, nothing listens yet
    waits: list[float] = []

    def start_listening(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            server.start()

    client = api(start_listening)
    try:
        status, body = client.request("POST", server.graphql_url, json=DEPLOY, idempotent=False)
        assert status == 200 and body["data"]["serviceInstanceDeployV2"].startswith("dep-")
        assert len(waits) == 2  # refused twice, then answered
        assert server.arrived("serviceInstanceDeployV2") == 1
    finally:
        client.close()
        server.stop()


def test_mutation_dropped_after_it_was_sent_is_not_resent(railway_api: RailwayServer) -> None:
    """The old client resent on every transport error: 4 deployments for one deploy."""
    railway_api.drop_after(mutation("serviceInstanceDeployV2"))
    client = api()
    with pytest.raises(ApiError) as failed:
        client.request("POST", railway_api.graphql_url, json=DEPLOY, idempotent=False)
    client.close()
    assert failed.value.maybe_applied
    assert str(failed.value) == (
        "railway: the connection to 127.0.0.1 dropped (RemoteProtocolError) after the request "
        "was sent (not resent: it may have been carried out)"
    )
    assert railway_api.arrived("serviceInstanceDeployV2") == 1
    assert railway_api.operations.count("serviceInstanceDeployV2") == 1


def test_idempotent_request_is_retried_after_a_drop(railway_api: RailwayServer) -> None:
    railway_api.drop_after(mutation("serviceInstanceDeployV2"))
    client = api()
    # Marked idempotent by the caller (as a query is): a drop is retried.
    status, _ = client.request("POST", railway_api.graphql_url, json=DEPLOY, idempotent=True)
    client.close()
    assert status == 200 and len(railway_api.received) == 2


@pytest.mark.parametrize("fault", ["500", "502"])
def test_mutation_answered_5xx_is_ambiguous(railway_api: RailwayServer, fault: str) -> None:
    railway_api.fail(fault, times=1)
    client = api()
    with pytest.raises(ApiError) as failed:
        client.request("POST", railway_api.graphql_url, json=DEPLOY, idempotent=False)
    client.close()
    assert failed.value.maybe_applied and failed.value.status == int(fault)
    assert len(railway_api.received) == 1


def test_mutation_retried_after_503_honours_retry_after(railway_api: RailwayServer) -> None:
    railway_api.fail("429", times=1)  # Retry-After: 1
    railway_api.fail("503", times=1)
    waits: list[float] = []
    client = api(waits.append)
    status, _ = client.request("POST", railway_api.graphql_url, json=DEPLOY, idempotent=False)
    client.close()
    assert status == 200
    assert waits[0] == pytest.approx(1.0, abs=0.05)  # the server's Retry-After
    assert railway_api.arrived("serviceInstanceDeployV2") == 3
    assert railway_api.operations.count("serviceInstanceDeployV2") == 1
