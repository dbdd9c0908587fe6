"""The key-storage seam: LocalKeyStore's files, modes and create-only contract."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from broker.errors import InputError, UnavailableError
from broker.keys import LocalKeyStore, get_or_create, read_or_create_secret_file
from broker.typing import Region

REGION = Region("eu-central-1")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class TestLocalKeyStore:
    """Secrets as private files under <state>/regions/<region>/ca/."""

    async def test_absent_secret_is_none(self, tmp_path):
        """A name never written reads as None and creates nothing."""
        store = LocalKeyStore(tmp_path)
        assert await store.get(REGION, "ca") is None
        assert not (tmp_path / "regions").exists()

    async def test_put_writes_private_file_in_private_dir(self, tmp_path):
        """The file is mode 0600 in a 0700 directory at the documented path."""
        store = LocalKeyStore(tmp_path)
        assert await store.put(REGION, "ca", b"secret") == b"secret"
        path = tmp_path / "regions" / "eu-central-1" / "ca" / "ca"
        assert path.read_bytes() == b"secret"
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700

    async def test_put_never_overwrites(self, tmp_path):
        """A second put returns the first secret and leaves the file alone."""
        store = LocalKeyStore(tmp_path)
        await store.put(REGION, "ca", b"first")
        assert await store.put(REGION, "ca", b"second") == b"first"
        assert await LocalKeyStore(tmp_path).get(REGION, "ca") == b"first"

    async def test_regions_are_separate(self, tmp_path):
        """The same name in two regions is two secrets."""
        store = LocalKeyStore(tmp_path)
        await store.put(REGION, "ca", b"de")
        await store.put(Region("us-east-1"), "ca", b"us")
        assert await store.get(REGION, "ca") == b"de"
        assert await store.get(Region("us-east-1"), "ca") == b"us"

    async def test_concurrent_creation_has_one_winner(self, tmp_path):
        """Many stores racing in threads all end up with the same secret."""
        stores = [LocalKeyStore(tmp_path) for _ in range(16)]
        results = await asyncio.gather(
            *(s.put(REGION, "ca", f"candidate-{i}".encode()) for i, s in enumerate(stores))
        )
        assert len(set(results)) == 1
        ca_dir = tmp_path / "regions" / "eu-central-1" / "ca"
        assert [p.name for p in ca_dir.iterdir()] == ["ca"]

    async def test_get_or_create_makes_once(self, tmp_path):
        """get_or_create calls the factory only while the secret is absent."""
        store = LocalKeyStore(tmp_path)
        calls: list[int] = []

        def make() -> bytes:
            calls.append(1)
            return b"made"

        assert await get_or_create(store, REGION, "ca", make) == b"made"
        assert await get_or_create(store, REGION, "ca", make) == b"made"
        assert len(calls) == 1

    async def test_group_readable_file_is_refused(self, tmp_path):
        """A key file others can read is treated as compromised: fail closed."""
        store = LocalKeyStore(tmp_path)
        await store.put(REGION, "ca", b"secret")
        os.chmod(store.path(REGION, "ca"), 0o640)
        with pytest.raises(UnavailableError) as caught:
            await store.get(REGION, "ca")
        assert caught.value.code == "key_insecure"

    async def test_symlinked_key_is_refused(self, tmp_path):
        """A symlink in place of the key file is not followed."""
        store = LocalKeyStore(tmp_path)
        other = tmp_path / "elsewhere"
        other.write_bytes(b"planted")
        os.chmod(other, 0o600)
        path = store.path(REGION, "ca")
        path.parent.mkdir(parents=True)
        path.symlink_to(other)
        with pytest.raises(UnavailableError):
            await store.get(REGION, "ca")

    @pytest.mark.parametrize("name", ["", "../x", "a/b", "UPPER", ".hidden", "x" * 65])
    async def test_unsafe_names_are_refused(self, tmp_path, name):
        """Names that could escape or hide in the directory are InputErrors."""
        with pytest.raises(InputError) as caught:
            await LocalKeyStore(tmp_path).put(REGION, name, b"x")
        assert caught.value.field == "name"

    async def test_empty_secret_is_refused(self, tmp_path):
        """An empty secret is never stored."""
        with pytest.raises(InputError) as caught:
            await LocalKeyStore(tmp_path).put(REGION, "ca", b"")
        assert caught.value.field == "secret"


class TestReadOrCreateSecretFile:
    """The path-based helper behind LocalKeyStore, also used for the JWT key."""

    def test_creates_then_reuses(self, tmp_path):
        """The first call creates the file; later calls return it unchanged."""
        path = tmp_path / "auth" / "key.pem"
        first = read_or_create_secret_file(path, lambda: b"one")
        second = read_or_create_secret_file(path, lambda: b"two")
        assert (first, second) == (b"one", b"one")
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
