"""Every command of every runbook in docs/runbooks/, run for real, in order, so the runbooks cannot
drift from the CLI.

The rules (docs/runbooks/README.md says the same to the runbooks' writers):

- A command is a line starting with ``$ `` inside a ```console block; the lines after it, up to
  the next ``$ ``, are sample output and are not checked. Each runbook runs in a fresh workspace
  of its own (``prepare``): the demo app in ``staging`` and ``production``, a PostgreSQL database
  per environment (``DATABASE_URL`` in the shell is production's), an approver's token in
  ``SAFESHIP_TOKEN``.
- A command must exit 0, or the code its trailing ``# exits N`` says.
- A command ending in `` &`` runs in the background (as in a second terminal). The command after
  it is repeated, for at most a minute, until it exits as expected and prints what the next
  command's placeholders need (it may be waiting for the background one to get somewhere).
  ``$ wait`` waits for the background commands and checks their exit codes.
- ``<DEPLOYMENT>``, ``<BACKUP>``...: a placeholder is filled from the output of the commands run
  before it: the first match of its pattern (``PLACEHOLDERS``) in the newest output that has one.
- Commands run through ``bash`` in the workspace, so ``"$DATABASE_URL"`` is the shell's variable.
- ``<!-- before: v1 v2 -->`` in a runbook: the state it starts from. Each version is deployed to
  staging, then to production (same commit), before its first command.

Cost: every command is a real CLI process (0.3-1 s of CPU each here) and every deploy a real one
with its gates (pg_dump, a scratch restore, the migration), so the five runbooks take about 50 s
of CPU together (two workers: ~40 s). That is the price of runbooks that cannot drift; the
prepared state is made in this process, and only the runbooks that need one have it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safeship._processes import free_port, is_running
from testing.postgres import PostgresServer

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
_FENCE = re.compile(r"^```(\w*)\s*$")
_EXITS = re.compile(r"\s+# exits (\d+)\s*$")
_PLACEHOLDER = re.compile(r"<([A-Z_]+)>")
_BEFORE = re.compile(r"<!--\s*before:([^>]*)-->")
# What fills each placeholder: the first match (group 1) in the newest output that has one.
PLACEHOLDERS: dict[str, re.Pattern[str]] = {
    # A deployment's id, or the 8-digit prefix the tables print.
    "DEPLOYMENT": re.compile(r"\b([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{8})\b"),
    # A backup's id as `safeship backup list` prints it (first column).
    "BACKUP": re.compile(r"(?m)^\s*([0-9a-f]{8,})\s"),
}
COMMAND_TIMEOUT = 120.0
RETRY_FOR = 60.0  # the command after a background one
SAFESHIP_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Command:
    line: int  # in the runbook, for the failure message
    text: str  # without the "$ " and the "# exits N" comment
    exits: int = 0

    @property
    def background(self) -> bool:
        return self.text.endswith(" &")

    @property
    def placeholders(self) -> list[str]:
        return _PLACEHOLDER.findall(self.text)


def commands_of(path: Path) -> list[Command]:
    """The ``$ `` lines of the runbook's console blocks, in order."""
    found: list[Command] = []
    in_console = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(line.strip())
        if fence:
            in_console = not in_console and fence.group(1) == "console"
            continue
        if in_console and line.startswith("$ "):
            text = line[2:].strip()
            exits = _EXITS.search(text)
            if exits:
                text = text[: exits.start()].rstrip()
            found.append(Command(number, text, int(exits.group(1)) if exits else 0))
    return found


