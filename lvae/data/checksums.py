"""Checks on release files before any work starts: presence, md5, and npz member layout.

An ``.npz`` is a zip of ``.npy`` members. Reading a member's npy header (shape, dtype,
byte offset) without reading its data lets the loaders reject a wrong file in
milliseconds, stream a compressed member in chunks, and memory-map a stored
(uncompressed) member in place: ``np.load(mmap_mode="r")`` cannot do that for an npz.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lvae.data.errors import DatasetError

#: Set to 1 to check release md5 sums when a dataset is opened (slow on multi-GB files).
VERIFY_MD5_ENV = "LVAE_VERIFY_MD5"

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # zip local file header, 30 bytes
_LOCAL_HEADER_SIGNATURE = 0x04034B50


def require_file(path: Path, *, dataset: str, layout: str, source: str, hint: str = "") -> Path:
    """``path`` if it exists, else a DatasetError that says what to put where."""
    if not path.exists():
        raise DatasetError(
            f"{dataset}: file not found: {path}\n"
            f"  expected layout: {layout}\n"
            f"  the dataset comes from: {source}" + (f"\n  {hint}" if hint else "")
        )
    return path


# ---------------------------------------------------------------------------- md5
def md5_requested(verify: bool | None) -> bool:
    """An explicit argument wins; otherwise ``$LVAE_VERIFY_MD5=1`` turns checks on."""
    if verify is not None:
        return verify
    return os.environ.get(VERIFY_MD5_ENV, "") == "1"


def md5_file(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str, *, source: str) -> None:
    actual = md5_file(path)
    if actual != expected:
        raise DatasetError(
            f"{path}: md5 is {actual}, expected {expected} (corrupt or different file; "
            f"download it again from {source})"
        )


# ----------------------------------------------------------------------- npz files
@dataclass(frozen=True)
class NpyMember:
    """Where an array lives inside an npz, read from its headers only."""

    path: Path
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    compressed: bool
    #: length of the npy header at the start of the member
    header_bytes: int
    #: absolute byte offset of the array data in the npz file (meaningful when stored)
    data_offset: int

    def require(self, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
        """Raise unless the member holds a C-order array of exactly this shape and dtype."""
        want = np.dtype(dtype)
        if self.shape != tuple(shape) or self.dtype != want or self.fortran_order:
            order = " (Fortran order)" if self.fortran_order else ""
            raise DatasetError(
                f"{self.path}: key {self.key!r} must be {want} with shape {tuple(shape)}, "
                f"got {self.dtype} with shape {self.shape}{order}"
            )


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetError(
            f"{path}: not a readable .npz (zip) file ({exc}); it may be truncated or not an npz"
        ) from exc


def inspect_npz_member(path: Path, key: str) -> NpyMember:
    """Shape, dtype and data offset of ``key`` in the npz at ``path``; reads headers only."""
    with _open_zip(path) as zf:
        names = zf.namelist()
        member = f"{key}.npy"
        if member not in names:
            found = sorted(n[: -len(".npy")] for n in names if n.endswith(".npy"))
            raise DatasetError(f"{path}: missing key {key!r}; the file holds keys {found}")
        info = zf.getinfo(member)
        try:
            with zf.open(info) as fp:
                version = np.lib.format.read_magic(fp)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
                else:
                    raise ValueError(f"unsupported npy format version {version}")
                header_len = fp.tell()
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                fields = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, struct.error) as exc:
            raise DatasetError(f"{path}: key {key!r} has an unreadable npy header ({exc})") from exc
    if fields[0] != _LOCAL_HEADER_SIGNATURE:
        raise DatasetError(f"{path}: key {key!r}: bad zip local header (corrupt file)")
    name_len, extra_len = fields[9], fields[10]
    data_offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len + header_len
    shape = tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != header_len + nbytes:
        raise DatasetError(
            f"{path}: key {key!r} declares {dtype} {shape} ({nbytes} bytes) but the member holds "
            f"{info.file_size - header_len} data bytes (corrupt file)"
        )
    return NpyMember(
        path=path,
        key=key,
        shape=shape,
        dtype=dtype,
        fortran_order=bool(fortran),
        compressed=info.compress_type != zipfile.ZIP_STORED,
        header_bytes=header_len,
        data_offset=data_offset,
    )


def memmap_npz_member(member: NpyMember) -> np.memmap:
    """A read-only view of a stored (uncompressed) member, in place inside the zip."""
    if member.compressed:
        raise DatasetError(
            f"{member.path}: key {member.key!r} is compressed inside the npz, so it cannot be "
            "memory-mapped; extract it once to an .npy next to the npz (e.g. "
            f"np.save('{member.path.with_suffix('.npy')}', "
            f"np.load('{member.path}')['{member.key}']), needs the array's size in RAM) or re-save "
            "the npz with np.savez (not savez_compressed)"
        )
    nbytes = int(np.prod(member.shape, dtype=np.int64)) * member.dtype.itemsize
    size = member.path.stat().st_size
    if size < member.data_offset + nbytes:
        raise DatasetError(
            f"{member.path}: key {member.key!r} needs {nbytes} bytes from offset "
            f"{member.data_offset}, but the file has {size} bytes (truncated)"
        )
    return np.memmap(
        member.path, dtype=member.dtype, mode="r", offset=member.data_offset, shape=member.shape
    )


def iter_npz_member_rows(member: NpyMember, rows_per_chunk: int) -> Iterator[np.ndarray]:
    """Stream a member (compressed or not) as C-order chunks of at most ``rows_per_chunk`` rows.

    The zip CRC is checked when the stream ends, so a corrupt member raises here.
    """
    row_shape = member.shape[1:]
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * member.dtype.itemsize
    n_rows = member.shape[0]
    try:
        with _open_zip(member.path) as zf, zf.open(f"{member.key}.npy") as fp:
            fp.seek(member.header_bytes)
            done = 0
            while done < n_rows:
                k = min(rows_per_chunk, n_rows - done)
                buf = fp.read(k * row_bytes)
                if len(buf) != k * row_bytes:
                    raise EOFError(
                        f"data ends after {done + len(buf) // row_bytes} of {n_rows} rows"
                    )
                yield np.frombuffer(buf, dtype=member.dtype).reshape((k, *row_shape))
                done += k
            if fp.read(1):
                raise ValueError("extra bytes after the declared array")
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise DatasetError(
            f"{member.path}: key {member.key!r} is corrupt or truncated ({exc})"
        ) from exc
