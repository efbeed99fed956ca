"""safeship's host agent: what the local target does on this machine, done on a fleet host.

ONE stdlib-only file, run on the host's own Python (3.8 or later; no safeship there). The ssh
target uploads it to ``<remote_dir>/agent.py`` (``safeship hosts setup``) and runs it over SSH
as ``<python> <remote_dir>/agent.py COMMAND`` with a JSON request on stdin; it answers one JSON
object on stdout: ``{"ok": true, ...}`` or ``{"ok": false, "error": "one line"}``. As
``agent.py serve`` it answers requests a JSON line at a time until its input ends (the target's
session for quick queries).

Its state lives beside it: ``run/<version>.json`` records a running release (pid, port, start
ticks), ``run/<version>.log`` its output, ``run/<version>.env`` the environment it was given
(the variables arrive on stdin, never on a command line), ``artifacts/`` the uploaded build
artifacts named by their SHA-256, ``releases/<version>/`` the installed code. Files 0600,
directories 0700.

Decisions (as safeship.targets.local; see there):

- A release is started in its own session with stdin from /dev/null and its output to its log,
  so it outlives this agent, the SSH session and the deploying machine.
- A pid is signalled only when its start time (``/proc/PID/stat`` field 22) matches the pid
  file: the pid may have been reused since. A zombie counts as dead (PID 1 reaps orphans late).
- A token in the release's environment and an intent file written before the spawn let
  ``reap`` find a release whose starter died before the pid file was written.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

# The agent runs for every command the target sends: it imports at start only what every
# command needs (Python's startup is most of its time); the rest where it is used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from typing import Any

AGENT_VERSION = "1"
BASE = Path(__file__).resolve().parent
RUN = BASE / "run"
RELEASES = BASE / "releases"
ARTIFACTS = BASE / "artifacts"
TOKEN_VARIABLE = "SAFESHIP_RELEASE_TOKEN"
PYTHON_NAMES = ("python", "python3")
KILL_WAIT = 3.0
POLL = 0.05


class Refused(Exception):
    """The request cannot be done; the message is the one-line answer."""


# -- files -------------------------------------------------------------------------------------


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(str(path), 0o700)
    return path


def write_private(path: Path, data: str) -> None:
    """Replace ``path`` atomically with ``data`` as a 0600 file."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(data)
    os.replace(str(tmp), str(path))


def sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        int(data["pid"])
        int(data["port"])
        str(data["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def pid_file(version: str) -> Path:
    return RUN / (version + ".json")


def check_version(version: object) -> str:
    """A release's version, as safeship.validation allows it (no path separators)."""
    text = str(version)
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
    if not text or len(text) > 128 or not text[0].isalnum() or not set(text) <= allowed:
        raise Refused(f"invalid version {text!r}")
    return text


# -- processes ---------------------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def is_running(pid: int, ticks: int | None) -> bool:
    fields = proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


def wait_exited(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid, None):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


def kill_group(pgid: int, sig: int) -> None:
    import contextlib

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether a live process of the group ``pgid`` remains (its leader may be gone)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                return True
    return False


def is_ours(record: dict[str, Any]) -> bool:
    """Whether the record's pid is still the process it names (maybe a zombie by now)."""
    ticks = record.get("start_ticks")
    return ticks is not None and start_ticks(int(record["pid"])) == int(ticks)


def runs(record: dict[str, Any]) -> bool:
    """Whether the record's process is ours and alive (a zombie has exited)."""
    return is_ours(record) and is_running(int(record["pid"]), None)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        port = int(sock.getsockname()[1])
    return port


def listening(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def last_line(log: Path, offset: int) -> str:
    try:
        with log.open("rb") as file:
            file.seek(max(offset, file.seek(0, os.SEEK_END) - 4096))
            lines = file.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""


def resident_mb(pgid: int) -> float:
    """Resident memory of the live processes of the group ``pgid``, in MB."""
    import contextlib

    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = proc_stat(int(entry.name))
        if not fields or int(fields[2]) != pgid:
            continue
        with contextlib.suppress(OSError, ValueError):
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return round(total / 1_048_576, 1)


# -- commands ----------------------------------------------------------------------------------


def running_records() -> list[dict[str, Any]]:
    """Records of the releases running now; the pid files of dead ones are removed."""
    found: list[dict[str, Any]] = []
    if not RUN.is_dir():
        return found
    for path in sorted(RUN.glob("*.json")):
        record = read_record(path)
        if record is None:
            continue
        if runs(record):
            found.append(record)
        else:
            forget(record)
    return found


def forget(record: dict[str, Any]) -> None:
    """Drop a dead release's files; kill what it left in its process group while its leader
    is an unreaped zombie (until then the group id cannot be another's)."""
    if is_ours(record):
        kill_group(int(record["pid"]), signal.SIGKILL)
    version = str(record["version"])
    pid_file(version).unlink(missing_ok=True)
    (RUN / (version + ".env")).unlink(missing_ok=True)


def installed(version: str) -> str:
    """What ``releases/<version>`` was installed from: the artifact's SHA-256 or the commit."""
    try:
        return (RELEASES / version / ".safeship-installed").read_text().strip()
    except OSError:
        return ""


def cmd_list(request: dict[str, Any]) -> dict[str, Any]:
    keys = ("version", "pid", "port", "started_at")
    found = [{k: r[k] for k in keys} for r in running_records()]
    for release in found:
        release["installed"] = installed(str(release["version"]))
    return {"releases": found}


def cmd_alive(request: dict[str, Any]) -> dict[str, Any]:
    version = check_version(request["version"])
    record = read_record(pid_file(version))
    alive = record is not None and int(record["pid"]) == int(request["pid"]) and runs(record)
    if record is not None and not alive and int(record["pid"]) == int(request["pid"]):
        forget(record)
    return {"alive": alive}


def cmd_start(request: dict[str, Any]) -> dict[str, Any]:
    import subprocess
    import uuid

    version = check_version(request["version"])
    argv = [str(a) for a in request["argv"]]
    env_vars = {str(k): str(v) for k, v in dict(request.get("env", {})).items()}
    start_timeout = float(request.get("start_timeout", 30))
    private_dir(RUN)
    running = read_record(pid_file(version))
    if running is not None and runs(running):
        raise Refused(
            "release {} is already running (pid {}, port {}); stop it first".format(
                version, running["pid"], running["port"]
            )
        )
    release_dir = RELEASES / version
    cwd = release_dir if release_dir.is_dir() else BASE
    venv_python = release_dir / "venv" / "bin" / "python"
    if argv and argv[0] in PYTHON_NAMES:
        argv[0] = str(venv_python) if venv_python.exists() else sys.executable
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    token = uuid.uuid4().hex
    env = dict(os.environ)
    env.update(env_vars)
    env.update({"SAFESHIP_VERSION": version, "PORT": str(port), TOKEN_VARIABLE: token})
    # The variables for the record, private: never on a command line.
    write_private(RUN / (version + ".env"), json.dumps(env_vars, indent=2) + "\n")
    intent = RUN / (f".{version}.spawning")
    write_private(intent, token)
    log = RUN / (version + ".log")
    fd = os.open(str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    offset = os.fstat(fd).st_size
    try:
        proc = subprocess.Popen(
            argv,
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        intent.unlink(missing_ok=True)
        (RUN / (version + ".env")).unlink(missing_ok=True)
        what = "not found" if isinstance(exc, FileNotFoundError) else "cannot run"
        raise Refused(f"command {what}: {argv[0] if argv else ''}") from None
    finally:
        os.close(fd)
    started_at = time.time()
    record = {
        "pid": proc.pid,
        "port": port,
        "version": version,
        "started_at": started_at,
        "start_ticks": start_ticks(proc.pid),
        "command": argv,
    }
    write_private(pid_file(version), json.dumps(record, indent=2) + "\n")
    intent.unlink(missing_ok=True)
    deadline = time.monotonic() + start_timeout
    while True:
        code = proc.poll()
        if code is not None:
            how = f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"
            said = last_line(log, offset) or f"no output (log: {log})"
            failure = f"release {version} {how} before listening: {said}"
            break
        if listening(port):
            return {"pid": proc.pid, "port": port, "started_at": started_at}
        if time.monotonic() >= deadline:
            failure = (
                f"release {version} did not listen on port {port} within {start_timeout:g}s "
                f"(log: {log})"
            )
            break
        time.sleep(POLL)
    kill_group(proc.pid, signal.SIGKILL)
    proc.wait()
    pid_file(version).unlink(missing_ok=True)
    (RUN / (version + ".env")).unlink(missing_ok=True)
    raise Refused(failure)


def cmd_stop(request: dict[str, Any]) -> dict[str, Any]:
    version = check_version(request["version"])
    pid = int(request["pid"])
    grace = float(request.get("stop_timeout", 5))
    path = pid_file(version)
    record = read_record(path)
    if record is None or int(record["pid"]) != pid:
        return {"stopped": False}  # not ours (any more): nothing to signal
    if is_ours(record):
        kill_group(pid, signal.SIGTERM)
        wait_exited(pid, grace)
        # The group is killed also after a graceful exit: what the release left in it goes too.
        kill_group(pid, signal.SIGKILL)
        if not wait_exited(pid, KILL_WAIT):
            raise Refused(f"release {version} (pid {pid}) did not exit after SIGKILL")
    path.unlink(missing_ok=True)
    (RUN / (version + ".env")).unlink(missing_ok=True)
    return {"stopped": True}


def cmd_reap(request: dict[str, Any]) -> dict[str, Any]:
    """Stop releases whose starter died before their pid file was written (by the token)."""
    import contextlib

    if not RUN.is_dir():
        return {"reaped": 0}
    intents = {p.read_text().strip(): p for p in RUN.glob(".*.spawning")}
    groups = set()
    if intents:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                environ = (entry / "environ").read_bytes().split(b"\0")
                for item in environ:
                    name, _, value = item.partition(b"=")
                    if name == TOKEN_VARIABLE.encode() and value.decode() in intents:
                        groups.add(os.getpgid(int(entry.name)))
    for group in groups:
        kill_group(group, signal.SIGKILL)
    for path in intents.values():
        path.unlink(missing_ok=True)
    return {"reaped": len(groups)}


def memory_available_mb() -> float:
    import contextlib

    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cmd_info(request: dict[str, Any]) -> dict[str, Any]:
    import shutil

    stats = os.statvfs(str(BASE))
    records = running_records()
    return {
        "agent_version": AGENT_VERSION,
        "sha256": sha256_of(Path(__file__)),
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "git": shutil.which("git") is not None,
        "memory_available_mb": memory_available_mb(),
        "disk_free_mb": round(stats.f_bavail * stats.f_frsize / 1_048_576, 1),
        "disk_path": str(BASE),
        "releases": {str(r["version"]): int(r["pid"]) for r in records},
        "resident_mb": {str(r["version"]): resident_mb(int(r["pid"])) for r in records},
    }


def safe_members(archive: tarfile.TarFile, into: Path) -> list[tarfile.TarInfo]:
    """The archive's members, refused if one would land outside ``into`` or is a device."""
    members = archive.getmembers()
    root = into.resolve()
    for member in members:
        target = (root / member.name).resolve()
        if not (target == root or root in target.parents):
            raise Refused(f"artifact member {member.name!r} leaves the release directory")
        if member.issym() or member.islnk():
            link = (target.parent / member.linkname).resolve()
            if member.islnk():
                link = (root / member.linkname).resolve()
            if not (link == root or root in link.parents):
                raise Refused(f"artifact link {member.name!r} points outside")
        elif not (member.isfile() or member.isdir()):
            raise Refused(f"artifact member {member.name!r} is not a file or directory")
    return members


def extract(archive: tarfile.TarFile, into: Path) -> None:
    """Unpack ``archive`` into ``into``, every member checked first (``safe_members``); with
    the standard library's "data" filter too where it has one (3.8.17+, 3.12+)."""
    import tarfile

    members = safe_members(archive, into)
    if hasattr(tarfile, "data_filter"):
        archive.extractall(str(into), members=members, filter="data")
    else:
        archive.extractall(str(into), members=members)


def run_quiet(argv: list[str], what: str, cwd: Path | None = None) -> None:
    import subprocess

    done = subprocess.run(
        argv,
        cwd=None if cwd is None else str(cwd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if done.returncode != 0:
        lines = done.stdout.decode(errors="replace").strip().splitlines()
        raise Refused(f"{what} failed: {lines[-1][:300] if lines else done.returncode}")


def cmd_install(request: dict[str, Any]) -> dict[str, Any]:
    """Put a version's code in ``releases/<version>/``: from the uploaded artifact (checked
    against its SHA-256) or from a git commit. ``need_upload`` when the artifact is not here."""
    import shutil
    import tarfile

    version = check_version(request["version"])
    release_dir = RELEASES / version
    wanted = str(request.get("sha256") or request.get("commit") or "")
    if installed(version) == wanted:
        return {"installed": False}
    private_dir(RELEASES)
    running = read_record(pid_file(version))
    if running is not None and runs(running):
        raise Refused(f"release {version} is running with other code; stop it first")
    staging = RELEASES / (f".{version}.{os.getpid()}")
    shutil.rmtree(str(staging), ignore_errors=True)
    private_dir(staging)
    try:
        if request.get("git"):
            install_git(str(request["git"]), str(request["commit"]), staging)
        else:
            name = str(request["file"])
            if "/" in name or name.startswith("."):
                raise Refused(f"invalid artifact name {name!r}")
            artifact = ARTIFACTS / name
            if not artifact.exists():
                return {"need_upload": True}
            actual = sha256_of(artifact)
            if actual != wanted:
                artifact.unlink()
                raise Refused(
                    f"artifact checksum mismatch: expected sha256 {wanted[:16]}, found "
                    f"{actual[:16]} (the file was removed; the next deploy uploads it again)"
                )
            if name.endswith(".whl"):
                # pip reads the wheel's name: a copy under its own name, dropped once installed.
                wheel_name = Path(str(request["name"])).name
                wheel = staging / wheel_name
                shutil.copyfile(str(artifact), str(wheel))
                install_wheel(wheel, staging / "venv")
                wheel.unlink()
            else:
                with tarfile.open(str(artifact)) as archive:
                    extract(archive, staging)
        write_private(staging / ".safeship-installed", wanted + "\n")
        shutil.rmtree(str(release_dir), ignore_errors=True)
        os.replace(str(staging), str(release_dir))
    except BaseException:
        shutil.rmtree(str(staging), ignore_errors=True)
        raise
    return {"installed": True}


def install_wheel(wheel: Path, venv: Path) -> None:
    """A virtualenv at ``venv`` with ``wheel`` installed (no index, no dependencies). The
    host's own pip installs into a venv made without one when it can (``--python``, pip 22.3+:
    a second or so); otherwise the venv gets its own pip first (ensurepip: a few seconds)."""
    import subprocess

    install = ["install", "-q", "--no-index", "--no-deps", str(wheel)]
    run_quiet([sys.executable, "-m", "venv", "--without-pip", str(venv)], "venv")
    python = str(venv / "bin" / "python")
    host_pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    probe = subprocess.run(
        [*host_pip, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if probe.returncode == 0:
        run_quiet([*host_pip, *install], "pip install")
        return
    run_quiet([sys.executable, "-m", "venv", str(venv)], "venv")
    run_quiet([python, "-m", "pip", "--disable-pip-version-check", *install], "pip install")


def install_git(url: str, commit: str, into: Path) -> None:
    """Fetch ``url``'s branches into a cache repository here and put ``commit``'s tree in
    ``into``. The commit's id is its checksum: it must name a commit that was fetched."""
    import io
    import subprocess
    import tarfile

    if not commit or not all(c in "0123456789abcdef" for c in commit.lower()):
        raise Refused(f"invalid commit {commit!r}")
    cache = BASE / "repository.git"
    if not cache.is_dir():
        run_quiet(["git", "init", "--quiet", "--bare", str(cache)], "git init")
    git = ["git", "--git-dir", str(cache)]
    run_quiet([*git, "fetch", "--quiet", url, "+refs/heads/*:refs/heads/*"], "git fetch")
    found = subprocess.run(
        [*git, "rev-parse", "--verify", "--quiet", commit + "^{commit}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    if found.returncode != 0 or not found.stdout.decode().startswith(commit.lower()):
        raise Refused(f"git commit {commit} not found in {url}")
    tree = subprocess.run(
        [*git, "archive", "--format=tar", commit],
        capture_output=True,
    )
    if tree.returncode != 0:
        raise Refused(f"git archive failed: {tree.stderr.decode(errors='replace').strip()[:300]}")
    with tarfile.open(fileobj=io.BytesIO(tree.stdout)) as archive:
        extract(archive, into)


COMMANDS = {
    "alive": cmd_alive,
    "info": cmd_info,
    "install": cmd_install,
    "list": cmd_list,
    "reap": cmd_reap,
    "start": cmd_start,
    "stop": cmd_stop,
}


def handle(command: str, text: str) -> dict[str, Any]:
    """One request's answer (never raises for a bad request or a failure: it says so)."""
    try:
        request = json.loads(text or "{}")
        if not isinstance(request, dict):
            raise Refused("the request is not a JSON object")
        answer = COMMANDS[command](request)
        answer["ok"] = True
    except Refused as exc:
        answer = {"ok": False, "error": str(exc)}
    except (KeyError, TypeError, ValueError) as exc:
        answer = {"ok": False, "error": f"bad request: {type(exc).__name__}: {exc}"}
    except OSError as exc:
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return answer


def serve() -> None:
    """Answer requests until stdin ends: one JSON line ``{"command": ..., "request": {...}}``
    in, one JSON line out. The target keeps one such session per host for its quick queries,
    so they cost no Python start on the host."""
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        try:
            message = json.loads(line)
            command, request = str(message["command"]), json.dumps(message.get("request", {}))
        except (KeyError, TypeError, ValueError):
            command, request = "", ""
        if command not in COMMANDS:
            answer: dict[str, Any] = {"ok": False, "error": f"unknown command {command!r}"}
        else:
            answer = handle(command, request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def main(argv: list[str]) -> int:
    os.umask(0o077)
    if len(argv) == 2 and argv[1] == "serve":
        serve()
        return 0
    if len(argv) != 2 or argv[1] not in COMMANDS:
        usage = "usage: agent.py serve|" + "|".join(sorted(COMMANDS))
        print(json.dumps({"ok": False, "error": usage}))
        return 2
    print(json.dumps(handle(argv[1], sys.stdin.read())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
