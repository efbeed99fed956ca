"""The live streams over a real server (uvicorn): a state change recorded in the registry
reaches a stream's client within a second; heartbeats, bounds and `safeship serve`."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from safeship._processes import free_port
from safeship.dashboard import create_app
from safeship.dashboard import live as live_module
from safeship.registry import Registry
from testing.browser import serve_app
from testing.dashboard import seed_project

TIMEOUT = 5.0


def _next_state(lines: object, deadline: float) -> dict[str, object]:
    """The next ``event: state`` of an SSE line iterator, as JSON (bounded by ``deadline``)."""
    event = None
    for line in lines:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "state":
            loaded: dict[str, object] = json.loads(line.removeprefix("data: "))
            return loaded
    raise AssertionError("no state event before the deadline")


def test_a_registry_change_reaches_the_stream_within_a_second(tmp_path: Path) -> None:
    project = seed_project(tmp_path)
    app = create_app(project.loaded)
    with (
        serve_app(app) as base,
        httpx.Client(base_url=base, timeout=TIMEOUT) as client,
        client.stream("GET", f"/api/deployments/{project.running}/stream") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = _next_state(lines, time.monotonic() + TIMEOUT)
        assert first["state"] == "progressing at 50%"
        assert first["terminal"] is False
        delays = []
        with Registry(project.loaded.registry_url()) as registry:
            for change in (
                {"current_step": 100},
                {"status": "rolled_back", "rollback_reason": "error rate", "rollback_rule": "x"},
            ):
                changed_at = time.monotonic()
                registry.update_deployment(project.running, **change)
                state = _next_state(lines, changed_at + TIMEOUT)
                delays.append(time.monotonic() - changed_at)
                if "status" in change:
                    assert state["status"] == "rolled_back" and state["terminal"] is True
                    assert state["rollbackRule"] == "x"
                else:
                    assert state["currentStep"] == 100
        assert max(delays) < 1.0, delays
    overview = app.state.live
    assert overview.open_streams == 0  # the stream's end unsubscribed it


def test_overview_stream_sends_each_environment_and_a_bad_id_is_400(tmp_path: Path) -> None:
    project = seed_project(tmp_path)
    with (
        serve_app(create_app(project.loaded)) as base,
        httpx.Client(base_url=base, timeout=TIMEOUT) as client,
    ):
        with client.stream("GET", "/api/stream") as stream:
            state = _next_state(stream.iter_lines(), time.monotonic() + TIMEOUT)
        environments = {e["environment"]: e for e in state["environments"]}  # type: ignore[attr-defined]
        assert environments["production"]["running"]["id"] == project.running
        assert environments["staging"]["running"] is None
        bad = client.get("/api/deployments/nope/stream")
        assert bad.status_code == 400 and bad.json() == {"detail": "not a deployment id: 'nope'"}


def test_streams_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = seed_project(tmp_path)
    monkeypatch.setattr(live_module, "MAX_STREAMS", 1)
    monkeypatch.setattr(live_module, "HEARTBEAT", 0.2)
    with (
        serve_app(create_app(project.loaded)) as base,
        httpx.Client(base_url=base, timeout=TIMEOUT) as client,
        client.stream("GET", "/api/stream") as stream,
    ):
        lines = stream.iter_lines()
        _next_state(lines, time.monotonic() + TIMEOUT)
        refused = client.get("/api/stream")
        assert refused.status_code == 503
        assert refused.json()["detail"] == "too many live streams open (at most 1)"
        heartbeat = next(line for line in lines if line.startswith(":"))  # nothing changes
        assert heartbeat == ": heartbeat"


def test_safeship_serve_refuses_a_public_address_and_stops_on_sigterm(tmp_path: Path) -> None:
    project = seed_project(tmp_path)
    config = str(project.loaded.path)
    command = [sys.executable, "-m", "safeship", "serve", "--config", config, "--no-jobs"]
    refused = subprocess.run(
        [*command, "--host", "0.0.0.0"], capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()  # one line, from security.bind_problem
    assert line.startswith("refusing to listen on 0.0.0.0: no one could sign in there.")
    port = free_port()
    server = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.strip() == (
            f"safeship dashboard for {config} on http://127.0.0.1:{port}/ (Ctrl-C stops it)"
        )
        deadline = time.monotonic() + 15
        while True:  # bounded: until it answers or the deadline
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/dashboard", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "safeship serve did not answer"
                time.sleep(0.1)
        assert set(answer.json()["environments"]) == {"production", "staging"}
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
        server.wait(timeout=10)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        busy = subprocess.run(
            [*command, "--port", str(busy_port)], capture_output=True, text=True, timeout=30
        )
    assert busy.returncode == 2
    assert busy.stderr.strip() == f"cannot listen on 127.0.0.1:{busy_port}: Address already in use"
