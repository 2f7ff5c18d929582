"""``dsprites_procedural``: the full dSprites grid rendered locally, cached bit-packed.

The real release cannot be downloaded on these machines, so this is the default
dSprites. The grid is rendered once (about 30 s on two cores) into
``<root>/dsprites_procedural/dsprites_procedural_v<renderer version>.npy`` (737,280 x 512
uint8, 377 MB) and memory-mapped afterwards, so processes on one machine (Ray trials)
share one copy in the page cache. A changed renderer changes the file name and so
regenerates; a corrupt cache is logged and regenerated (it is derived data).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format

from lvae.atomic import atomic_path
from lvae.data.dsprites_common import FACTOR_SIZES, NUM_IMAGES, PACKED_ROW_BYTES, PackedDSprites
from lvae.data.dsprites_render import (
    BLOCK_ROWS,
    NUM_BLOCKS,
    RENDERER_VERSION,
    render_block,
    render_factors,
)
from lvae.data.errors import DatasetError
from lvae.data.registry import register_dataset

try:  # POSIX only; elsewhere concurrent builders just race to the same atomic rename
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ProceduralDSprites",
    "ProceduralGridCache",
    "open_dsprites_procedural",
    "render_factors",
]

log = logging.getLogger(__name__)

NAME = "dsprites_procedural"
#: Rows re-rendered to check a found cache's content, not just its header.
_SPOT_CHECK_ROWS = 16

BlockRenderer = Callable[[int], np.ndarray]


class ProceduralGridCache:
    """The rendered grid on disk: find and validate it, or build it atomically.

    ``num_blocks`` (1024 images each) is injectable so tests can exercise building,
    reuse and corruption on a few blocks instead of all 720; ``render`` is the block
    renderer (``render_block(block) -> (1024, 512) uint8``).
    """

    def __init__(
        self,
        directory: Path,
        num_blocks: int = NUM_BLOCKS,
        render: BlockRenderer | None = None,
        workers: int | None = None,
    ):
        if not 1 <= num_blocks <= NUM_BLOCKS:
            raise ValueError(f"num_blocks must be in [1, {NUM_BLOCKS}], got {num_blocks}")
        self.directory = Path(directory)
        self.num_blocks = num_blocks
        self.render = render
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    @property
    def rows(self) -> int:
        return self.num_blocks * BLOCK_ROWS

    @property
    def path(self) -> Path:
        suffix = "" if self.num_blocks == NUM_BLOCKS else f"_{self.num_blocks}blocks"
        return self.directory / f"{NAME}_v{RENDERER_VERSION}{suffix}.npy"

    def _render(self, block: int) -> np.ndarray:
        return (self.render or render_block)(block)

    # ------------------------------------------------------------------ load
    def load(self) -> np.ndarray:
        """The packed grid (rows, 512) uint8, memory-mapped; built first if needed."""
        if self.path.exists():
            try:
                return self.validate()
            except DatasetError as err:
                log.warning("%s; regenerating it", err)
        with self._lock():
            # Another process may have built it while this one waited for the lock.
            if self.path.exists():
                try:
                    return self.validate()
                except DatasetError as err:
                    log.warning("%s; regenerating it", err)
            self.build()
        return self.validate()

    def validate(self) -> np.ndarray:
        """Open the cache read-only after checking header, size and a few rows."""
        path = self.path
        expected = (self.rows, PACKED_ROW_BYTES)
        try:
            with open(path, "rb") as f:
                version = npy_format.read_magic(f)
                read_header = (
                    npy_format.read_array_header_1_0
                    if version == (1, 0)
                    else npy_format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(f)
                offset = f.tell()
        except (OSError, ValueError) as err:
            raise DatasetError(f"cache {path} is corrupt: not a readable .npy file "
                               f"({err})") from err
        if dtype != np.uint8 or fortran:
            raise DatasetError(
                f"cache {path} is corrupt: field 'dtype' must be C-order uint8, got {dtype}"
                f"{' (Fortran order)' if fortran else ''}"
            )
        if tuple(shape) != expected:
            raise DatasetError(f"cache {path} is corrupt: field 'shape' must be {expected}, got "
                               f"{shape}")
        size = path.stat().st_size
        want = offset + self.rows * PACKED_ROW_BYTES
        if size != want:
            raise DatasetError(
                f"cache {path} is corrupt: file size must be {want} bytes for {expected}, got "
                f"{size} (truncated or padded)"
            )
        packed = np.asarray(np.load(path, mmap_mode="r"))
        rows = np.random.default_rng(RENDERER_VERSION).choice(self.rows, _SPOT_CHECK_ROWS,
                                                              replace=False)
        rows.sort()
        want_rows = self._render_rows(rows)
        bad = np.flatnonzero((packed[rows] != want_rows).any(axis=1))
        if bad.size:
            raise DatasetError(
                f"cache {path} is corrupt: image rows {rows[bad].tolist()} differ from the "
                f"renderer (version {RENDERER_VERSION})"
            )
        return packed

    def _render_rows(self, rows: np.ndarray) -> np.ndarray:
        """Packed rows as the renderer makes them (per image, so a check costs ms)."""
        if self.render is None:
            factors = np.stack(np.unravel_index(rows, FACTOR_SIZES), axis=1)
            return np.packbits(render_factors(factors).reshape(len(rows), -1), axis=1)
        return np.stack([self._render(int(r) // BLOCK_ROWS)[int(r) % BLOCK_ROWS] for r in rows])

    # ----------------------------------------------------------------- build
    def build(self) -> None:
        """Render every block into a temporary file beside the cache, then rename it in.

        Any exception (or Ctrl-C) removes the temporary file, so the cache path only
        ever holds a complete grid.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        log.info(
            "generating procedural dSprites (%d images, renderer v%d) into %s with %d thread(s); "
            "this runs once (about 9 CPU-seconds, docs/datasets.md)",
            self.rows,
            RENDERER_VERSION,
            self.path,
            self.workers,
        )
        start = time.perf_counter()
        with atomic_path(self.path, fsync=True) as tmp:
            out = npy_format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                         shape=(self.rows, PACKED_ROW_BYTES))
            self._fill(out)
            out.flush()
            del out
        log.info("generated %s in %.1f s", self.path, time.perf_counter() - start)

    def _fill(self, out: np.ndarray) -> None:
        def one(block: int) -> None:
            rows = self._render(block)
            if rows.shape != (BLOCK_ROWS, PACKED_ROW_BYTES) or rows.dtype != np.uint8:
                raise ValueError(
                    f"block renderer returned {rows.dtype} {rows.shape} for block {block}, "
                    f"expected uint8 {(BLOCK_ROWS, PACKED_ROW_BYTES)}"
                )
            out[block * BLOCK_ROWS : (block + 1) * BLOCK_ROWS] = rows

        step = max(1, self.num_blocks // 10)
        if self.workers == 1:
            for block in range(self.num_blocks):
                one(block)
                if (block + 1) % step == 0:
                    log.info("rendered %d/%d blocks", block + 1, self.num_blocks)
            return
        with ThreadPoolExecutor(self.workers) as pool:
            # map() yields in order and re-raises the first worker exception here.
            for done, _ in enumerate(pool.map(one, range(self.num_blocks)), start=1):
                if done % step == 0:
                    log.info("rendered %d/%d blocks", done, self.num_blocks)

    def _remove_stale(self) -> None:
        """Drop leftovers of killed builds and caches of other renderer versions.

        Only called while holding the folder lock, so no live build owns them.
        """
        for old in self.directory.glob(f".{NAME}_v*.tmp"):
            log.info("removing leftover temporary file %s", old)
            old.unlink(missing_ok=True)
        if self.num_blocks == NUM_BLOCKS:
            for old in self.directory.glob(f"{NAME}_v*.npy"):
                if old != self.path and "blocks" not in old.name:
                    log.info("removing cache of another renderer version %s", old)
                    old.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Exclusive lock on the folder so concurrent processes build the grid once."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self.directory / ".lock", "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another process that is building %s", self.path)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class ProceduralDSprites(PackedDSprites):
    """dSprites rendered by :mod:`lvae.data.dsprites_render` (same factors and order)."""

    def __init__(self, packed: np.ndarray):
        super().__init__(packed, NAME)


@register_dataset(NAME)
def open_dsprites_procedural(
    root: Path, *, render: BlockRenderer | None = None, workers: int | None = None
) -> ProceduralDSprites:
    """Open (rendering and caching on first use) the procedural dSprites under ``root``.

    ``render`` replaces the block renderer (tests use a cheap one to exercise the full
    file path without rendering 737,280 images).
    """
    cache = ProceduralGridCache(Path(root) / NAME, render=render, workers=workers)
    packed = cache.load()
    if len(packed) != NUM_IMAGES:  # guards a mis-set NUM_BLOCKS, not user input
        raise DatasetError(f"cache {cache.path}: expected {NUM_IMAGES} rows, got {len(packed)}")
    return ProceduralDSprites(packed)
