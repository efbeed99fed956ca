"""The artifact file store on both backends (a local directory, fsspec's memory://) and both
registries: a file put, listed, fetched back verified, kept to the newest n, deleted; a damaged
file refused; a private local store."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeship.artifacts.checksum import sha256_of
from safeship.artifacts.store import ArtifactError, ArtifactStore
from safeship.registry import Registry, RegistryError


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as opened:
        yield opened


class Ticking:
    """A clock one second further at each call, so "newest" is well defined."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def a_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, registry: Registry, tmp_path: Path) -> ArtifactStore:
    location = (
        str(tmp_path / "store")
        if request.param == "local"
        else f"memory://safeship-test-{uuid.uuid4().hex[:8]}/artifacts"
    )
    return ArtifactStore(registry, location, clock=Ticking())


def test_put_list_fetch_delete(store: ArtifactStore, tmp_path: Path) -> None:
    source = a_file(tmp_path, "db.dump", b"dump bytes " * 1000)

    stored = store.put_file("backup", "production", "db.dump", source)

    assert (stored.kind, stored.environment, stored.name) == ("backup", "production", "db.dump")
    assert (stored.size, stored.sha256) == (11_000, sha256_of(source))
    assert store.list() == store.list("backup", "production") == [stored]
    assert store.list("backup", "staging") == []
    fetched = tmp_path / "fetched.dump"
    assert store.fetch(stored.id[:8], fetched) == stored
    assert fetched.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(fetched.stat().st_mode) == 0o600

    store.delete(stored.id)
    assert store.list() == []
    assert not _exists(stored.url)
    with pytest.raises(RegistryError, match="no stored file"):
        store.fetch(stored.id, tmp_path / "again.dump")


def test_keep_newest(store: ArtifactStore, tmp_path: Path) -> None:
    source = a_file(tmp_path, "db.dump", b"x")
    ids = [store.put_file("backup", "production", "db.dump", source).id for _ in range(4)]
    other = store.put_file("backup", "staging", "db.dump", source)

    deleted = store.keep_newest("backup", "production", 2)

    assert [s.id for s in deleted] == [ids[1], ids[0]]
    assert [s.id for s in store.list("backup", "production")] == [ids[3], ids[2]]
    assert store.list("backup", "staging") == [other]
    for gone in deleted:
        with pytest.raises(RegistryError, match="no stored file"):
            store.fetch(gone.id, tmp_path / "gone")
        assert not _exists(gone.url)


def _exists(url: str) -> bool:
    if "://" not in url:
        return Path(url).exists()
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return bool(fs.exists(path))


def test_the_index_lives_in_a_postgresql_registry_too(postgres_url: str, tmp_path: Path) -> None:
    with Registry(postgres_url) as registry:
        store = ArtifactStore(registry, str(tmp_path / "store"), clock=Ticking())
        first = store.put_file("backup", "production", "a.dump", a_file(tmp_path, "a", b"a"))
        second = store.put_file("backup", "production", "b.dump", a_file(tmp_path, "b", b"b"))
        assert store.list("backup") == [second, first]
        assert store.fetch(first.id[:6], tmp_path / "out") == first
        assert store.keep_newest("backup", "production", 1) == [first]
        assert store.list() == [second]


def test_a_damaged_file_is_refused_and_leaves_nothing(registry: Registry, tmp_path: Path) -> None:
    store = ArtifactStore(registry, str(tmp_path / "store"))
    stored = store.put_file("backup", "production", "db.dump", a_file(tmp_path, "d", b"good"))
    Path(stored.url).write_bytes(b"evil")
    dest = tmp_path / "out.dump"

    with pytest.raises(ArtifactError, match=r"is damaged: sha256 [0-9a-f]{12} instead of"):
        store.fetch(stored.id, dest)

    assert not dest.exists()
    assert not list(tmp_path.glob(".out.dump*"))


def test_the_local_store_is_private(registry: Registry, tmp_path: Path) -> None:
    store = ArtifactStore(registry, str(tmp_path / "store"))
    stored = store.put_file("backup", "production", "db.dump", a_file(tmp_path, "d", b"x"))
    path = Path(stored.url)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not list(path.parent.glob(".*partial"))


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", ""])
def test_names_must_be_plain(registry: Registry, tmp_path: Path, name: str) -> None:
    store = ArtifactStore(registry, str(tmp_path / "store"))
    with pytest.raises(ArtifactError, match="plain file name"):
        store.put_file("backup", "production", name, a_file(tmp_path, "d", b"x"))


def test_a_store_url_with_a_password_is_refused() -> None:
    from pydantic import ValidationError

    from safeship.artifacts.settings import ArtifactsSettings

    with pytest.raises(ValidationError, match="must not hold a password"):
        ArtifactsSettings.model_validate({"store": "s3://key:secret@bucket/safeship"})
    for fine in ("", "backups", "s3://bucket/safeship", "memory://x/y"):
        assert ArtifactsSettings.model_validate({"store": fine}).store == fine


@pytest.mark.parametrize(
    ("store", "where"),
    [
        ("", "{root}/.safeship/artifacts"),
        ("kept/backups", "{root}/kept/backups"),
        ("/srv/artifacts", "/srv/artifacts"),
        ("s3://bucket/safeship", "s3://bucket/safeship"),
    ],
)
def test_where_the_config_puts_the_store(tmp_path: Path, store: str, where: str) -> None:
    from safeship.artifacts.store import store_location
    from safeship.config import load_config

    (tmp_path / "safeship.toml").write_text(
        '[environments.local]\nport = 8123\n[environments.local.target]\ncommand = ["true"]\n'
        f'[artifacts]\nstore = "{store}"\n'
    )
    loaded = load_config(tmp_path / "safeship.toml")
    assert store_location(loaded) == where.format(root=tmp_path)
