"""SshTarget against real OpenSSH servers: three fake hosts (network namespaces, each with its
own sshd; testing/fleet_hosts.py) running the tiny app of testing/fleet_app.py, shipped as a
checksummed tarball.

The hosts are shared by the module (made once); each test deploys its own version and stops
it, and a test that breaks a host (link, key) mends it before it ends.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from safeship.targets.base import FleetRelease, HostUnreachable, Instance, TargetError
from safeship.targets.settings import SshTargetSettings
from safeship.targets.ssh.target import SshTarget
from testing.fleet_app import COMMAND, pack_app, pack_wheel
from testing.fleet_hosts import FakeHosts

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")

ENV = "prod"
MakeTarget = Callable[..., SshTarget]


@pytest.fixture(scope="module")
def build(fleet_hosts: FakeHosts) -> Path:
    """Where the app's tarballs are built (``app-<version>.tar.gz``)."""
    return fleet_hosts.directory / "build"


@pytest.fixture(scope="module")
def prepared(fleet_hosts: FakeHosts, build: Path) -> Iterator[SshTarget]:
    """A target whose hosts are set up (agent uploaded), shared by the module's tests."""
    target = _target(fleet_hosts, build)
    states = target.setup()
    assert [s.ready for s in states] == [True, True, True], states
    yield target
    target.down()
    target.close()


def _target(fleet_hosts: FakeHosts, build: Path, **overrides: Any) -> SshTarget:
    table: dict[str, Any] = {
        "command": COMMAND,
        "artifact": {"path": str(build / "app-{version}.tar.gz")},
    }
    table.update(overrides)
    settings = fleet_hosts.target_settings(**table)
    run_dir = fleet_hosts.directory / "run" / uuid.uuid4().hex[:8]
    return SshTarget(ENV, settings, run_dir, fleet_hosts.directory)


@pytest.fixture
def make_target(fleet_hosts: FakeHosts, build: Path) -> Iterator[MakeTarget]:
    """New SshTarget objects (own connections) for a test; closed at its end."""
    made: list[SshTarget] = []

    def make(**overrides: Any) -> SshTarget:
        target = _target(fleet_hosts, build, **overrides)
        made.append(target)
        return target

    yield make
    for target in made:
        target.close()


@pytest.fixture
def version(build: Path, prepared: SshTarget) -> Iterator[str]:
    """A version of the app of this test's own, built; stopped on every host at the end."""
    name = f"v{uuid.uuid4().hex[:8]}"
    pack_app(build, name)
    yield name
    for release in prepared.releases():
        if release.version == name:
            prepared.stop(release)


def where(fleet_hosts: FakeHosts, name: str) -> str:
    host = fleet_hosts.host(name)
    return f"{host.address}:{host.port}"


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def answer(url: str) -> str:
    with urllib.request.urlopen(url + "/", timeout=3) as response:
        body: bytes = response.read()
    return body.decode().split()[0]


def test_deploy_on_three_hosts_each_answers(prepared: SshTarget, version: str) -> None:
    started = time.monotonic()
    release = prepared.deploy(version)
    elapsed = time.monotonic() - started

    assert isinstance(release, FleetRelease)
    assert release.hosts == ("h1", "h2", "h3")
    assert [i.address for i in release.instances] == [h[1] for h in prepared._hosts.values()]
    assert [answer(url) for url in release.urls] == [version] * 3
    assert prepared.is_alive(release)
    print(f"deploy on 3 hosts: {elapsed:.2f}s")

    smaller = prepared.drop(release, "h3")
    assert smaller.hosts == ("h1", "h2")
    with pytest.raises(OSError):
        answer(release.instances[2].url)
    assert [r.hosts for r in prepared.releases() if r.version == version] == [("h1", "h2")]


def test_release_outlives_the_target_object(
    prepared: SshTarget, make_target: MakeTarget, version: str
) -> None:
    first = make_target()
    release = first.deploy(version)
    first.close()  # the SSH connections are gone; the releases run on

    found = [r for r in make_target().releases() if r.version == version]

    assert found == [release]
    assert [answer(url) for url in release.urls] == [version] * 3


