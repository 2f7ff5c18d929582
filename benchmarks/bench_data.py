"""Data-path benchmark: render the whole procedural dSprites grid, reopen it, draw batches.

    .venv/bin/python benchmarks/bench_data.py [--root DIR] [--workers N] [--batches N]

Works in a temporary data root by default (deleted afterwards) so the user's cache is
never touched. Prints each number beside its target with PASS/FAIL and exits 1 if any
target is missed. Timings depend on machine load; the reopen is from a warm page cache.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from lvae.data.dsprites_procedural import (
    NAME,
    ProceduralDSprites,
    ProceduralGridCache,
    open_dsprites_procedural,
)

GIB = 1024**3
T = TypeVar("T")


def rss_bytes(field: str = "VmRSS") -> int:
    """Resident (VmRSS) or peak resident (VmHWM) memory of this process, from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} line")


def report(label: str, value: float, unit: str, target: float, results: list[bool]) -> None:
    ok = value <= target
    results.append(ok)
    print(f"{label:<44} {value:>10.3f} {unit:<4} target <= {target:g} {unit:<4} "
          f"{'PASS' if ok else 'FAIL'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None,
                        help="data root (default: a fresh temp dir, removed after)")
    parser.add_argument("--workers", type=int, default=None,
                        help="render threads (default: min(2, cores))")
    parser.add_argument("--batches", type=int, default=2000, help="batches of 64 to time")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def seconds(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def time_batches(data: ProceduralDSprites, batches: int, seed: int) -> np.ndarray:
    """Seconds per random batch of 64, after a warm-up (first-touch page faults, allocator)."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        data.random_batch(64, rng)
    times = np.empty(batches)
    for i in range(batches):
        t0 = time.perf_counter()
        batch = data.random_batch(64, rng)
        times[i] = time.perf_counter() - t0
    assert batch.shape == (64, 1, 64, 64) and batch.dtype == np.float32
    return times


def print_memory(results: list[bool]) -> None:
    report("(d) resident memory with batches drawn", rss_bytes() / GIB, "GiB", 1.0, results)
    print(f"    of which private (RssAnon) {rss_bytes('RssAnon') / GIB:.3f} GiB, page-cache "
          f"pages of the shared memory map (RssFile) {rss_bytes('RssFile') / GIB:.3f} GiB")
    print("    peak resident memory (VmHWM, includes generation): "
          f"{rss_bytes('VmHWM') / GIB:.3f} GiB")


def measure(cache: ProceduralGridCache, root: Path, args: argparse.Namespace) -> list[bool]:
    """Generate, reopen, draw batches; print each number beside its target."""
    results: list[bool] = []
    _, generate_s = seconds(cache.build)
    data, load_s = seconds(lambda: open_dsprites_procedural(root))
    times = time_batches(data, args.batches, args.seed)
    print(f"\nprocedural dSprites, {len(data)} images, cache {cache.path} "
          f"({cache.path.stat().st_size / 1e6:.0f} MB)")
    report("(a) generate whole grid", generate_s, "s", 180, results)
    report("(b) open cached grid (validate + mmap)", load_s, "s", 5, results)
    report("(c) random batch of 64, median", float(np.median(times)) * 1e3, "ms", 0.5, results)
    print(f"    batch p90 {np.percentile(times, 90) * 1e3:.3f} ms, max {times.max() * 1e3:.3f} ms "
          f"over {args.batches} batches")
    print_memory(results)
    in_ram, read_s = seconds(lambda: np.load(cache.path))
    print(f"    for reference: reading the whole cache into RAM (np.load, warm page cache) "
          f"took {read_s:.3f} s for {in_ram.nbytes / 1e6:.0f} MB")
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    root = args.root if args.root is not None else Path(tempfile.mkdtemp(prefix="lvae_bench_data_"))
    try:
        cache = ProceduralGridCache(root / NAME, workers=args.workers)
        if cache.path.exists():
            raise SystemExit(f"{cache.path} already exists; pass an empty --root so generation "
                             "is timed")
        results = measure(cache, root, args)
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
