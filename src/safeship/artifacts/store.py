"""The artifact file store: put a file, fetch it back verified, list, delete, keep the newest.

A file is written whole before the registry indexes it: under a temporary name first, renamed
when complete, so neither a crash nor a full disk leaves a half file under a real name, and a
row in ``stored_files`` always names a whole file. Deleting goes the other way (row first), so
a crash in between leaves at worst an unindexed file, never a row naming a missing one.

Where a file is comes from its row (``url``), not from today's settings: moving the store to
another place keeps the older files reachable.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from safeship._files import open_private_fd, private_dir
from safeship.artifacts.checksum import CHUNK, sha256_of
from safeship.redaction import redact
from safeship.registry.errors import first_line
from safeship.registry.gate_rows import StoredFile

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.registry import Registry

__all__ = ["ArtifactError", "ArtifactStore", "StoredFile", "store_location"]

DEFAULT_DIR = "artifacts"  # under the state directory (.safeship/)
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class ArtifactError(Exception):
    """A store operation failed; the message is one line (a URL in it has no credentials)."""


def store_location(loaded: LoadedConfig) -> str:
    """Where ``[artifacts] store`` puts files: a local directory (the default
    ``.safeship/artifacts``; a relative path is relative to safeship.toml) or an fsspec URL."""
    store = loaded.config.artifacts.store.strip()
    if not store:
        return str(loaded.state_dir / DEFAULT_DIR)
    if "://" in store:
        return store
    return str(loaded.base_dir / store)


class _Backend(Protocol):
    def put(self, source: Path, key: str) -> str:
        """Write ``source`` whole at ``key`` (temporary name first); its URL."""
        ...


def _is_url(location: str) -> bool:
    return "://" in location


class _LocalBackend:
    """A directory on this machine: 0700 directories, 0600 files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, source: Path, key: str) -> str:
        dest = self.root / key
        private_dir(dest.parent)
        partial = dest.with_name(f".{dest.name}.partial")
        fd = open_private_fd(partial, append=False)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                fd = -1
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, dest)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return str(dest)


class _FsspecBackend:
    """Any fsspec filesystem (memory://, s3:// with s3fs, gs:// with gcsfs, ...)."""

    def __init__(self, url: str) -> None:
        self.fs, self.root = _filesystem(url)

    def put(self, source: Path, key: str) -> str:
        path = f"{self.root.rstrip('/')}/{key}"
        partial = f"{path}.partial"
        try:
            self.fs.put_file(str(source), partial)
            self.fs.mv(partial, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(partial)
            raise
        return str(self.fs.unstrip_protocol(path))


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        scheme = url.partition("://")[0]
        raise ArtifactError(
            f"artifact store {scheme}:// is not available ({_line(exc)}); "
            "install its fsspec package (s3fs for s3://)"
        ) from None
    return fs, str(path)


def _line(exc: BaseException) -> str:
    return redact(first_line(exc))


def _safe_name(name: str) -> str:
    base = Path(name).name
    if not base or base.startswith(".") or base != name or len(base) > 200:
        raise ArtifactError(f"a stored file's name must be a plain file name, got {name!r}")
    return base


@dataclass
class ArtifactStore:
    """The store at ``location`` (a directory or an fsspec URL), indexed in ``registry``."""

    registry: Registry
    location: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def for_config(cls, loaded: LoadedConfig, registry: Registry) -> ArtifactStore:
        return cls(registry, store_location(loaded))

    def _backend(self) -> _Backend:
        if _is_url(self.location):
            return _FsspecBackend(self.location)
        return _LocalBackend(Path(self.location))

    def put_file(
        self,
        kind: str,
        environment: str,
        name: str,
        path: Path,
        deployment_id: str | None = None,
    ) -> StoredFile:
        """Copy the file at ``path`` into the store and index it."""
        if not _KIND.fullmatch(kind):
            raise ArtifactError(f"a stored file's kind must be a short lower-case word: {kind!r}")
        name = _safe_name(name)
        file_id = str(uuid.uuid4())
        created = self.clock()
        # Lower case (no "T"/"Z"): a key mixing cases reads as a random token to the redactor.
        key = f"{kind}/{environment}/{created:%Y%m%d-%H%M%S}-{file_id[:8]}-{name}"
        try:
            size = path.stat().st_size
            sha256 = sha256_of(path)
            url = self._backend().put(path, key)
        except ArtifactError:
            raise
        except Exception as exc:
            raise ArtifactError(f"could not store {name}: {_line(exc)}") from None
        stored = StoredFile(
            file_id, kind, environment, name, url, sha256, size, created, deployment_id
        )
        try:
            self.registry.add_stored_file(stored)
        except BaseException:
            _remove(url)  # not indexed: nothing would ever delete it
            raise
        return stored

    def fetch(self, file_id: str, dest: Path) -> StoredFile:
        """The stored file copied to ``dest`` (0600), its checksum verified: a damaged or
        missing file raises and leaves nothing at ``dest``."""
        stored = self.registry.stored_file(file_id)
        partial = dest.with_name(f".{dest.name}.partial")
        digest = hashlib.sha256()
        fd = open_private_fd(partial, append=False)
        try:
            with os.fdopen(fd, "wb") as out:
                fd = -1
                with _open(stored) as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            if digest.hexdigest() != stored.sha256:
                raise ArtifactError(
                    f"stored file {stored.id[:8]} ({stored.name}) is damaged: sha256 "
                    f"{digest.hexdigest()[:12]} instead of {stored.sha256[:12]}"
                )
            os.replace(partial, dest)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return stored

    def list(self, kind: str | None = None, environment: str | None = None) -> list[StoredFile]:
        """Stored files, newest first."""
        return self.registry.stored_files(kind, environment)

    def delete(self, file_id: str) -> StoredFile:
        """Remove a stored file: its index row first, then the file."""
        stored = self.registry.stored_file(file_id)
        self.registry.remove_stored_file(stored.id)
        _remove(stored.url)
        return stored

    def keep_newest(self, kind: str, environment: str, n: int) -> builtins.list[StoredFile]:
        """Delete all but the ``n`` newest files of this kind and environment; those deleted."""
        if n < 1:
            raise ArtifactError(f"keep at least one stored file, not {n}")
        older = self.registry.stored_files(kind, environment)[n:]
        for stored in older:
            self.registry.remove_stored_file(stored.id)
            _remove(stored.url)
        return older


@contextlib.contextmanager
def _open(stored: StoredFile) -> Iterator[Any]:
    try:
        if _is_url(stored.url):
            fs, path = _filesystem(stored.url)
            file = fs.open(path, "rb")
        else:
            file = Path(stored.url).open("rb")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise ArtifactError(
            f"stored file {stored.id[:8]} ({stored.name}) is missing from the store"
        ) from None
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(f"could not read stored file {stored.id[:8]}: {_line(exc)}") from None
    with file:
        yield file


def _remove(url: str) -> None:
    """Delete a stored file's data; one already gone is fine."""
    if _is_url(url):
        fs, path = _filesystem(url)
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            Path(url).unlink()
