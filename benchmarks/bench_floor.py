"""What one untrained encoder of the floor costs, per metric, at a preset's evaluation settings.

The metrics' floor scores five untrained encoders per (dataset, architecture, latent size)
with the trials' own settings (docs/metrics.md, "Floor and ceiling"). This prints the CPU and
wall seconds of one of them per metric family, as ``lvae.metrics.reference.floor_scores``
runs it, and the total against the report's 10-minute budget, which is why the sweep scores
the floor on its cluster (sweeps/floor.py; docs/cluster.md, "The floor and ceiling are
sweep work"):

    .venv/bin/python benchmarks/bench_floor.py --preset paper [--metrics mig,dci] [--jobs 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lvae.metrics.reference import DEFAULT_INIT_SEEDS, floor_scores  # noqa: E402
from sweeps.presets import PRESETS, get_preset  # noqa: E402

#: the report's budget for a whole report (docs/cluster.md)
BUDGET_S = 600.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="paper", choices=list(PRESETS))
    p.add_argument("--dataset", default="dsprites_procedural")
    p.add_argument("--architecture", default="conv")
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--metrics", default=None, help="comma-separated (default: the preset's)")
    p.add_argument("--jobs", type=int, default=1, help="probe processes (1: CPU = work)")
    p.add_argument("--data-root", default=None)
    args = p.parse_args(argv)
    preset = get_preset(args.preset)
    metrics = args.metrics.split(",") if args.metrics else list(preset.metrics)
    print(f"one untrained {args.architecture} encoder ({args.latent_dim} latents) on "
          f"{args.dataset}, {args.preset} settings: {preset.eval_num_train:,} / "
          f"{preset.eval_num_test:,} samples, {preset.eval_options or 'default options'}")
    total = 0.0
    for metric in metrics:
        settings = {"metrics": [metric], "num_train": preset.eval_num_train,
                    "num_test": preset.eval_num_test, "seed": 0, "representation": "mean",
                    **preset.eval_options}
        c0, w0 = time.process_time(), time.perf_counter()
        floor_scores(args.dataset, args.architecture, args.latent_dim, settings, [0],
                     data_root=args.data_root, n_jobs=args.jobs)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        total += cpu
        print(f"  {metric:<13s} {cpu:8.1f} s CPU {wall:8.1f} s wall", flush=True)
    seeds = len(DEFAULT_INIT_SEEDS)
    print(f"one encoder: {total:.0f} CPU-s; the floor of one group ({seeds} encoders): "
          f"{seeds * total:.0f} CPU-s = {seeds * total / BUDGET_S:.1f} x the report's "
          f"{BUDGET_S:.0f} s budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
