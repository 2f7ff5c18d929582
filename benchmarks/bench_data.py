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
from pathlib import Path

import numpy as np

from lvae.data.dsprites_procedural import NAME, ProceduralGridCache, open_dsprites_procedural

GIB = 1024**3


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
    print(f"{label:<44} {value:>10.3f} {unit:<4} target <= {target:g} {unit:<4} {'PASS' if ok else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="data root (default: a fresh temp dir, removed after)")
    parser.add_argument("--workers", type=int, default=None, help="render threads (default: min(2, cores))")
    parser.add_argument("--batches", type=int, default=2000, help="batches of 64 to time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    root = args.root if args.root is not None else Path(tempfile.mkdtemp(prefix="lvae_bench_data_"))
    results: list[bool] = []
    try:
        cache = ProceduralGridCache(root / NAME, workers=args.workers)
        if cache.path.exists():
            raise SystemExit(f"{cache.path} already exists; pass an empty --root so generation is timed")

        start = time.perf_counter()
        cache.build()
        generate_s = time.perf_counter() - start

        start = time.perf_counter()
        data = open_dsprites_procedural(root)
        load_s = time.perf_counter() - start

        rng = np.random.default_rng(args.seed)
        for _ in range(200):  # warm-up: page faults of first touches, allocator
            data.random_batch(64, rng)
        times = np.empty(args.batches)
        for i in range(args.batches):
            t0 = time.perf_counter()
            batch = data.random_batch(64, rng)
            times[i] = time.perf_counter() - t0
        assert batch.shape == (64, 1, 64, 64) and batch.dtype == np.float32

        print(f"\nprocedural dSprites, {len(data)} images, cache {cache.path} "
              f"({cache.path.stat().st_size / 1e6:.0f} MB)")
        report("(a) generate whole grid", generate_s, "s", 180, results)
        report("(b) open cached grid (validate + mmap)", load_s, "s", 5, results)
        report("(c) random batch of 64, median", float(np.median(times)) * 1e3, "ms", 0.5, results)
        print(f"    batch p90 {np.percentile(times, 90) * 1e3:.3f} ms, max {times.max() * 1e3:.3f} ms "
              f"over {args.batches} batches")
        report("(d) resident memory with batches drawn", rss_bytes() / GIB, "GiB", 1.0, results)
        print(f"    of which private (RssAnon) {rss_bytes('RssAnon') / GIB:.3f} GiB, "
              f"page-cache pages of the shared memory map (RssFile) {rss_bytes('RssFile') / GIB:.3f} GiB")
        print(f"    peak resident memory (VmHWM, includes generation): {rss_bytes('VmHWM') / GIB:.3f} GiB")
        start = time.perf_counter()
        in_ram = np.load(cache.path)
        print(f"    for reference: reading the whole cache into RAM (np.load, warm page cache) "
              f"took {time.perf_counter() - start:.3f} s for {in_ram.nbytes / 1e6:.0f} MB")
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
