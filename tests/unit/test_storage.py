import hashlib
import os
import resource
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from pipeline.storage import ContentTooLarge, blob_name, local_copy, save_spooled, spool


def chunks(data: bytes, size: int = 1000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_spool_hashes_counts_and_keeps_the_head(tmp_path):
    data = os.urandom(10_000)
    with spool(chunks(data), max_bytes=20_000, directory=tmp_path) as spooled:
        assert spooled.sha256 == hashlib.sha256(data).hexdigest()
        assert spooled.size == len(data)
        assert spooled.head == data[:512]
        assert spooled.path.read_bytes() == data
    assert list(tmp_path.iterdir()) == [], "the temporary file is removed"


def test_spool_refuses_content_over_the_cap_and_leaves_nothing_behind(tmp_path):
    with (
        pytest.raises(ContentTooLarge, match="limit"),
        spool(chunks(b"x" * 5_000), max_bytes=4_999, directory=tmp_path),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


def test_spool_removes_its_file_when_the_source_fails_midway(tmp_path):
    def broken():
        yield b"first part"
        raise ConnectionError("source went away")

    with pytest.raises(ConnectionError), spool(broken(), max_bytes=100, directory=tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


def test_saved_object_is_named_by_its_hash_and_saving_twice_keeps_one_object(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "media", allow_overwrite=True)
    data = b"%PDF-1.4 same bytes"
    names = []
    for _ in range(2):
        with spool([data], max_bytes=100, directory=tmp_path / "tmp") as spooled:
            names.append(save_spooled(storage, spooled))
    digest = hashlib.sha256(data).hexdigest()
    assert names == [blob_name(digest)] * 2
    stored = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [digest]
    assert stored[0].read_bytes() == data


def test_save_refuses_a_storage_that_renames_instead_of_overwriting(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "media")  # Django's default: never overwrite
    with spool([b"one"], max_bytes=100) as spooled:
        save_spooled(storage, spooled)
    with spool([b"one"], max_bytes=100) as spooled, pytest.raises(RuntimeError, match="overwrite"):
        save_spooled(storage, spooled)
    assert len([p for p in (tmp_path / "media").rglob("*") if p.is_file()]) == 1


def test_local_copy_is_the_file_itself_for_a_local_storage(tmp_path):
    storage = FileSystemStorage(location=tmp_path, allow_overwrite=True)
    storage.save("a/b.bin", ContentFile(b"abc"))
    with local_copy(storage, "a/b.bin") as path:
        assert path == tmp_path / "a" / "b.bin"
        assert path.read_bytes() == b"abc"


def test_a_spool_on_the_storage_filesystem_is_moved_into_place_not_copied(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "media", allow_overwrite=True, file_permissions_mode=0o640)
    data = os.urandom(200_000)
    with spool([data], max_bytes=300_000, directory=tmp_path / "tmp") as spooled:
        inode = spooled.path.stat().st_ino
        name = save_spooled(storage, spooled)
    stored = tmp_path / "media" / name
    assert stored.stat().st_ino == inode, "the spooled file itself became the object"
    assert stored.read_bytes() == data
    assert stored.stat().st_mode & 0o777 == 0o640
    assert list((tmp_path / "tmp").iterdir()) == []


def _another_filesystem(path) -> str | None:
    """A writable folder on another filesystem than `path` (a tmpfs, usually), or None."""
    for candidate in ("/dev/shm", f"/run/user/{os.getuid()}", "/tmp", "/var/tmp"):
        if (
            os.path.isdir(candidate)
            and os.access(candidate, os.W_OK)
            and os.stat(candidate).st_dev != path.stat().st_dev
        ):
            return candidate
    return None


@pytest.fixture
def spool_elsewhere(tmp_path):
    """A spool folder on another filesystem than tmp_path, where the media go (the k8s layout)."""
    other = _another_filesystem(tmp_path)
    if other is None:
        pytest.skip("no second filesystem to spool on")
    folder = tempfile.mkdtemp(prefix="spool-test-", dir=other)
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


def test_a_spool_on_another_filesystem_is_copied_beside_the_object_then_renamed_into_place(tmp_path, spool_elsewhere):
    storage = FileSystemStorage(location=tmp_path / "media", allow_overwrite=True, file_permissions_mode=0o640)
    data = os.urandom(3 * 1024 * 1024 + 17)
    name = blob_name(hashlib.sha256(data).hexdigest())
    storage.save(name, ContentFile(b"a partial copy of it"))  # as a crash of an in-place copy would have left it
    stored = tmp_path / "media" / name
    with stored.open("rb") as reader_of_the_old_object:
        old_inode = stored.stat().st_ino
        with spool(chunks(data, 64 * 1024), max_bytes=len(data), directory=spool_elsewhere) as spooled:
            assert spooled.path.stat().st_dev != stored.stat().st_dev
            assert save_spooled(storage, spooled) == name
        assert reader_of_the_old_object.read() == b"a partial copy of it", "the old file was replaced, not rewritten"
    assert stored.stat().st_ino != old_inode
    assert stored.read_bytes() == data
    assert stored.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in stored.parent.iterdir()) == [stored.name], "no temporary file is left beside it"
    assert list(spool_elsewhere.iterdir()) == [], "the spool is removed"


def test_a_copy_that_fails_midway_leaves_neither_the_object_nor_a_temporary_file(tmp_path, spool_elsewhere):
    storage = FileSystemStorage(location=tmp_path / "media", allow_overwrite=True)
    data = os.urandom(3 * 1024 * 1024)
    with spool([data], max_bytes=len(data), directory=spool_elsewhere) as spooled:
        with _files_cut_at(1024 * 1024), pytest.raises(OSError, match="too large"):
            save_spooled(storage, spooled)
        folder = (tmp_path / "media" / blob_name(spooled.sha256)).parent
        assert list(folder.iterdir()) == []
    assert list(spool_elsewhere.iterdir()) == []


@contextmanager
def _files_cut_at(size: int):
    """Writes past `size` bytes of a file fail (EFBIG), as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