def test_secrets_reach_the_host_only_on_stdin(
    prepared: SshTarget, make_target: MakeTarget, version: str, fleet_hosts: FakeHosts
) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    target = make_target(env={"PLAIN": "visible"})
    target.set_variable("API_TOKEN", secret)
    assert (target.variables_file.stat().st_mode & 0o777) == 0o600

    release = target.deploy_on(version, ["h1"])

    env_file = fleet_hosts.remote_dir("h1") / "run" / f"{version}.env"
    assert (env_file.stat().st_mode & 0o777) == 0o600
    assert secret in env_file.read_text()
    environ = Path(f"/proc/{release.pid}/environ").read_bytes()
    assert f"API_TOKEN={secret}".encode() in environ  # it did arrive
    on_command_lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if secret.encode() in (proc / "cmdline").read_bytes():
                    on_command_lines.append(proc.name)
            except OSError:
                continue
    assert on_command_lines == []
    target.stop(release)
    assert not env_file.exists()  # the record goes with the release


def test_a_tampered_artifact_is_refused(
    prepared: SshTarget, version: str, build: Path, fleet_hosts: FakeHosts
) -> None:
    tarball = build / f"app-{version}.tar.gz"
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    stored = fleet_hosts.remote_dir("h2") / "artifacts" / f"{digest}.tar.gz"
    stored.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stored.write_bytes(b"not the artifact")

    with pytest.raises(TargetError) as refused:
        prepared.deploy(version)

    message = str(refused.value)
    assert message.startswith("h2: artifact checksum mismatch") and "\n" not in message
    assert not stored.exists()
    assert [r for r in prepared.releases() if r.version == version] == []  # h1, h3 stopped
    release = prepared.deploy(version)  # uploaded again, verified
    assert [answer(url) for url in release.urls] == [version] * 3


def test_an_unknown_or_changed_host_key_is_refused_until_trusted(
    prepared: SshTarget, make_target: MakeTarget, fleet_hosts: FakeHosts
) -> None:
    fleet_hosts.new_host_key("h3")
    try:
        states = make_target().host_states()
        changed = states[2].detail
        assert states[0].ready and states[1].ready and not states[2].ready
        assert changed.startswith(f"h3 ({where(fleet_hosts, 'h3')}): host key changed")
        assert changed.endswith(f"check it, then `safeship hosts trust {ENV}`")
        assert "\n" not in changed
    finally:
        trusted = make_target().trust(["h3"])
    assert trusted[0][0] == "h3" and trusted[0][1].startswith("SHA256:") and trusted[0][2]
    assert [added for _, _, added in make_target().trust()] == [False, False, False]
    assert all(s.ready for s in make_target().host_states())

    empty = fleet_hosts.directory / f"known_hosts-{uuid.uuid4().hex[:6]}"
    unknown = make_target(known_hosts=str(empty)).host_states()[0]
    assert unknown.reachable and not unknown.ready
    assert unknown.detail.startswith(
        f"h1 ({where(fleet_hosts, 'h1')}): host key unknown: not in known_hosts {empty}"
    )
    recorded = make_target(known_hosts=str(empty)).trust()
    assert [added for _, _, added in recorded] == [True, True, True]
    assert (empty.stat().st_mode & 0o777) == 0o600
    assert len(empty.read_text().splitlines()) == 3


def test_an_authentication_failure_is_one_line(
    make_target: MakeTarget, fleet_hosts: FakeHosts, version: str
) -> None:
    stranger = fleet_hosts.directory / f"stranger-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)

    with pytest.raises(TargetError) as refused:
        make_target(identity_files=[str(stranger)]).deploy_on(version, ["h2"])

    assert str(refused.value) == "h2: SSH authentication failed for user root"
    assert not isinstance(refused.value, HostUnreachable)


