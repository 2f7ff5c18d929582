"""Where an experiment lives: a local folder, or a URI (s3://, gs://, file://) every node reaches.

Tune writes trials straight to the storage. The summary (results.csv, report) is built in a
local mirror of the experiment folder and uploaded back, so the same code serves a laptop
folder and a cluster's S3 bucket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def is_uri(storage: str) -> bool:
    return "://" in storage


@dataclass(frozen=True)
class ExperimentStorage:
    storage: str  # absolute local path or URI
    name: str
    #: local folder holding (a mirror of) the experiment
    local_dir: Path

    @classmethod
    def create(cls, storage: str, name: str, mirror_root: str | os.PathLike = "results") -> ExperimentStorage:
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
