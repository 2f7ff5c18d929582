"""Where an experiment lives: a local folder, or a URI (s3://, gs://, file://) every node reaches.

Tune writes trials straight to the storage. The summary (results.csv, report) is built in a
local mirror of the experiment folder and uploaded back, so the same code serves a laptop
folder and a cluster's S3 bucket.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from lvae.cli import InputError, check_output_dir

#: ``scheme:`` at the start of a storage string (two letters at least: ``C:`` is a drive)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


class StorageError(InputError):
    """A storage URI or folder that cannot hold an experiment; the message names it."""


#: what the errors of a full or read-only storage say (OSError text and pyarrow's
#: "[errno 28] No space left on device"); errno 122 is EDQUOT, a full quota
STORAGE_FULL = re.compile(r"\[errno (28|30|122)\]|no space left on device|"
                          r"read-only file system|disk quota exceeded", re.IGNORECASE)


def is_storage_full(text: str | None) -> bool:
    """Whether an error's text says the storage is full or read-only (sweeps/fullstorage.py)."""
    return bool(text and STORAGE_FULL.search(text))


def is_uri(storage: str) -> bool:
    return "://" in storage


def check_storage(storage: str) -> None:
    """Accept what ``pyarrow.fs.FileSystem.from_uri`` opens (with a bucket/host) and
    local folders; refuse the rest naming the URI, before Ray starts or anything is written."""
    if not storage or not storage.strip():
        raise StorageError("--storage is empty; expected a folder or a URI such as "
                           "s3://bucket/path")
    if not is_uri(storage):
        if _SCHEME.match(storage):
            raise StorageError(
                f"--storage {storage!r} looks like a URI but lacks '//' after the scheme "
                "(expected e.g. s3://bucket/path), or is a folder name with a colon"
            )
        try:
            check_output_dir(storage, "--storage")
        except InputError as exc:
            raise StorageError(str(exc)) from None
        return
    import pyarrow.fs

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(storage)
    except (ValueError, OSError, TypeError) as exc:  # ArrowInvalid is a ValueError
        detail = " ".join(str(exc).split())
        raise StorageError(f"--storage {storage!r}: pyarrow cannot open it ({detail})") from None
    if not isinstance(fs, pyarrow.fs.LocalFileSystem) and not path.strip("/"):
        scheme = storage.split("://", 1)[0]
        raise StorageError(f"--storage {storage!r} names no bucket; expected "
                           f"{scheme}://BUCKET[/path]")


@dataclass(frozen=True)
class ExperimentStorage:
    storage: str  # absolute local path or URI
    name: str
    #: local folder holding (a mirror of) the experiment
    local_dir: Path

    @classmethod
    def create(cls, storage: str, name: str, mirror_root: str | os.PathLike =
               "results") -> ExperimentStorage:
        if is_uri(storage):
            storage = storage.rstrip("/")
            local = Path(mirror_root).expanduser().resolve() / name
        else:
            storage = str(Path(storage).expanduser().resolve())
            local = Path(storage) / name
        return cls(storage=storage, name=name, local_dir=local)

    @property
    def remote(self) -> bool:
        return is_uri(self.storage)

    def read_bytes(self, relative: str) -> bytes:
        """One file of the experiment, read in place (no local mirror is written);
        FileNotFoundError when it is absent."""
        if not self.remote:
            return (self.local_dir / relative).read_bytes()
        import pyarrow.fs

        fs, path = self._fs()
        target = f"{path}/{relative}"
        if fs.get_file_info(target).type != pyarrow.fs.FileType.File:
            raise FileNotFoundError(f"{self.uri}/{relative} is missing")
        with fs.open_input_stream(target) as f:
            return f.read()

    def list_names(self) -> list[str]:
        """Names of the entries at the top of the experiment folder ([] if none)."""
        if not self.remote:
            if not self.local_dir.is_dir():
                return []
            return sorted(p.name for p in self.local_dir.iterdir())
        import pyarrow.fs

        fs, path = self._fs()
        infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
        return sorted(i.base_name for i in infos)

    @property
    def uri(self) -> str:
        return f"{self.storage}/{self.name}" if self.remote else str(self.local_dir)

    def _fs(self):
        import pyarrow.fs

        return pyarrow.fs.FileSystem.from_uri(self.uri)

    def exists(self) -> bool:
        if not self.remote:
            return self.local_dir.exists()
        import pyarrow.fs

        fs, path = self._fs()
        return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound

    def download(self) -> None:
        """Mirror the remote experiment locally (no-op for local storage)."""
        if not self.remote:
            return
        import pyarrow.fs

        fs, path = self._fs()
        self.local_dir.mkdir(parents=True, exist_ok=True)
        pyarrow.fs.copy_files(path, str(self.local_dir), source_filesystem=fs,
                              destination_filesystem=pyarrow.fs.LocalFileSystem())

    def upload(self, relative: str) -> None:
        """Copy a file or folder of the local mirror back to the remote experiment."""
        if not self.remote:
            return
        import pyarrow.fs

        fs, path = self._fs()
        src = self.local_dir / relative
        dest = f"{path}/{relative}"
        if src.is_dir():
            fs.create_dir(dest, recursive=True)
        pyarrow.fs.copy_files(str(src), dest, source_filesystem=pyarrow.fs.LocalFileSystem(),
                              destination_filesystem=fs)