@dataclass
class Session:
    """One runbook's shell: the workspace, its environment, the outputs so far."""

    root: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    background: list[tuple[Command, subprocess.Popen[str]]] = field(default_factory=list)

    def fill(self, command: Command) -> str | None:
        """The command with its placeholders filled; None when an output lacks one."""
        text = command.text
        for name in command.placeholders:
            pattern = PLACEHOLDERS[name]
            value = next(
                (m.group(1) for out in reversed(self.outputs) if (m := pattern.search(out))), None
            )
            if value is None:
                return None
            text = text.replace(f"<{name}>", value)
        return text

    def run(self, text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", text],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )

    def start(self, command: Command, text: str) -> None:
        process = subprocess.Popen(
            ["bash", "-c", text.removesuffix("&").strip()],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        self.background.append((command, process))

    def wait(self, where: str) -> None:
        for command, process in self.background:
            out, _ = process.communicate(timeout=COMMAND_TIMEOUT)
            self.outputs.append(out)
            assert process.returncode == command.exits, (
                f"{where}: `{command.text}` (line {command.line}, in the background) exited "
                f"{process.returncode}, not {command.exits}:\n{out}"
            )
        self.background.clear()


def versions_before(path: Path) -> list[str]:
    """The versions ``<!-- before: ... -->`` says are deployed before the runbook starts."""
    found = _BEFORE.search(path.read_text(encoding="utf-8"))
    return found.group(1).split() if found else []


def deploy_before(session: Session, versions: list[str]) -> None:
    """Each version to staging then production, in this process (cheaper than the CLI);
    alice approves each production deploy from another thread, as she would from her desk."""
    from concurrent.futures import ThreadPoolExecutor

    from safeship import core
    from safeship.config import load_config
    from safeship.pipeline import operations
    from safeship.pipeline.states import Status

    loaded = load_config(session.root / "safeship.toml")
    for number, version in enumerate(versions, start=1):
        check_out_migrations(session.root, version)
        for environment in ("staging", "production"):
            with ThreadPoolExecutor(1) as pool:
                deploying = pool.submit(
                    operations.deploy, loaded, environment, version, commit=f"c0ffee{number}"
                )
                deadline = time.monotonic() + RETRY_FOR
                while environment == "production" and not deploying.done():
                    assert time.monotonic() < deadline, "no approval was asked for"
                    waiting = core.pending_approvals(loaded, environment)
                    if waiting:
                        core.approve(loaded, waiting[0].deployment.id, user="alice")
                        break
                    time.sleep(0.2)
                outcome = deploying.result(timeout=COMMAND_TIMEOUT)
            assert outcome.status is Status.SUCCEEDED, (environment, version, outcome.reason)


def walk(path: Path, session: Session) -> None:
    deploy_before(session, versions_before(path))
    commands = commands_of(path)
    assert commands, f"{path.name}: no `$ ` command in a console block"
    after_background = False
    for index, command in enumerate(commands):
        where = f"{path.name}:{command.line}"
        if command.text == "wait":
            session.wait(where)
            continue
        text = session.fill(command)
        assert text is not None, f"{where}: nothing printed before fills {command.placeholders}"
        deploys = _VERSION.search(text)
        if deploys:
            check_out_migrations(session.root, deploys.group(1))
        if command.background:
            session.start(command, text)
            after_background = True
            continue
        following = commands[index + 1] if index + 1 < len(commands) else None
        deadline = time.monotonic() + (RETRY_FOR if after_background else 0)
        while True:
            result = session.run(text)
            output = result.stdout + result.stderr
            satisfied = result.returncode == command.exits
            if satisfied and following is not None and following.placeholders:
                needed = [PLACEHOLDERS[name] for name in following.placeholders]
                satisfied = all(p.search(output) for p in needed) or not after_background
            if satisfied or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        after_background = False
        session.outputs.append(output)
        assert result.returncode == command.exits, (
            f"{where}: `{text}` exited {result.returncode}, not {command.exits}:\n{output}"
        )
    session.wait(f"{path.name}: end")


# -- the workspace ----------------------------------------------------------------------------

ENVIRONMENT = """
[environments.{name}]
port = {port}
strategy = "all-at-once"
bake_time = 0.2
{settings}
[environments.{name}.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
env = {{ DATABASE_URL = "{database_url}", DEMO_MIGRATIONS_DIR = "migrations" }}

[environments.{name}.health]
retries = 40
backoff = 0.1

[environments.{name}.gates.backup]
enabled = true

{approval}
[environments.{name}.gates.migration]
command = ["{python}", "-m", "safeship.demo.migrate"]
sql_dir = "migrations"
"""
APPROVAL = """[environments.production.gates.approval]
required = 1
timeout = 120
"""
# The rotated secrets of secret-rotation.md (the same table it shows).
SECRETS = """
[secrets]
grace = 0.5
keep_warm = 0.5

[secrets.rotate.JWT_SECRET]
kind = "random"
category = "application"

[secrets.rotate.PARTNER_API_KEY]
kind = "command"
category = "api"
create = ["sh", "-c", "head -c 24 /dev/urandom | base64 | tr '+/' '-_'"]
test = ["sh", "-c", "cat >/dev/null; echo 'partner API: 401 unknown key' >&2; exit 1"]
revoke = ["sh", "-c", "cat >/dev/null"]

[secrets.rotate.PAYMENT_API_KEY]
kind = "manual"
category = "api"
checklist = ["Create a restricted key in the payment provider's dashboard"]
revoke_checklist = ["Delete the old key in the payment provider's dashboard"]
"""
DATABASES = ("staging", "production", "scratch")  # scratch: empty, to restore into
# The demo's migrations each version brings (a checkout of that version has these files).
VERSION_MIGRATIONS = {"v1": 1, "v2": 2}
_VERSION = re.compile(r"--version\s+(\S+)")


def check_out_migrations(root: Path, version: str) -> None:
    """migrations/ as a checkout of ``version`` has it (any other version: all of them)."""
    from safeship.demo.migrate import MIGRATIONS_DIR

    folder = root / "migrations"
    folder.mkdir(exist_ok=True)
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    wanted = files[: VERSION_MIGRATIONS.get(version, len(files))]
    for old in folder.glob("*.sql"):
        old.unlink()
    for path in wanted:
        (folder / path.name).write_text(path.read_text())


def prepare(root: Path, server: PostgresServer, tag: str) -> Session:
    """A workspace with staging and production, each with its own database, and an approver."""
    urls = {name: server.create_database(f"rb_{tag}_{name}") for name in DATABASES}
    tables = "".join(
        ENVIRONMENT.format(
            name=name,
            port=free_port(),
            database_url=urls[name],
            python=sys.executable,
            approval=APPROVAL if name == "production" else "",
            settings='requires = ["staging"]\n' if name == "production" else "",
        )
        for name in ("staging", "production")
    )
    (root / "safeship.toml").write_text(
        '[project]\nname = "shop"\n\n[registry]\nurl = "sqlite:///.safeship/registry.db"\n'
        + tables
        + SECRETS,
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "SAFESHIP_TOKEN")}
    env.update(
        PATH=f"{SAFESHIP_BIN}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=urls["production"],
        SCRATCH_DATABASE_URL=urls["scratch"],
        COLUMNS="200",
    )
    session = Session(root, env)
    # The databases have the schema of v1 already (as any database a deploy finds): a backup of
    # an empty database would be refused, rightly.
    from safeship.demo import migrate

    check_out_migrations(root, "v1")
    for name in ("staging", "production"):
        migrate.run(urls[name], root / "migrations", [])
    check_out_migrations(root, "")
    from safeship import core
    from safeship.config import load_config

    loaded = load_config(root / "safeship.toml")
    core.user_add(loaded, "alice", "approver", "correct horse battery staple")
    session.env["SAFESHIP_TOKEN"] = core.token_create(loaded, "alice", label="runbooks")[1]
    return session


def _stop(session: Session) -> None:
    for _, process in session.background:
        if is_running(process.pid):
            process.kill()
            process.wait(10)
    from safeship.config import load_config
    from safeship.pipeline import operations

    loaded = load_config(session.root / "safeship.toml")
    for name in ("production", "staging"):
        operations.down(loaded, name)  # in this process: cheaper than the CLI


@pytest.fixture
def session_for(
    tmp_path: Path, postgres_server: PostgresServer, request: pytest.FixtureRequest
) -> Iterator[Session]:
    tag = re.sub(r"[^a-z0-9]", "_", request.node.callspec.id.lower())[:20]
    session = prepare(tmp_path, postgres_server, f"{tag}_{os.getpid()}")
    try:
        yield session
    finally:
        _stop(session)
        for name in DATABASES:
            postgres_server.drop_database(f"rb_{tag}_{os.getpid()}_{name}")


RUNBOOK_FILES = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")


def test_the_runbooks_are_there() -> None:
    names = {p.stem for p in RUNBOOK_FILES}
    assert {
        "standard-deployment",
        "emergency-hotfix",
        "rollback",
        "restore-backup",
        "troubleshooting",
    } <= names


@pytest.mark.postgres
@pytest.mark.parametrize("runbook", RUNBOOK_FILES, ids=[p.stem for p in RUNBOOK_FILES])
def test_every_command_of_the_runbook_runs(runbook: Path, session_for: Session) -> None:
    walk(runbook, session_for)
    assert session_for.outputs, "no command ran"


def test_the_rules_read_commands_exit_codes_and_placeholders(tmp_path: Path) -> None:
    book = tmp_path / "book.md"
    book.write_text(
        "Text.\n\n```console\n$ safeship history production\nid 1a2b3c4d v1\n"
        "$ safeship report <DEPLOYMENT>   # exits 1\n```\n\n```toml\n$ not a command\n```\n"
    )
    [first, second] = commands_of(book)
    assert (first.text, first.exits, first.line) == ("safeship history production", 0, 4)
    assert (second.text, second.exits, second.placeholders) == (
        "safeship report <DEPLOYMENT>",
        1,
        ["DEPLOYMENT"],
    )
    session = Session(tmp_path, dict(os.environ), outputs=["id 1a2b3c4d v1\n"])
    assert session.fill(second) == "safeship report 1a2b3c4d"
    assert shutil.which("bash") is not None


def test_the_readmes_release_is_the_standard_deployment_runbooks() -> None:
    """The README's production-gates walkthrough shows commands the runbook test runs: each of
    its ``$`` lines is one of the standard-deployment runbook's, in the same order."""
    readme = (RUNBOOKS.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Production gates", 1)[1].split("\n## ", 1)[0]
    shown = [line[len("    $ ") :] for line in section.splitlines() if line.startswith("    $ ")]
    runbook = [c.text for c in commands_of(RUNBOOKS / "standard-deployment.md")]
    assert len(shown) >= 4
    assert all(command in runbook for command in shown), set(shown) - set(runbook)
    assert shown == sorted(shown, key=runbook.index)