def test_a_host_with_its_link_down_is_unreachable_and_the_others_work(
    prepared: SshTarget, make_target: MakeTarget, version: str, fleet_hosts: FakeHosts
) -> None:
    release = prepared.deploy_on(version, ["h1", "h3"])
    connect_timeout = prepared.settings.connect_timeout
    fleet_hosts.link_down("h2")
    try:
        started = time.monotonic()
        states = make_target().host_states()  # new connections: the connect timeout bounds it
        elapsed = time.monotonic() - started
        assert [s.reachable for s in states] == [True, False, True]
        assert states[1].detail == (
            f"h2 ({where(fleet_hosts, 'h2')}): no answer within {connect_timeout:g}s"
        )
        assert elapsed < connect_timeout + 1.5

        # An open connection to the host: keepalives drop it within ~3 connect timeouts.
        started = time.monotonic()
        with pytest.raises(HostUnreachable) as unreachable:
            prepared.extend(release, ["h2"])
        assert unreachable.value.host == "h2"
        assert time.monotonic() - started < 3 * connect_timeout + 2
        # Not judged here: the instances on h1 and h3 run on, the release is alive.
        assert prepared.is_alive(release)
        assert [answer(url) for url in release.urls] == [version] * 2

        # Stopping: the hosts that answer stop theirs, then the one that did not is named.
        h2 = fleet_hosts.host("h2")
        everywhere = release.joined([Instance("h2", h2.address, 1, 1)])
        with pytest.raises(HostUnreachable, match=r"^h2 \(") as unreachable:
            prepared.stop(everywhere)
        assert unreachable.value.host == "h2"
        assert [r for r in prepared.releases() if r.version == version] == []
    finally:
        fleet_hosts.link_up("h2")
    assert all(s.reachable for s in prepared.host_states())  # reconnected


def test_a_crash_on_one_host_makes_the_release_dead(prepared: SshTarget, version: str) -> None:
    release = prepared.deploy(version)
    crashed = release.instances[1]
    with pytest.raises(OSError):  # the instance exits without answering
        urllib.request.urlopen(crashed.url + "/crash", timeout=3)

    # Its socket closes a moment before the process is gone: poll, bounded.
    assert wait_until(lambda: not prepared.is_alive(release), timeout=3.0)
    assert prepared.is_alive(release.without("h2"))
    prepared.stop(release)
    assert [r for r in prepared.releases() if r.version == version] == []


def test_setup_prepares_hosts_and_is_idempotent(
    prepared: SshTarget, make_target: MakeTarget, fleet_hosts: FakeHosts, version: str
) -> None:
    fresh = make_target(remote_dir=str(fleet_hosts.directory / "fresh" / "{host}"))
    missing = fresh.host_states()[0]
    assert missing.reachable and not missing.ready
    assert missing.detail.startswith("h1: the host agent did not answer (exit 2: ")
    assert "agent.py': [Errno 2] No such file or directory" in missing.detail
    assert missing.detail.endswith(f"run `safeship hosts setup {ENV}`")
    with pytest.raises(TargetError, match=r"^h1: the host agent did not answer"):
        fresh.deploy_on(version, ["h1"])
    assert all(s.ready for s in fresh.setup())

    agent = fleet_hosts.remote_dir("h1") / "agent.py"
    before = agent.stat().st_mtime_ns

    states = prepared.setup()

    assert [(s.host, s.reachable, s.ready) for s in states] == [
        ("h1", True, True),
        ("h2", True, True),
        ("h3", True, True),
    ]
    assert agent.stat().st_mtime_ns == before  # not uploaded again
    assert (agent.stat().st_mode & 0o777) == 0o600
    assert (fleet_hosts.remote_dir("h1").stat().st_mode & 0o777) == 0o700


def test_reap_stops_what_a_dead_deploy_left(prepared: SshTarget, fleet_hosts: FakeHosts) -> None:
    token = uuid.uuid4().hex
    run = fleet_hosts.remote_dir("h3") / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    (run / ".vdead.spawning").write_text(token)
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "SAFESHIP_RELEASE_TOKEN": token},
        start_new_session=True,
    )
    try:
        assert prepared.reap() == 1
        assert orphan.wait(timeout=5) == -9
        assert not (run / ".vdead.spawning").exists()
        assert prepared.reap() == 0
    finally:
        orphan.kill()
        orphan.wait()


