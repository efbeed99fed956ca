"""The validated config of the last run, for the commands that only read safeship.toml
(`status`, `history`, `config check`, the env commands).

Validating safeship.toml builds every settings model's validator first, which costs about
90 ms of the 0.3 s budget of a command a user runs dozens of times a day. What the last run
validated is kept in the user's cache directory (``$XDG_CACHE_HOME/safeship``, else
``~/.cache/safeship``; one file per config path, never in the project: these commands leave
the project's state untouched) and reused when nothing it depends on changed:
the file's bytes (SHA-256), the Python, pydantic and safeship versions, the installed plugins
(``plugins.installed_fingerprint``: a plugin type is valid only while it is installed), and
each module defining a model in it (size and modification time). Validation reads nothing
else, so the same inputs give the same verdict: reusing it is exact. Anything else — a change,
an unreadable or foreign cache — validates as usual. Deploys and every command that acts
validate every time.

The cache is a pickle, so it is read only when it is the user's own private file in a private
directory (0600 in 0700, both owned by this user): whoever could write it could already
rewrite the user's shell start-up files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from safeship._cache import cache_dir, read_private
from safeship._files import write_private
from safeship.config.loader import MAX_CONFIG_BYTES, LoadedConfig, load_config


def load_config_reused(path: Path) -> LoadedConfig:
    """``load_config(path)``, reusing the last validation of the same file when it holds."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return load_config(path)  # its one-line error
    resolved = path.resolve()
    try:
        cache = cache_dir() / f"config-{hashlib.sha256(str(resolved).encode()).hexdigest()[:32]}"
    except RuntimeError:  # no home directory to keep it in
        return load_config(path)
    key = _key(raw)
    config = _read(cache, key)
    if config is not None:
        return LoadedConfig(config, resolved)
    loaded = load_config(path)
    with contextlib.suppress(OSError, pickle.PicklingError, TypeError):
        _write(cache, key, loaded.config)
    return loaded


def _key(raw: bytes) -> str:
    import pydantic

    from safeship import __version__
    from safeship.plugins import installed_fingerprint

    # A plugin type is valid only while its plugin is installed: the installed plugins count.
    digest = hashlib.sha256(raw)
    plugins = installed_fingerprint(tuple(sys.path))
    for part in (sys.version, pydantic.VERSION, __version__, plugins):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def _read(cache: Path, key: str) -> Any:
    data = read_private(cache)
    if data is None:
        return None
    head, _, body = data.partition(b"\n")
    try:
        header = json.loads(head or b"null")
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("key") != key:
        return None
    sources = header.get("sources")
    if not isinstance(sources, dict) or any(
        _signature(source) != signature for source, signature in sources.items()
    ):
        return None
    try:
        return pickle.loads(body)
    except Exception:  # a torn or stale file: validate instead
        return None


def _write(cache: Path, key: str, config: BaseModel) -> None:
    sources = {}
    for name in sorted(_model_modules(config)):
        source = getattr(sys.modules.get(name), "__file__", None)
        if source is None:
            return  # a model defined without a file: nothing to check a reuse against
        sources[source] = _signature(source)
    header = json.dumps({"key": key, "sources": sources}).encode() + b"\n"
    write_private(cache, header + pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))


def _signature(source: str) -> list[int] | None:
    """A module source file's size and modification time (None when it is gone)."""
    try:
        info = os.stat(source)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _model_modules(value: object) -> set[str]:
    """The modules defining the models in ``value`` (a model, and the models in its fields)."""
    found: set[str] = set()
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseModel):
            found.add(type(item).__module__)
            pending.extend(item.__dict__.values())
            pending.extend((item.__pydantic_extra__ or {}).values())
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
    return found
