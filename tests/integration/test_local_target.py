"""LocalTarget with real processes: the demo app deployed, probed over HTTP and stopped.

Every process a test starts carries a unique SAFESHIP_TEST_MARKER in its environment (the
release inherits it from ours), so the fixture can prove none is left and kill any that is.
"""

from __future__ import annotations

import _thread
import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeship import _processes
from safeship.config.models import LocalTargetSettings
from safeship.targets.base import Release, TargetError
from safeship.targets.local import LocalTarget

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")

DEMO = ["python", "-m", "safeship.demo.demo_app", "--port", "{port}"]
SLEEPER = ["python", "-c", "import time; time.sleep(60)"]
MakeTarget = Callable[..., LocalTarget]


def live_pids_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds our marker."""
    needle = f"SAFESHIP_TEST_MARKER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in environ and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def none_left(marker: str) -> bool:
    """No live process of ours, allowing a moment: a SIGKILLed group member dies asynchronously
    (only the group leader is waited for by LocalTarget)."""
    return wait_for(lambda: live_pids_with(marker) == [], timeout=3.0)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def marker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    value = uuid.uuid4().hex
    monkeypatch.setenv("SAFESHIP_TEST_MARKER", value)
    yield value
    for pid in live_pids_with(value):  # only processes this test started
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / ".safeship" / "run" / "test"


@pytest.fixture
def make_target(marker: str, state_dir: Path, tmp_path: Path) -> Iterator[MakeTarget]:
    made: list[LocalTarget] = []

    def make(command: list[str] = DEMO, **fields: Any) -> LocalTarget:
        fields.setdefault("start_timeout", 10.0)
        fields.setdefault("stop_timeout", 2.0)
        settings = LocalTargetSettings(command=command, **fields)
        target = LocalTarget("test", settings, state_dir, tmp_path)
        made.append(target)
        return target

    yield make
    for target in made:
        target.down()
    assert none_left(marker), "a test left a process behind"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        yield client


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_deploy_serves_the_version(
    make_target: MakeTarget, http: httpx.Client, state_dir: Path
) -> None:
    target = make_target()
    release = target.deploy("v1")

    assert release.environment == "test" and release.version == "v1" and release.pid
    assert target.is_alive(release)
    health = http.get(release.url + "/api/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy" and health.json()["version"] == "v1"
    assert health.headers["X-Release-Version"] == "v1"
    items = http.get(release.url + "/api/v1/items")
    assert items.status_code == 200 and len(items.json()) >= 2

    record = json.loads((state_dir / "v1.json").read_text())
    assert record["pid"] == release.pid and record["port"] == release.port
    assert record["command"][0] == sys.executable  # "python" means this interpreter
    assert record["command"][-1] == str(release.port)  # {port} substituted
    assert record["start_ticks"] > 0
    assert not list(state_dir.glob(".*.tmp"))
    # The access log is quiet: only the startup line.
    log = (state_dir / "v1.log").read_text()
    assert "listening" in log and "GET" not in log


def test_crash_on_start_raises_and_leaves_nothing(
    make_target: MakeTarget, marker: str, state_dir: Path
) -> None:
    target = make_target(env={"DEMO_BEHAVIOUR_V3": "crash_on_start"})
    with pytest.raises(TargetError) as info:
        target.deploy("v3")
    message = str(info.value)
    assert message.startswith("release v3 exited with code 1 before listening: ")
    assert "crash_on_start" in message and "\n" not in message
    assert none_left(marker)
    assert not (state_dir / "v3.json").exists()
    assert target.releases() == []


def test_missing_command_is_one_line(make_target: MakeTarget, state_dir: Path) -> None:
    target = make_target(command=["no-such-command-safeship", "{port}"])
    with pytest.raises(TargetError) as info:
        target.deploy("v1")
    assert str(info.value) == (
        "command not found: no-such-command-safeship (environments.test.target.command)"
    )
    assert not (state_dir / "v1.json").exists()
    assert not (state_dir / "v1.log").exists()


def test_cwd_placeholders_and_env(make_target: MakeTarget, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "serve.py").write_text(
        "import os, runpy, sys\n"
        "seen = [sys.argv[1:], os.getcwd(), os.environ['PORT'], os.environ['GREETING']]\n"
        "open('seen.txt', 'w').write(repr(seen))\n"
        "sys.argv = ['demo', '--port', sys.argv[1]]\n"
        "runpy.run_module('safeship.demo.demo_app', run_name='__main__')\n"
    )
    target = make_target(
        command=["python", "serve.py", "{port}", "v={version}"], cwd="app", env={"GREETING": "hi"}
    )
    release = target.deploy("v7")
    seen = (app / "seen.txt").read_text()
    assert seen == repr([[str(release.port), "v=v7"], str(app), str(release.port), "hi"])


def test_never_listening_times_out_and_kills_the_group(
    make_target: MakeTarget, marker: str
) -> None:
    # The release forks a grandchild; the whole process group must go.
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "time.sleep(60)"
    )
    target = make_target(command=["python", "-c", script], start_timeout=0.7)
    start = time.monotonic()
    with pytest.raises(TargetError, match=r"^release v1 did not listen on port \d+ within 0.7s"):
        target.deploy("v1")
    assert time.monotonic() - start < 5
    assert none_left(marker)


def test_ctrl_c_while_starting_kills_the_release(make_target: MakeTarget, marker: str) -> None:
    target = make_target(command=SLEEPER, start_timeout=30)
    # Python leaves SIGINT ignored when started with it ignored (as a background job is).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            target.deploy("v1")
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert none_left(marker)
    assert target.releases() == []


def test_releases_stop_and_down(make_target: MakeTarget, state_dir: Path) -> None:
    target = make_target()
    v1, v2 = target.deploy("v1"), target.deploy("v2")
    assert [r.version for r in target.releases()] == ["v1", "v2"]

    start = time.monotonic()
    target.stop(v1)
    assert time.monotonic() - start < 2  # SIGTERM is enough: no wait for the SIGKILL fallback
    assert v1.pid is not None and gone(v1.pid)
    assert not target.is_alive(v1)
    assert not (state_dir / "v1.json").exists()
    assert target.releases() == [v2]

    target.down()
    assert v2.pid is not None and gone(v2.pid)
    assert target.releases() == []


def test_same_version_twice_is_refused(make_target: MakeTarget) -> None:
    target = make_target()
    release = target.deploy("v1")
    with pytest.raises(TargetError, match="release v1 is already running"):
        target.deploy("v1")
    assert target.is_alive(release)


def test_release_is_detached_and_outlives_its_deployer(
    marker: str, state_dir: Path, tmp_path: Path, http: httpx.Client, make_target: MakeTarget
) -> None:
    # Deploy from a separate Python process that exits at once, like `safeship deploy` does.
    script = (
        "import json, pathlib, sys\n"
        "from safeship.config.models import LocalTargetSettings\n"
        "from safeship.targets.local import LocalTarget\n"
        "settings = LocalTargetSettings(command=json.loads(sys.argv[1]))\n"
        "state, base = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])\n"
        "target = LocalTarget('test', settings, state, base)\n"
        "print(target.deploy('v1').pid)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(DEMO), str(state_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)

    target = make_target()  # a later command finds it through the pid file
    [release] = target.releases()
    assert release.pid == pid and target.is_alive(release)
    assert os.getsid(pid) == pid != os.getsid(0)  # its own session: Ctrl-C of ours misses it
    assert http.get(release.url + "/api/health").status_code == 200

    # Same from within this process: dropping the LocalTarget object does not stop anything.
    other = make_target().deploy("v2")
    gc.collect()
    assert other.pid is not None and not gone(other.pid)

    target.stop(release)
    assert gone(pid) and not target.is_alive(release)
    assert pid not in live_pids_with(marker)


def test_crash_after_is_noticed(make_target: MakeTarget, state_dir: Path) -> None:
    target = make_target(env={"DEMO_BEHAVIOUR": "crash_after=0.5"})
    release = target.deploy("v1")
    assert target.is_alive(release)
    assert wait_for(lambda: not target.is_alive(release), timeout=5)
    assert target.releases() == []
    assert not (state_dir / "v1.json").exists()
    assert "crash_after" in (state_dir / "v1.log").read_text()


def test_dead_release_leaves_no_orphans(make_target: MakeTarget, marker: str) -> None:
    # The release forks a helper, then crashes: the helper must not outlive it.
    script = (
        "import runpy, subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "sys.argv = ['demo', '--port', sys.argv[1]]\n"
        "runpy.run_module('safeship.demo.demo_app', run_name='__main__')\n"
    )
    target = make_target(
        command=["python", "-c", script, "{port}"], env={"DEMO_BEHAVIOUR": "crash_after=0.3"}
    )
    release = target.deploy("v1")
    assert len(live_pids_with(marker)) == 2
    assert wait_for(lambda: not target.is_alive(release), timeout=5)
    assert none_left(marker)


def test_error_rate_is_exact_and_per_version(make_target: MakeTarget, http: httpx.Client) -> None:
    target = make_target(env={"DEMO_BEHAVIOUR_V2": "error_rate=0.2"})
    v1, v2 = target.deploy("v1"), target.deploy("v2")

    def failures(release: Release) -> int:
        codes = [http.get(release.url + "/api/v1/items").status_code for _ in range(50)]
        assert set(codes) <= {200, 500}
        return codes.count(500)

    assert failures(v2) == 10
    assert failures(v1) == 0
    assert http.get(v2.url + "/api/health").status_code == 200  # health is not affected


def test_stale_pid_file_never_signals_a_stranger(
    make_target: MakeTarget, state_dir: Path, marker: str
) -> None:
    # A live process that is not the release (as after pid reuse): wrong start time on file.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        release = Release("test", "v9", 1, stranger.pid, time.time())
        record = {**release.__dict__, "start_ticks": 1, "command": ["x"]}
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "v9.json").write_text(json.dumps(record))
        target = make_target()
        assert not target.is_alive(release)
        target.stop(release)
        assert stranger.poll() is None  # not signalled
        assert target.releases() == []
        assert not (state_dir / "v9.json").exists()
    finally:
        stranger.kill()
        stranger.wait(timeout=5)


def test_stale_pid_file_never_signals_another_child_of_ours(
    make_target: MakeTarget, state_dir: Path, tmp_path: Path
) -> None:
    # The pid now belongs to another unreaped child of this process (as the router is): being
    # our child does not make it the release the pid file names, whose start time differs.
    other = _processes.spawn_detached(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env=dict(os.environ),
        cwd=tmp_path,
        log_path=tmp_path / "other.log",
    )
    try:
        release = Release("test", "v9", 1, other.pid, time.time())
        record = {**release.__dict__, "start_ticks": 1, "command": ["x"]}
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "v9.json").write_text(json.dumps(record))
        target = make_target()
        assert not target.is_alive(release)
        target.stop(release)
        assert _processes.is_running(other.pid)  # not signalled
        assert target.releases() == []
        assert not (state_dir / "v9.json").exists()
    finally:
        assert _processes.terminate(other.pid, 0, group=True)


# -- the demo app's own process contract ---------------------------------------------------


def run_demo(port: int, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
        env={**os.environ, "SAFESHIP_VERSION": "v1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_demo_app_exit_codes(make_target: MakeTarget) -> None:
    release = make_target().deploy("v1")
    taken = run_demo(release.port)
    bad = run_demo(0, DEMO_BEHAVIOUR="explode")
    try:
        _, err = taken.communicate(timeout=10)
        assert taken.returncode == 3 and len(err.strip().splitlines()) == 1
        _, err = bad.communicate(timeout=10)
        assert bad.returncode == 2 and err.strip() == (
            "demo-app: bad behaviour spec for v1: unknown behaviour 'explode'"
        )
    finally:
        for proc in (taken, bad):
            proc.kill()
            proc.wait(timeout=5)


def test_demo_app_sigterm_exits_zero(http: httpx.Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = run_demo(port)
    try:
        assert wait_for(lambda: _answers(http, port), timeout=10)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
        assert proc.returncode == 0
        assert err == ""  # quiet: no access-log lines
    finally:
        proc.kill()
        proc.wait(timeout=5)


def _answers(http: httpx.Client, port: int) -> bool:
    try:
        return http.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
    except httpx.TransportError:
        return False


def test_a_release_spawned_without_its_pid_file_is_reaped(
    make_target: MakeTarget, state_dir: Path
) -> None:
    """A safeship killed between the spawn and the pid file: the intent file and the token in
    the release's environment let recover find and stop it."""
    import psutil

    target = make_target()
    release = target.deploy("v1")
    assert release.pid is not None
    assert list(state_dir.glob(".*.spawning")) == []  # removed once the pid file exists
    # The state a kill mid-spawn leaves: a running process, an intent file, no pid file.
    token = psutil.Process(release.pid).environ()["SAFESHIP_RELEASE_TOKEN"]
    (state_dir / "v1.json").unlink()
    (state_dir / ".v1.spawning").write_text(token)
    (state_dir / ".v2.spawning").write_text(uuid.uuid4().hex)  # killed before it ran
    assert target.releases() == []

    assert target.reap() == 1

    assert gone(release.pid)
    assert list(state_dir.glob(".*.spawning")) == []
    assert target.reap() == 0