def test_capacity_is_the_first_hosts(prepared: SshTarget, version: str) -> None:
    release = prepared.deploy_on(version, ["h1"])
    capacity = prepared.capacity()
    assert capacity is not None
    assert capacity.host == "h1" and capacity.memory_available_mb > 0
    assert capacity.resident_mb[version] > 0
    prepared.stop(release)


@pytest.mark.parametrize(
    ("settings", "first", "batches", "unavailable"),
    [
        ({}, ("h1", "h2", "h3"), (), 0),
        ({"batch_size": 1}, ("h1",), (("h2",), ("h3",)), 0),
        ({"canary_hosts": ["h3"], "batch_size": "50%"}, ("h3",), (("h1",), ("h2",)), 0),
        (
            {"canary_hosts": 1, "batch_size": 2, "max_unavailable": "34%"},
            ("h1",),
            (("h2", "h3"),),
            1,
        ),
    ],
)
def test_rollout_plan(
    make_target: MakeTarget,
    settings: dict[str, Any],
    first: tuple[str, ...],
    batches: tuple[tuple[str, ...], ...],
    unavailable: int,
) -> None:
    plan = make_target(**settings).rollout_plan()
    assert (plan.first, plan.batches, plan.max_unavailable) == (first, batches, unavailable)


PYTHON_3_8 = Path("/root/.pyenv/versions/3.8.18/bin/python3")


@pytest.mark.skipif(not PYTHON_3_8.exists(), reason="needs a Python 3.8 (pyenv's)")
def test_the_agent_runs_on_python_3_8(make_target: MakeTarget, version: str) -> None:
    """The agent's promise: the host's Python may be as old as 3.8."""
    target = make_target(python=str(PYTHON_3_8))
    assert [s.detail.split(", ")[1] for s in target.setup()] == ["Python 3.8.18"] * 3

    release = target.deploy_on(version, ["h1"])

    assert answer(release.url) == version
    target.stop(release)


def test_a_git_artifact_is_fetched_on_the_hosts(
    make_target: MakeTarget, version: str, fleet_hosts: FakeHosts, tmp_path: Path
) -> None:
    repository = tmp_path / "app.git"
    repository.mkdir()
    pack = pack_app(tmp_path, "x")
    subprocess.run(["tar", "-xzf", str(pack), "-C", str(repository)], check=True)
    git = ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "app.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "app"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    table = {"artifact": {"git": str(repository)}}

    with pytest.raises(TargetError, match="needs the commit"):
        make_target(**table).deploy_on(version, ["h1"])
    release = make_target(**table).deploy_on(version, ["h1", "h2"], commit)
    # Another process adds a batch: it learns the commit from the hosts the release runs on.
    release = make_target(**table).extend(release, ["h3"])

    assert [answer(url) for url in release.urls] == [version] * 3
    marker = fleet_hosts.remote_dir("h3") / "releases" / version / ".safeship-installed"
    assert marker.read_text().strip() == commit
    with pytest.raises(TargetError, match=r"^h1: git commit 0{40} not found"):
        make_target(**table).deploy_on(f"{version}b", ["h1"], "0" * 40)


def test_a_wheel_is_installed_into_the_releases_virtualenv(
    make_target: MakeTarget, version: str, fleet_hosts: FakeHosts, build: Path
) -> None:
    pack_wheel(build / version)
    target = make_target(
        command=["python", "-m", "fleet_app"],
        artifact={"path": str(build / "{version}" / "fleet_app-1.0-py3-none-any.whl")},
    )

    release = target.deploy_on(version, ["h2"])

    assert answer(release.url) == version
    venv = fleet_hosts.remote_dir("h2") / "releases" / version / "venv"
    assert (venv / "bin" / "python").exists()
    assert str(venv) in Path(f"/proc/{release.pid}/cmdline").read_text()
    target.stop(release)


def test_the_fixtures_target_table_is_valid_toml(fleet_hosts: FakeHosts) -> None:
    text = fleet_hosts.target_toml(ENV, command=COMMAND)
    table = tomllib.loads(text)["environments"][ENV]["target"]

    settings = SshTargetSettings.model_validate(table)

    assert [h.name for h in settings.hosts] == ["h1", "h2", "h3"]
    assert settings == fleet_hosts.target_settings(command=COMMAND)
